"""Factories for the app's recurring small pieces: a vertical layout, a muted (secondary)
label, a two-column tree, an antialiased painter - so each widget module states only what
is particular to it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QLabel, QTreeWidget, QVBoxLayout, QWidget


def column(parent: QWidget | None, margins: tuple[int, int, int, int] = (0, 0, 0, 0),
           spacing: int | None = None) -> QVBoxLayout:
    """A vertical layout on ``parent`` (none: to nest) with these margins (left, top,
    right, bottom) and spacing (the style's when None)."""
    lay = QVBoxLayout(parent) if parent is not None else QVBoxLayout()
    lay.setContentsMargins(*margins)
    if spacing is not None:
        lay.setSpacing(spacing)
    return lay


def muted_label(text: str = "", *, wrap: bool = True, selectable: bool = False) -> QLabel:
    """A label in the palette's secondary text colour (follows light and dark themes)."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def two_column_tree(headers: tuple[str, str], accessible_name: str) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setColumnCount(2)
    tree.setHeaderLabels(list(headers))
    tree.setUniformRowHeights(True)
    tree.setAccessibleName(accessible_name)
    return tree


def antialiased_painter(widget: QWidget) -> QPainter:
    """A painter on ``widget`` with antialiasing on (end it when done)."""
    p = QPainter(widget)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    return p
