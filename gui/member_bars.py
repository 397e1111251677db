"""Per-model bars: each model's calibrated P(fake), coloured by the verdict the
detector's rule gives that score, with the threshold marked.

Colours come from the palette (so dark mode works) plus the verdict colours of
:mod:`gui.theme`."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme
from .builders import antialiased_painter
from .formatting import percent


class MemberBars(QWidget):
    """One horizontal bar per model: its calibrated P(fake), coloured by ``verdict_of``
    (the detector's rule; neutral without one), with the threshold marked."""

    ROW = 24

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scores: dict[str, float] = {}
        self.threshold = 0.5
        self.verdict_of: Callable[[float], str] | None = None
        self.placeholder = "No per-model scores"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_scores(self, scores: dict, threshold=0.5, verdict_of: Callable[[float], str] | None = None) -> None:
        self.scores = {str(k): float(v) for k, v in (scores or {}).items() if v is not None}
        self.threshold = float(threshold if threshold is not None else 0.5)
        self.verdict_of = verdict_of
        self.setToolTip("\n".join(f"{k}: P(fake) {percent(v)}" for k, v in self.scores.items()))
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self.scores)) * self.ROW + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(180, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = antialiased_painter(self)
        fm = self.fontMetrics()
        if not self.scores:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.placeholder)
            p.end()
            return
        name_w = min(130, max(fm.horizontalAdvance(n) for n in self.scores) + 10)
        value_w = fm.horizontalAdvance("100.0%") + 8
        x0 = name_w
        width = max(20.0, self.width() - name_w - value_w - 4)
        for i, (name, v) in enumerate(self.scores.items()):
            y = 2 + i * self.ROW
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(QRectF(0, y, name_w - 6, self.ROW),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 6))
            bar = QRectF(x0, y + self.ROW / 2 - 5, width, 10)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Mid), 0.35))
            p.drawRoundedRect(bar, 5, 5)
            colour = theme.verdict_colour(self.verdict_of(v) if self.verdict_of else None, pal)
            fill = QRectF(bar.left(), bar.top(), max(bar.height(), bar.width() * min(1.0, max(0.0, v))), bar.height())
            p.setBrush(colour)
            p.drawRoundedRect(fill, 5, 5)
            tx = bar.left() + bar.width() * self.threshold
            p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 1.5))
            p.drawLine(QPointF(tx, bar.top() - 3), QPointF(tx, bar.bottom() + 3))
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(QRectF(bar.right() + 4, y, value_w, self.ROW),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, percent(v))
        p.end()
