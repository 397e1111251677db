"""A non-modal message strip above the result (e.g. "no models yet"), with an optional
action button and a dismiss button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

from . import theme


class Banner(QFrame):
    """``show_message(html, kind, action)``; the action button's ``clicked`` is the caller's."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.action_button = QPushButton()
        lay.addWidget(self.action_button)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(close)
        self.kind = ""
        self.hide()

    def show_message(self, html_text: str, kind: str = "uncertain", action: str | None = None) -> None:
        self.kind = kind
        c = theme.verdict_colour(kind, self.palette())
        self.setStyleSheet(f"QFrame#banner {{ border: 1px solid rgba({c.red()}, {c.green()}, {c.blue()}, 140); "
                           f"border-left: 5px solid {c.name()}; border-radius: 4px; }}")
        self.label.setText(html_text)
        self.action_button.setVisible(bool(action))
        if action:
            self.action_button.setText(action)
        self.show()

    def text(self) -> str:
        return self.label.text()
