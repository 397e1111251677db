"""Small painted widgets: the probability gauge and the per-model bars.

Colours come from the palette (so dark mode works) plus the verdict colours of
:mod:`gui.theme`."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme


def _verdict_for(p: float, threshold: float, band: tuple[float, float]) -> str:
    lo, hi = band
    if lo <= p <= hi:
        return "uncertain"
    return "fake" if p >= threshold else "real"


class ProbabilityGauge(QWidget):
    """Horizontal 0–1 scale: the uncertain band shaded, the threshold marked, and a marker
    at the calibrated P(fake)."""

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
            parts.append(f"P(fake) = {self.p:.3f}")
        parts.append(f"threshold {self.threshold:.2f}")
        if hi > lo:
            parts.append(f"uncertain between {lo:.2f} and {hi:.2f}: the score is too close to the "
                         "decision line to trust either answer")
        self.setToolTip("\n".join(parts))

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(300, 30 + 2 * fm.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
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
        p.drawText(QPointF(track.left(), y_lab), "0 real")
        right = "fake 1"
        p.drawText(QPointF(track.right() - fm.horizontalAdvance(right), y_lab), right)
        t_lab = f"threshold {self.threshold:.2f}"
        tw = fm.horizontalAdvance(t_lab)
        p.drawText(QPointF(min(max(tx - tw / 2, track.left() + 40), track.right() - tw - 40), y_lab), t_lab)
        # marker
        if self.p is not None:
            verdict = self.verdict or _verdict_for(self.p, self.threshold, self.band)
            colour = theme.verdict_colour(verdict, pal)
            mx = x_of(self.p)
            cy = track.center().y()
            p.setPen(QPen(pal.color(QPalette.ColorRole.Base), 2.0))
            p.setBrush(colour)
            p.drawEllipse(QPointF(mx, cy), 8.0, 8.0)
            tri = QPolygonF([QPointF(mx - 5, top - 7), QPointF(mx + 5, top - 7), QPointF(mx, top - 1)])
            p.setPen(Qt.PenStyle.NoPen)
            p.drawPolygon(tri)
            label = f"{100 * self.p:.1f}%"
            bold = QFont(small)
            bold.setBold(True)
            p.setFont(bold)
            lw = QFontMetrics(bold).horizontalAdvance(label)
            lx = min(max(mx - lw / 2, 0.0), self.width() - lw)
            p.setPen(colour)
            p.drawText(QPointF(lx, top - 9), label)
        p.end()


class MemberBars(QWidget):
    """One horizontal bar per model: its calibrated P(fake), coloured by the side of the
    threshold it falls on, with the threshold marked."""

    ROW = 24

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scores: dict[str, float] = {}
        self.threshold = 0.5
        self.band = (0.5, 0.5)
        self.placeholder = "No per-model scores"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_scores(self, scores: dict, threshold=0.5, band=None) -> None:
        self.scores = {str(k): float(v) for k, v in (scores or {}).items() if v is not None}
        self.threshold = float(threshold if threshold is not None else 0.5)
        self.band = tuple(band) if band else (self.threshold, self.threshold)
        self.setToolTip("\n".join(f"{k}: P(fake) = {v:.3f}" for k, v in self.scores.items()))
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self.scores)) * self.ROW + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(180, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
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
            colour = theme.verdict_colour(_verdict_for(v, self.threshold, self.band), pal)
            fill = QRectF(bar.left(), bar.top(), max(bar.height(), bar.width() * min(1.0, max(0.0, v))), bar.height())
            p.setBrush(colour)
            p.drawRoundedRect(fill, 5, 5)
            tx = bar.left() + bar.width() * self.threshold
            p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 1.5))
            p.drawLine(QPointF(tx, bar.top() - 3), QPointF(tx, bar.bottom() + 3))
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(QRectF(bar.right() + 4, y, value_w, self.ROW),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{100 * v:.1f}%")
        p.end()
