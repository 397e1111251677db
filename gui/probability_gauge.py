"""The probability gauge: a 0-100% scale with the uncertain band shaded, the threshold
marked and a marker at the calibrated P(fake), coloured by the file's verdict.

Colours come from the palette (so dark mode works) plus the verdict colours of
:mod:`gui.theme`."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QFont,
    QFontMetrics,
    QLinearGradient,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme
from .builders import antialiased_painter
from .formatting import percent


class ProbabilityGauge(QWidget):
    """Horizontal 0–100% scale: the uncertain band shaded, the threshold marked, and a
    marker at the calibrated P(fake) in the colour of ``verdict`` (neutral without one)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.p: float | None = None
        self.threshold = 0.5
        self.band = (0.5, 0.5)
        self.verdict: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(200)

    def set_values(self, p, threshold, band, verdict=None) -> None:
        self.p = None if p is None else float(p)
        self.threshold = float(threshold) if threshold is not None else 0.5
        self.band = tuple(float(v) for v in band) if band else (self.threshold, self.threshold)
        self.verdict = verdict
        self._update_tooltip()
        self.update()

    def _update_tooltip(self) -> None:
        lo, hi = self.band
        parts = []
        if self.p is not None:
            parts.append(f"P(fake) {percent(self.p)}")
        parts.append(f"threshold {percent(self.threshold, 0)}")
        if hi > lo:
            parts.append(f"uncertain from {percent(lo, 0)} to {percent(hi, 0)}: the score is too close to "
                         "the decision line to trust either answer")
        self.setToolTip("\n".join(parts))

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(300, 30 + 2 * fm.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = antialiased_painter(self)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        fm = QFontMetrics(small)
        margin = 10.0
        top = fm.height() + 6.0
        track = QRectF(margin, top, self.width() - 2 * margin, 12.0)

        def x_of(v: float) -> float:
            return track.left() + track.width() * min(1.0, max(0.0, v))

        # track: a soft real -> fake gradient over the base colour
        base = pal.color(QPalette.ColorRole.Base)
        real_c, fake_c = theme.verdict_colour("real", pal), theme.verdict_colour("fake", pal)
        path = QPainterPath()
        path.addRoundedRect(track, 6, 6)
        grad = QLinearGradient(track.topLeft(), track.topRight())
        grad.setColorAt(0.0, theme.mix(base, real_c, 0.45))
        grad.setColorAt(0.5, theme.mix(base, pal.color(QPalette.ColorRole.Mid), 0.3))
        grad.setColorAt(1.0, theme.mix(base, fake_c, 0.45))
        p.fillPath(path, grad)
        lo, hi = self.band
        if hi > lo:
            band = QRectF(x_of(lo), track.top() - 3, x_of(hi) - x_of(lo), track.height() + 6)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.with_alpha(theme.verdict_colour("uncertain", pal), 90))
            p.drawRoundedRect(band, 3, 3)
            hatch = theme.with_alpha(theme.verdict_colour("uncertain", pal), 150)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(hatch, 1.0))
            p.drawRoundedRect(band, 3, 3)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        # threshold
        tx = x_of(self.threshold)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 2.0))
        p.drawLine(QPointF(tx, track.top() - 5), QPointF(tx, track.bottom() + 5))
        # labels under the track
        p.setFont(small)
        p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        y_lab = track.bottom() + 6 + fm.ascent()
        left, right = "0% real", "fake 100%"
        p.drawText(QPointF(track.left(), y_lab), left)
        p.drawText(QPointF(track.right() - fm.horizontalAdvance(right), y_lab), right)
        t_lab = f"threshold {percent(self.threshold, 0)}"
        tw = fm.horizontalAdvance(t_lab)
        lo_x = track.left() + fm.horizontalAdvance(left) + 8  # never over the end labels
        hi_x = track.right() - fm.horizontalAdvance(right) - 8 - tw
        p.drawText(QPointF(max(lo_x, min(tx - tw / 2, hi_x)), y_lab), t_lab)
        # marker
        if self.p is not None:
            colour = theme.verdict_colour(self.verdict, pal)
            mx = x_of(self.p)
            cy = track.center().y()
            p.setPen(QPen(pal.color(QPalette.ColorRole.Base), 2.0))
            p.setBrush(colour)
            p.drawEllipse(QPointF(mx, cy), 8.0, 8.0)
            tri = QPolygonF([QPointF(mx - 5, top - 7), QPointF(mx + 5, top - 7), QPointF(mx, top - 1)])
            p.setPen(Qt.PenStyle.NoPen)
            p.drawPolygon(tri)
            label = percent(self.p)
            bold = QFont(small)
            bold.setBold(True)
            p.setFont(bold)
            lw = QFontMetrics(bold).horizontalAdvance(label)
            lx = min(max(mx - lw / 2, 0.0), self.width() - lw)
            p.setPen(colour)
            p.drawText(QPointF(lx, top - 9), label)
        p.end()
