"""The people of a video: one line per track (a thumbnail of its most suspicious face, frames
seen, face size, score) and whether it decides the verdict. A track seen in too few frames or
with a tiny face (an inset picture, a bystander) is listed but does not decide; the one whose
score is the verdict is in bold."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .builders import muted_label
from .formatting import track_summary
from .qimages import rgb_to_qimage

THUMBNAIL_PX = 48


class TrackList(QGroupBox):
    """``show_result(result)`` lists ``result.tracks``; hidden when there are none (photos)."""

    def __init__(self, parent=None):
        super().__init__("People in the video", parent)
        self._layout = QVBoxLayout(self)
        self.lines: list[QLabel] = []
        self.rows: list[QWidget] = []
        self.thumbnails: list[QLabel] = []
        self.hide()

    def show_result(self, result) -> None:
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.lines, self.rows, self.thumbnails = [], [], []
        tracks = list(getattr(result, "tracks", None) or [])
        decided_by = getattr(result, "decided_by", None)
        for track in tracks:
            label = muted_label(selectable=True) if not track.decides else QLabel()
            label.setWordWrap(True)
            label.setText(track_summary(track))
            if track.track_id == decided_by:
                f = label.font()
                f.setBold(True)
                label.setFont(f)
                label.setToolTip("This person's score is the video's verdict")
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            thumb = QLabel()
            thumb.setFixedSize(THUMBNAIL_PX, THUMBNAIL_PX)
            crop = _most_suspicious_crop(result, track.track_id)
            if crop is not None:
                thumb.setPixmap(QPixmap.fromImage(rgb_to_qimage(crop)).scaled(
                    THUMBNAIL_PX, THUMBNAIL_PX, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation))
                thumb.setToolTip(f"Person {track.track_id + 1}: the face with the highest score")
            lay.addWidget(thumb)
            lay.addWidget(label, 1)
            self._layout.addWidget(row)
            self.rows.append(row)
            self.lines.append(label)
            self.thumbnails.append(thumb)
        self.setVisible(bool(tracks))

    def texts(self) -> list[str]:
        return [label.text() for label in self.lines]


def _most_suspicious_crop(result, track_id: int):
    """The scored crop of a track's face with the highest P(fake), or None."""
    faces = [f for f in getattr(result, "faces", ()) if f.track_id == track_id and f.crop is not None]
    return max(faces, key=lambda f: f.p_fake).crop if faces else None
