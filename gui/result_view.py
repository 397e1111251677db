"""One file's result: the image or selected video frame with its face boxes, the verdict
with its calibrated probability and uncertain band, per-model bars, the selected face
with its Grad-CAM heatmap, and for videos the per-frame timeline and the most suspicious
frames. Built from :mod:`gui.result_header`, :mod:`gui.canvas`, :mod:`gui.video_panel`,
:mod:`gui.probability_gauge`, :mod:`gui.member_bars`, :mod:`gui.track_list` and
:mod:`gui.face_panel`."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .builders import column, muted_label
from .canvas import BoxOverlay, ImageCanvas
from .face_panel import FacePanel
from .formatting import count, percent, threshold_text, timings_text
from .heatmaps import heatmap_rgba
from .member_bars import MemberBars
from .previews import load_image, read_video_frame
from .probability_gauge import ProbabilityGauge
from .qimages import rgb_to_qimage
from .result_header import ResultHeader
from .results_model import Entry, most_suspicious_frame
from .track_list import TrackList
from .video_panel import VideoPanel
from .workers import run_task

MAX_CACHED_PICTURES = 24


class ResultView(QWidget):
    """Shows one :class:`~gui.results_model.Entry`; decoding for display runs in ``pool``."""

    frameShown = Signal(int)  # video frame index now on the canvas

    def __init__(self, pool, parent=None):
        super().__init__(parent)
        self.pool = pool
        self.entry: Entry | None = None
        self._status: str | None = None
        self.frame_index: int | None = None
        self.faces: list = []  # FaceResult objects on the canvas
        self.face_index = -1
        self._gen = 0
        self._images: OrderedDict = OrderedDict()  # (path, frame) -> (QImage, full size)
        self._heat_cache: dict = {}
        self._build(pool)
        self.show_entry(None)

    def _build(self, pool) -> None:
        outer = column(self, (10, 8, 10, 8), 6)
        self.header = ResultHeader()
        self.badge, self.message = self.header.badge, self.header.message
        outer.addWidget(self.header)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        left = QWidget()
        lv = column(left, spacing=4)
        self.canvas = ImageCanvas()
        self.canvas.faceClicked.connect(self._select_face)
        lv.addWidget(self.canvas, 1)
        self.video_panel = VideoPanel(pool)
        self.video_panel.frameChosen.connect(self.show_frame)
        self.timeline, self.strip = self.video_panel.timeline, self.video_panel.strip
        lv.addWidget(self.video_panel)
        self.splitter.addWidget(left)

        side = QWidget()
        sv = column(side, (4, 0, 4, 0), 8)
        self.prob_group = QGroupBox("Probability of fake")
        g1 = QVBoxLayout(self.prob_group)
        self.gauge = ProbabilityGauge()
        g1.addWidget(self.gauge)
        self.band_label = muted_label()
        g1.addWidget(self.band_label)
        sv.addWidget(self.prob_group)
        self.models_group = QGroupBox("Per model")
        self.bars = MemberBars()
        QVBoxLayout(self.models_group).addWidget(self.bars)
        sv.addWidget(self.models_group)
        self.tracks = TrackList()  # videos: who was seen, and who decides
        sv.addWidget(self.tracks)
        self.face_group = FacePanel()
        self.face_group.heatChanged.connect(self._render_faces)
        self.crop, self.heat_toggle = self.face_group.crop, self.face_group.heat_toggle
        sv.addWidget(self.face_group)
        self.details = muted_label(selectable=True)
        sv.addWidget(self.details)
        sv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(290)
        self.side = scroll
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([600, 310])
        outer.addWidget(self.splitter, 1)

    def _result(self):
        e = self.entry
        return e.result if e is not None and e.status == "done" else None

    # the entry
    def show_entry(self, entry: Entry | None, force: bool = False) -> None:
        same = (entry is not None and self.entry is not None and entry.id == self.entry.id
                and entry.status == self._status)
        self.entry = entry
        if same and not force:
            self.header.show_entry(entry)
            return
        self._status = entry.status if entry is not None else None
        self._heat_cache.clear()
        self.faces, self.face_index, self.frame_index = [], -1, None
        self.header.show_entry(entry)
        result = self._result()
        self._render_scores(result)
        is_video = entry is not None and (getattr(result, "kind", None) or entry.kind) == "video"
        self.video_panel.setVisible(bool(is_video and result is not None and getattr(result, "frames", None)))
        if entry is None:
            self.canvas.set_image(None)
            self.canvas.set_boxes([])
            self.canvas.set_placeholder("Open images, videos or folders (Ctrl+O) or drop them here.\n"
                                        "Select a file in the list to see its result.")
            self._render_faces()
            return
        if result is not None and is_video:
            self.video_panel.show_result(entry, result)
            frame = most_suspicious_frame(result)
            self.show_frame(frame if frame is not None else 0)
        else:
            self.frame_index = 0 if is_video else None
            self._update_faces()
            self._render_faces()
            self._request_image()

    def _render_scores(self, result) -> None:
        scored = result is not None and getattr(result, "p_fake", None) is not None
        self.tracks.show_result(result)
        # no probability (queued, no face, error): nothing to show but the facts below
        for group in (self.prob_group, self.models_group, self.face_group):
            group.setVisible(scored or result is None)
        if result is None:
            self.gauge.set_values(None, 0.5, None)
            self.bars.set_scores({})
            self.band_label.setText("")
            self.details.setText("")
            return
        thr = float(getattr(result, "threshold", 0.5) or 0.5)
        band = tuple(getattr(result, "uncertain_band", None) or (thr, thr))
        self.gauge.set_values(result.p_fake, thr, band, result.verdict)
        self.bars.set_scores(getattr(result, "member_scores", None) or {}, thr, self.entry.score_verdict)
        self.band_label.setText(threshold_text(thr, band))
        self.details.setText(self._details_text(result))

    def _details_text(self, result) -> str:
        lines = []
        models = list(getattr(result, "models", None) or [])
        if models:  # ids are "name@sha256[:12]": the names here, the ids in the tooltip
            lines.append("Models: " + ", ".join(str(m).split("@")[0] for m in models))
            self.details.setToolTip("Model ids (name@SHA-256 prefix):\n" + "\n".join(map(str, models)))
        timings = dict(getattr(result, "timings", None) or {})
        if timings:
            lines.append("Time: " + timings_text(timings))
        if getattr(result, "kind", None) == "video":
            frames = list(getattr(result, "frames", None) or [])
            with_face = sum(1 for f in frames if f.p_fake is not None)
            lines.append(f"{count(len(frames), 'frame')} sampled, {with_face} with a face")
        return "\n".join(lines)

    # video frames
    def show_frame(self, index: int) -> None:
        """Show video frame ``index`` (a sampled frame shows its faces and scores)."""
        if self.entry is None:
            return
        self.frame_index = int(index)
        result = self._result()
        fr = None
        if result is not None:
            fr = next((f for f in result.frames if f.index == self.frame_index), None)
        self.video_panel.show_frame(self.frame_index, fr)
        self._update_faces()
        self._render_faces()
        self._request_image()
        self.frameShown.emit(self.frame_index)

    # the picture
    def _request_image(self) -> None:
        e = self.entry
        if e is None:
            return
        key = (str(e.path), self.frame_index)
        self._gen += 1
        if key in self._images:
            self._images.move_to_end(key)
            img, full = self._images[key]
            self._apply_image(img, full)
            return
        self.canvas.set_image(None)
        self.canvas.set_placeholder("Loading…")
        gen = self._gen
        if self.frame_index is None:
            fn, args = load_image, (e.path,)
        else:
            fn, args = read_video_frame, (e.path, self.frame_index)
        run_task(self.pool, fn, *args,
                 on_done=lambda res, g=gen, k=key: self._on_image(g, k, res),
                 on_failed=lambda msg, g=gen: self._on_image(g, key, (QImage(), (0, 0)), msg))

    def _on_image(self, gen: int, key, res, error: str | None = None) -> None:
        img, full = res
        if not img.isNull():
            self._images[key] = (img, full)
            while len(self._images) > MAX_CACHED_PICTURES:
                self._images.popitem(last=False)
        if gen != self._gen:
            return
        if img.isNull():
            self.canvas.set_image(None)
            self.canvas.set_placeholder("This file cannot be shown" + (f": {error}" if error else "."))
            self._render_faces()
            return
        self._apply_image(img, full)

    def _apply_image(self, img: QImage, full) -> None:
        r = self._result()
        size = getattr(r, "image_size", None) if self.frame_index is None else None
        self.canvas.set_image(img, size or full)
        self._render_faces()

    # faces
    def _update_faces(self) -> None:
        r = self._result()
        faces = list(getattr(r, "faces", None) or []) if r is not None else []
        if self.frame_index is not None:
            faces = [f for f in faces if getattr(f, "frame_index", None) == self.frame_index]
        self.faces = faces
        scored = [i for i, f in enumerate(faces) if f.p_fake is not None]
        self.face_index = max(scored, key=lambda i: faces[i].p_fake) if scored else (0 if faces else -1)
        models: list[str] = []
        for f in faces:
            for m in (getattr(f, "heatmaps", None) or {}):
                if m not in models:
                    models.append(m)
        self.face_group.set_models(models)

    def _select_face(self, index: int) -> None:
        self.face_index = index
        self._render_faces()

    def _heat_image(self, face_no: int, face, model: str) -> QImage | None:
        heat = (getattr(face, "heatmaps", None) or {}).get(model)
        if heat is None:
            return None
        key = (self.frame_index, face_no, model)
        if key not in self._heat_cache:
            self._heat_cache[key] = rgb_to_qimage(heatmap_rgba(heat))
        return self._heat_cache[key]

    def _render_faces(self, *_args) -> None:
        e, r = self.entry, self._result()
        model = self.face_group.heat_model.currentText()
        show_heat = self.face_group.heat_on
        boxes = []
        for i, f in enumerate(self.faces):
            label = "" if f.p_fake is None else percent(f.p_fake, 0)
            if getattr(f, "track_id", None) is not None:
                label = f"#{f.track_id + 1}  {label}".strip()  # tracks are numbered from 1 for people
            boxes.append(BoxOverlay(tuple(f.box), e.score_verdict(f.p_fake), label,
                                    self._heat_image(i, f, model) if show_heat else None))
        self.canvas.set_boxes(boxes, self.face_index)
        self.canvas.set_show_heat(show_heat)
        face = self.faces[self.face_index] if 0 <= self.face_index < len(self.faces) else None
        any_heat = any(getattr(f, "heatmaps", None) for f in self.faces)
        self.face_group.show_face(face, self.face_index, len(self.faces), r is not None,
                                  self.frame_index is not None, any_heat)
