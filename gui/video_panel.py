"""Under a video's picture: the shown frame in words, the per-frame score timeline and
the strip of the most suspicious frames."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from .builders import column, muted_label
from .formatting import frame_summary
from .frame_strip import FrameStrip
from .results_model import Entry
from .timeline import TimelineWidget


class VideoPanel(QWidget):
    """Choosing a frame on the timeline or in the strip emits ``frameChosen(index)``."""

    frameChosen = Signal(int)

    def __init__(self, pool, parent=None):
        super().__init__(parent)
        lay = column(self, spacing=3)
        self.frame_label = QLabel()
        lay.addWidget(self.frame_label)
        self.timeline = TimelineWidget()
        self.timeline.frameClicked.connect(self.frameChosen)
        lay.addWidget(self.timeline)
        lay.addWidget(muted_label("Most suspicious frames", wrap=False))
        self.strip = FrameStrip(pool)
        self.strip.frameChosen.connect(self.frameChosen)
        lay.addWidget(self.strip)

    def show_result(self, entry: Entry, result) -> None:
        self.timeline.set_data(result.frames, result.threshold, result.uncertain_band,
                               getattr(result, "suspicious_frames", ()), entry.score_verdict)
        self.timeline.set_tracks(getattr(result, "tracks", ()), getattr(result, "decided_by", None))
        self.strip.fill(entry.path, result)

    def show_frame(self, index: int, frame=None) -> None:
        """Mark frame ``index``; ``frame`` (its FrameScore, if it was sampled) is described."""
        self.timeline.set_selected(index)
        if frame is not None:
            self.frame_label.setText(frame_summary(frame.index, frame.time_s, frame.p_fake, frame.n_faces))
        else:
            self.frame_label.setText(f"Frame {index}")
        self.strip.mark(index)
