"""The "most suspicious frames" strip of a video: one thumbnail per frame, captioned with
its time and P(fake); thumbnails are decoded in a worker pool."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem

from .formatting import frame_caption, percent
from .previews import read_video_frames
from .workers import run_task

THUMB_SIDE = 200  # decoded size; shown at the icon size
ICON = QSize(112, 63)


class FrameStrip(QListWidget):
    """Clicking (or moving to) a thumbnail emits ``frameChosen(index)``."""

    frameChosen = Signal(int)

    def __init__(self, pool, parent=None):
        super().__init__(parent)
        self.pool = pool
        self._gen = 0
        self.setAccessibleName("Most suspicious frames")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(ICON)
        self.setSpacing(4)
        self.setFixedHeight(ICON.height() + 48)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemClicked.connect(lambda it: self.frameChosen.emit(self._index(it)))
        self.currentItemChanged.connect(
            lambda it, _old: it is not None and self.frameChosen.emit(self._index(it)))

    @staticmethod
    def _index(item: QListWidgetItem) -> int:
        return int(item.data(Qt.ItemDataRole.UserRole))

    def fill(self, path: Path, result) -> None:
        """One item per suspicious frame of ``result`` (most suspicious first)."""
        self.blockSignals(True)
        self.clear()
        by_index = {f.index: f for f in result.frames}
        sus = [int(i) for i in (getattr(result, "suspicious_frames", None) or [])]
        placeholder = QPixmap(self.iconSize())
        placeholder.fill(self.palette().color(QPalette.ColorRole.Mid))
        for idx in sus:
            fr = by_index.get(idx)
            p = None if fr is None else fr.p_fake
            item = QListWidgetItem(QIcon(placeholder), frame_caption(None if fr is None else fr.time_s, p, idx))
            item.setData(Qt.ItemDataRole.UserRole, idx)
            item.setToolTip(f"frame {idx}" + ("" if p is None else f" · P(fake) {percent(p)}"))
            self.addItem(item)
        self.blockSignals(False)
        self._gen += 1
        gen = self._gen
        if sus:
            run_task(self.pool, read_video_frames, path, sus, THUMB_SIDE,
                     on_done=lambda res, g=gen: self._on_thumbs(g, res))

    def _on_thumbs(self, gen: int, res) -> None:
        if gen != self._gen:
            return
        frames, _size = res
        size = self.iconSize()
        for i in range(self.count()):
            item = self.item(i)
            img = frames.get(self._index(item))
            if img is not None:
                pm = QPixmap.fromImage(img).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(pm))

    def mark(self, index: int) -> None:
        """Highlight frame ``index``'s thumbnail (none if it has none), without signals."""
        for i in range(self.count()):
            item = self.item(i)
            if self._index(item) == index:
                self.blockSignals(True)
                self.setCurrentItem(item)
                self.blockSignals(False)
                return
        self.clearSelection()
