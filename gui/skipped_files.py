"""The files the app left out when it walked a folder (hidden, unsupported type, too
large, unreadable...), each with its reason, under the queue: nothing is left out in
silence. Hidden while there are none."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QToolButton,
    QTreeWidgetItem,
    QWidget,
)

from .builders import column, two_column_tree
from .formatting import count


class SkippedFiles(QWidget):
    """``add(skipped)`` takes objects with ``path`` and ``reason``
    (:class:`dfd.inference.SkippedFile`); a path is listed once."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = column(self, spacing=2)
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setToolTip("Files found in the folders you opened that are not analysed, and why")
        self.toggle.toggled.connect(self._expand)
        lay.addWidget(self.toggle)
        self.tree = two_column_tree(("Left out", "Reason"), "Files left out and why")
        self.tree.setRootIsDecorated(False)
        self.tree.setMaximumHeight(140)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.tree)
        self._items: dict[str, object] = {}  # normalised path -> the SkippedFile
        self._refresh()

    def add(self, skipped) -> int:
        """List ``skipped`` (shown opened, so they are seen); returns how many were new."""
        new = 0
        for s in skipped:
            key = os.path.normcase(os.path.abspath(str(s.path)))
            if key in self._items:
                continue
            self._items[key] = s
            item = QTreeWidgetItem(self.tree, [Path(s.path).name or str(s.path), str(s.reason)])
            item.setToolTip(0, str(s.path))
            new += 1
        if new:
            self.toggle.setChecked(True)
        self._refresh()
        return new

    def entries(self) -> list:
        """Every file listed (the SkippedFile objects given), in the order they were added."""
        return list(self._items.values())

    def clear(self) -> None:
        self._items.clear()
        self.tree.clear()
        self._refresh()

    def _expand(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.tree.setVisible(on and bool(self._items))

    def _refresh(self) -> None:
        self.setVisible(bool(self._items))
        self.toggle.setText(f"{count(len(self._items), 'file')} left out")
        self._expand(self.toggle.isChecked())
