"""Per-frame score timeline of a video (a painted QWidget: QtCharts is not part of
PySide6-Essentials): the raw points (each frame's most suspicious face) and, per person
(track), the engine's lightly smoothed score line — bold for the person who decided. Clicking
a point, or the arrow keys, select that frame."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from . import theme
from .builders import antialiased_painter
from .formatting import percent, seconds


class TimelineWidget(QWidget):
    """Scores of the sampled frames over time, with the uncertain band shaded, the
    threshold dashed, suspicious frames ringed and the selected frame marked."""

    frameClicked = Signal(int)  # frame index in the video

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frames: list = []  # FrameScore objects (index, time_s, p_fake, n_faces)
        self.threshold = 0.5
        self.band = (0.5, 0.5)
        self.suspicious: set[int] = set()
        self.verdict_of: Callable[[float], str] | None = None  # the detector's rule
        self.selected: int | None = None
        self.tracks: list = []  # TrackResult objects (frame_indices, smoothed, decides)
        self.decided_by: int | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(120)
        self.setAccessibleName("Per-frame score timeline")
        self.setToolTip("Click a point to show that frame (arrow keys step through frames)")

    # -- data
    def set_data(self, frames, threshold=0.5, band=None, suspicious=(),
                 verdict_of: Callable[[float], str] | None = None) -> None:
        """``verdict_of`` colours each frame's point (neutral without one)."""
        self.frames = sorted(frames or [], key=lambda f: f.index)
        self.verdict_of = verdict_of
        self.threshold = float(threshold if threshold is not None else 0.5)
        self.band = tuple(band) if band else (self.threshold, self.threshold)
        self.suspicious = {int(i) for i in suspicious or ()}
        if self.selected not in {f.index for f in self.frames}:
            self.selected = None
        self.update()

    def set_tracks(self, tracks, decided_by: int | None = None) -> None:
        """Each person's smoothed score line (``TrackResult.smoothed``); ``decided_by`` is bold."""
        self.tracks = [t for t in tracks or [] if getattr(t, "smoothed", None)]
        self.decided_by = decided_by
        self.update()

    def set_selected(self, index: int | None) -> None:
        self.selected = index
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(600, 130)

    # -- geometry
    def _plot_rect(self) -> QRectF:
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("100%") + 10
        # room above 100% and beside the ends for the suspicious-frame rings
        return QRectF(left + 6, 12, max(10.0, self.width() - left - 20), max(10.0, self.height() - fm.height() - 22))

    def _t_range(self) -> tuple[float, float]:
        ts = [self._t(f) for f in self.frames]
        lo, hi = (min(ts), max(ts)) if ts else (0.0, 1.0)
        return (lo, hi if hi > lo else lo + 1.0)

    @staticmethod
    def _t(f) -> float:
        t = getattr(f, "time_s", None)
        return float(t) if t is not None else float(f.index)

    def _point(self, f, rect: QRectF, t_range) -> QPointF:
        t0, t1 = t_range
        x = rect.left() + rect.width() * (self._t(f) - t0) / (t1 - t0)
        p = f.p_fake
        y = rect.bottom() - rect.height() * (min(1.0, max(0.0, p)) if p is not None else 0.0)
        return QPointF(x, y)

    def _nearest(self, x: float) -> object | None:
        if not self.frames:
            return None
        rect, tr = self._plot_rect(), self._t_range()
        best = min(self.frames, key=lambda f: abs(self._point(f, rect, tr).x() - x))
        return best if abs(self._point(best, rect, tr).x() - x) <= 24 else None

    # -- painting
    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = antialiased_painter(self)
        rect = self._plot_rect()
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        fm = QFontMetrics(small)
        p.setFont(small)
        base = pal.color(QPalette.ColorRole.Base)
        p.fillRect(rect, base)

        def y_of(v: float) -> float:
            return rect.bottom() - rect.height() * v

        lo, hi = self.band
        if hi > lo:
            p.fillRect(QRectF(rect.left(), y_of(hi), rect.width(), y_of(lo) - y_of(hi)),
                       theme.with_alpha(theme.verdict_colour("uncertain", pal), 55))
        grid = theme.with_alpha(pal.color(QPalette.ColorRole.Mid), 110)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        for v in (0.0, 0.5, 1.0):
            p.setPen(QPen(grid, 1.0))
            p.drawLine(QPointF(rect.left(), y_of(v)), QPointF(rect.right(), y_of(v)))
            p.setPen(muted)
            label = percent(v, 0)
            p.drawText(QPointF(rect.left() - 6 - fm.horizontalAdvance(label), y_of(v) + fm.ascent() / 2 - 1), label)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 1.2, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(rect.left(), y_of(self.threshold)), QPointF(rect.right(), y_of(self.threshold)))

        if not self.frames:
            p.setPen(muted)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No frame scores")
            p.end()
            return
        tr = self._t_range()
        # time axis labels
        p.setPen(muted)
        for frac in (0.0, 0.5, 1.0):
            t = tr[0] + frac * (tr[1] - tr[0])
            label = seconds(t)
            w = fm.horizontalAdvance(label)
            x = rect.left() + frac * rect.width() - frac * w
            p.drawText(QPointF(x, rect.bottom() + 4 + fm.ascent()), label)
        # selected frame cursor
        if self.selected is not None:
            sel = next((f for f in self.frames if f.index == self.selected), None)
            if sel is not None:
                x = self._point(sel, rect, tr).x()
                p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 2.0))
                p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        self._paint_tracks(p, rect, tr, pal)
        # line through scored frames (broken where no face was found)
        line_pen = QPen(theme.with_alpha(pal.color(QPalette.ColorRole.Text), 90 if self.tracks else 150), 1.0
                        if self.tracks else 1.5)
        path, open_seg = QPainterPath(), False
        for f in self.frames:
            if f.p_fake is None:
                open_seg = False
                continue
            pt = self._point(f, rect, tr)
            if open_seg:
                path.lineTo(pt)
            else:
                path.moveTo(pt)
                open_seg = True
        p.setPen(line_pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        radius = 3.5 if len(self.frames) > 60 else 4.5
        for f in self.frames:
            pt = self._point(f, rect, tr)
            if f.p_fake is None:
                p.setPen(QPen(muted, 1.2))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawEllipse(QPointF(pt.x(), rect.bottom() - 3), 2.5, 2.5)
                continue
            colour = theme.verdict_colour(self.verdict_of(f.p_fake) if self.verdict_of else None, pal)
            p.setPen(QPen(base, 1.0))
            p.setBrush(colour)
            p.drawEllipse(pt, radius, radius)
            if f.index in self.suspicious:
                p.setPen(QPen(colour, 1.6))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawEllipse(pt, radius + 3.5, radius + 3.5)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        p.end()

    def _paint_tracks(self, p, rect: QRectF, tr, pal) -> None:
        """The smoothed line of each track: the deciding one bold in the highlight colour,
        the others thin and muted (shown, not deciding)."""
        by_index = {f.index: f for f in self.frames}
        for track in sorted(self.tracks, key=lambda t: t.track_id == self.decided_by):
            path, started = QPainterPath(), False
            for idx, v in zip(track.frame_indices, track.smoothed):
                frame = by_index.get(int(idx))
                if frame is None:
                    continue
                x = self._point(frame, rect, tr).x()
                pt = QPointF(x, rect.bottom() - rect.height() * min(1.0, max(0.0, float(v))))
                if started:
                    path.lineTo(pt)
                else:
                    path.moveTo(pt)
                    started = True
            deciding = track.track_id == self.decided_by
            colour = pal.color(QPalette.ColorRole.Highlight) if deciding else theme.with_alpha(
                pal.color(QPalette.ColorRole.PlaceholderText), 160)
            p.setPen(QPen(colour, 2.6 if deciding else 1.2, Qt.PenStyle.SolidLine if track.decides
                          else Qt.PenStyle.DotLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)

    # -- interaction
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            f = self._nearest(event.position().x())
            if f is not None:
                self.select_frame(f.index)
                return
        super().mousePressEvent(event)

    def select_frame(self, index: int) -> None:
        self.selected = int(index)
        self.update()
        self.frameClicked.emit(int(index))

    def mouseMoveEvent(self, event) -> None:
        f = self._nearest(event.position().x())
        if f is not None:
            score = "no face" if f.p_fake is None else f"P(fake) {percent(f.p_fake)}"
            extra = " · most suspicious" if f.index in self.suspicious else ""
            QToolTip.showText(event.globalPosition().toPoint(),
                              f"frame {f.index} · {seconds(self._t(f), 2)} · {score}{extra}", self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event) -> None:
        if self.frames and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End):
            idx = [f.index for f in self.frames]
            cur = idx.index(self.selected) if self.selected in idx else -1
            if event.key() == Qt.Key.Key_Home:
                cur = 0
            elif event.key() == Qt.Key.Key_End:
                cur = len(idx) - 1
            elif event.key() == Qt.Key.Key_Left:
                cur = max(0, cur - 1)
            else:
                cur = min(len(idx) - 1, cur + 1)
            self.select_frame(idx[cur])
            return
        super().keyPressEvent(event)
