"""The people of a video: one line per track (frames seen, face size, score) and whether it
decides the verdict. A track seen in too few frames or with a tiny face (an inset picture,
a bystander) is listed but does not decide; the one whose score is the verdict is in bold."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from .builders import muted_label
from .formatting import track_summary


class TrackList(QGroupBox):
    """``show_result(result)`` lists ``result.tracks``; hidden when there are none (photos)."""

    def __init__(self, parent=None):
        super().__init__("People in the video", parent)
        self._layout = QVBoxLayout(self)
        self.lines: list[QLabel] = []
        self.hide()

    def show_result(self, result) -> None:
        for label in self.lines:
            self._layout.removeWidget(label)
            label.deleteLater()
        self.lines = []
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
            self._layout.addWidget(label)
            self.lines.append(label)
        self.setVisible(bool(tracks))

    def texts(self) -> list[str]:
        return [label.text() for label in self.lines]
