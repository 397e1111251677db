"""One file's result: the image or selected video frame with its face boxes, the verdict
with its calibrated probability and uncertain band, per-model bars, the face crop with its
Grad-CAM heatmap, and for videos the per-frame timeline and the most suspicious frames."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .backend import face_verdict
from .canvas import BoxOverlay, ImageCanvas
from .charts import MemberBars, ProbabilityGauge
from .imaging import blend_heatmap, heatmap_rgba, load_image, read_video_frames, rgb_to_qimage
from .results_model import Entry
from .timeline import TimelineWidget
from .workers import run_task

CROP_SIDE = 160
THUMB_SIDE = 200

EXPLANATIONS = {
    "fake": "The detector finds this face manipulated: its calibrated probability of being fake "
            "is above the uncertain band.",
    "real": "The detector finds no sign of manipulation: the calibrated probability of being fake "
            "is below the uncertain band.",
    "uncertain": "The score is too close to the decision line to trust either answer. This is not "
                 "evidence for real or for fake; check the file another way.",
    "no_face": "No face was found, so nothing was checked: the detector only judges faces.",
    "cancelled": "The analysis was cancelled. Press Ctrl+R to analyse it again.",
    "queued": "Waiting to be analysed.",
    "running": "Analysing…",
}


def most_suspicious_frame(result) -> int | None:
    frames = list(getattr(result, "frames", None) or [])
    scored = [f for f in frames if f.p_fake is not None]
    if scored:
        return max(scored, key=lambda f: f.p_fake).index
    sus = list(getattr(result, "suspicious_frames", None) or [])
    if sus:
        return int(sus[0])
    return frames[0].index if frames else None


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
        self._thumb_gen = 0
        self._images: OrderedDict = OrderedDict()  # (path, frame) -> (QImage, full size)
        self._heat_cache: dict = {}
        self._build()
        self.show_entry(None)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)
        outer.setSpacing(6)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title = QLabel()
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.subtitle.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        self.badge = QLabel()
        self.badge.setObjectName("verdictBadge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bf = self.badge.font()
        bf.setBold(True)
        bf.setPointSizeF(bf.pointSizeF() * 1.2)
        self.badge.setFont(bf)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        outer.addLayout(head)

        self.message = QLabel()
        self.message.setObjectName("resultMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.message)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(4)
        self.canvas = ImageCanvas()
        self.canvas.faceClicked.connect(self._select_face)
        lv.addWidget(self.canvas, 1)
        self.video_panel = QWidget()
        vv = QVBoxLayout(self.video_panel)
        vv.setContentsMargins(0, 0, 0, 0)
        vv.setSpacing(3)
        self.frame_label = QLabel()
        vv.addWidget(self.frame_label)
        self.timeline = TimelineWidget()
        self.timeline.frameClicked.connect(self.show_frame)
        vv.addWidget(self.timeline)
        strip_label = QLabel("Most suspicious frames")
        strip_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        vv.addWidget(strip_label)
        self.strip = QListWidget()
        self.strip.setAccessibleName("Most suspicious frames")
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setIconSize(QSize(112, 63))
        self.strip.setSpacing(4)
        self.strip.setFixedHeight(63 + 48)
        self.strip.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.itemClicked.connect(lambda it: self.show_frame(int(it.data(Qt.ItemDataRole.UserRole))))
        self.strip.currentItemChanged.connect(
            lambda it, _old: it is not None and self.show_frame(int(it.data(Qt.ItemDataRole.UserRole))))
        vv.addWidget(self.strip)
        lv.addWidget(self.video_panel)
        self.splitter.addWidget(left)

        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(4, 0, 4, 0)
        sv.setSpacing(8)
        g1 = self.prob_group = QGroupBox("Probability of fake")
        g1l = QVBoxLayout(g1)
        self.gauge = ProbabilityGauge()
        g1l.addWidget(self.gauge)
        self.band_label = QLabel()
        self.band_label.setWordWrap(True)
        self.band_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        g1l.addWidget(self.band_label)
        sv.addWidget(g1)

        g2 = self.models_group = QGroupBox("Per model")
        g2l = QVBoxLayout(g2)
        self.bars = MemberBars()
        g2l.addWidget(self.bars)
        sv.addWidget(g2)

        g3 = self.face_group = QGroupBox("Face")
        g3l = QVBoxLayout(g3)
        self.crop = QLabel()
        self.crop.setFixedSize(CROP_SIDE, CROP_SIDE)
        self.crop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.crop.setFrameShape(QFrame.Shape.StyledPanel)
        self.crop.setAccessibleName("Aligned face crop")
        g3l.addWidget(self.crop, 0, Qt.AlignmentFlag.AlignHCenter)
        self.face_label = QLabel()
        self.face_label.setWordWrap(True)
        self.face_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        g3l.addWidget(self.face_label)
        row = QHBoxLayout()
        self.heat_toggle = QCheckBox("Grad-CAM heatmap")
        self.heat_toggle.setToolTip(
            "Blend the selected model's Grad-CAM over the face: warm colours mark where it found "
            "evidence of manipulation. On the photo the map is stretched over the face box "
            "(approximate: the crop is aligned and has a margin).")
        self.heat_toggle.toggled.connect(self._render_faces)
        row.addWidget(self.heat_toggle)
        self.heat_model = QComboBox()
        self.heat_model.setToolTip("Model whose Grad-CAM is shown")
        self.heat_model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.heat_model.currentIndexChanged.connect(lambda _i: self._render_faces())
        row.addWidget(self.heat_model, 1)
        g3l.addLayout(row)
        self.heat_note = QLabel()
        self.heat_note.setWordWrap(True)
        self.heat_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        g3l.addWidget(self.heat_note)
        sv.addWidget(g3)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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

    # ------------------------------------------------------------------ entry
    def show_entry(self, entry: Entry | None, force: bool = False) -> None:
        same = (entry is not None and self.entry is not None and entry.id == self.entry.id
                and entry.status == self._status)
        self.entry = entry
        if same and not force:
            self._render_header()
            return
        self._status = entry.status if entry is not None else None
        self._heat_cache.clear()
        self.faces, self.face_index, self.frame_index = [], -1, None
        self._render_header()
        result = entry.result if entry is not None and entry.status == "done" else None
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
            self.timeline.set_data(result.frames, result.threshold, result.uncertain_band,
                                   getattr(result, "suspicious_frames", ()))
            self._fill_strip(entry, result)
            frame = most_suspicious_frame(result)
            self.show_frame(frame if frame is not None else 0)
        else:
            self.frame_index = 0 if is_video else None
            self._update_faces()
            self._render_faces()
            self._request_image()

    def _render_header(self) -> None:
        e = self.entry
        if e is None:
            self.title.setText("No file selected")
            self.subtitle.setText("Results appear here")
            self.badge.hide()
            self.message.hide()
            return
        r = e.result if e.status == "done" else None
        self.title.setText(e.name)
        bits = [str(e.path.parent)]
        kind = getattr(r, "kind", None) or e.kind
        if kind:
            bits.append(kind)
        size = getattr(r, "image_size", None)
        if size:
            bits.append(f"{size[0]}×{size[1]}")
        self.subtitle.setText(" · ".join(bits))
        verdict = e.verdict
        text = e.verdict_text().upper()
        if e.p_fake is not None:
            text += f"  {100 * e.p_fake:.1f}%"
        self.badge.setText(text)
        self.badge.setToolTip("Calibrated probability that the file is fake" if e.p_fake is not None else "")
        self._style_badge(verdict)
        self.badge.show()
        msg = e.message if verdict in ("error",) else None
        if verdict == "error":
            self._set_message(f"Could not analyse this file: {msg or 'unknown error'}", "error")
        elif verdict in ("no_face", "cancelled", "queued", "running", "uncertain"):
            extra = EXPLANATIONS[verdict]
            if verdict == "running":
                extra = f"Analysing… {round(100 * e.progress)}%"
            self._set_message(extra, verdict)
        elif verdict in EXPLANATIONS:
            self._set_message(EXPLANATIONS[verdict], verdict)
        else:
            self.message.hide()

    def _style_badge(self, verdict: str) -> None:
        c = theme.verdict_colour(verdict, self.palette())
        fg = "#ffffff" if c.lightness() < 170 else "#000000"
        self.badge.setStyleSheet(
            f"QLabel#verdictBadge {{ background: {c.name()}; color: {fg}; border-radius: 6px; "
            "padding: 6px 14px; }")

    def _set_message(self, text: str, verdict: str) -> None:
        c = theme.verdict_colour(verdict, self.palette())
        self.message.setStyleSheet(
            f"QLabel#resultMessage {{ border: 1px solid rgba({c.red()}, {c.green()}, {c.blue()}, 110); "
            f"border-left: 5px solid {c.name()}; border-radius: 4px; padding: 6px 8px; }}")
        self.message.setText(text)
        self.message.show()

    def _render_scores(self, result) -> None:
        scored = result is not None and getattr(result, "p_fake", None) is not None
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
        self.bars.set_scores(getattr(result, "member_scores", None) or {}, thr, band)
        lo, hi = band
        self.band_label.setText(
            f"Threshold {100 * thr:.0f}% · uncertain from {100 * lo:.0f}% to {100 * hi:.0f}%"
            if hi > lo else f"Threshold {100 * thr:.0f}%")
        self.details.setText(self._details_text(result))

    def _details_text(self, result) -> str:
        lines = []
        models = list(getattr(result, "models", None) or [])
        if models:  # ids are "name@sha256[:12]": the names here, the ids in the tooltip
            lines.append("Models: " + ", ".join(str(m).split("@")[0] for m in models))
            self.details.setToolTip("Model ids (name@SHA-256 prefix):\n" + "\n".join(map(str, models)))
        timings = dict(getattr(result, "timings", None) or {})
        if timings:
            parts = [f"{k.replace('_', ' ')} {v:.2f} s" for k, v in timings.items()
                     if isinstance(v, int | float) and (v >= 0.005 or k == "total")]
            lines.append("Time: " + " · ".join(parts))
        if getattr(result, "kind", None) == "video":
            frames = list(getattr(result, "frames", None) or [])
            with_face = sum(1 for f in frames if f.p_fake is not None)
            lines.append(f"{len(frames)} frames sampled, {with_face} with a face")
        return "\n".join(lines)

    # ------------------------------------------------------------------ video frames
    def _fill_strip(self, entry: Entry, result) -> None:
        self.strip.blockSignals(True)
        self.strip.clear()
        by_index = {f.index: f for f in result.frames}
        sus = [int(i) for i in (getattr(result, "suspicious_frames", None) or [])]
        placeholder = QPixmap(self.strip.iconSize())
        placeholder.fill(self.palette().color(QPalette.ColorRole.Mid))
        for idx in sus:
            fr = by_index.get(idx)
            score = "" if fr is None or fr.p_fake is None else f" · {100 * fr.p_fake:.0f}%"
            t = f"{fr.time_s:.1f} s" if fr is not None and fr.time_s is not None else f"#{idx}"
            item = QListWidgetItem(QIcon(placeholder), t + score)
            item.setData(Qt.ItemDataRole.UserRole, idx)
            item.setToolTip(f"frame {idx}{score}")
            self.strip.addItem(item)
        self.strip.blockSignals(False)
        self._thumb_gen += 1
        gen, path = self._thumb_gen, entry.path
        if sus:
            run_task(self.pool, read_video_frames, path, sus, THUMB_SIDE,
                     on_done=lambda res, g=gen: self._on_thumbs(g, res))

    def _on_thumbs(self, gen: int, res) -> None:
        if gen != self._thumb_gen:
            return
        frames, _size = res
        size = self.strip.iconSize()
        for i in range(self.strip.count()):
            item = self.strip.item(i)
            img = frames.get(int(item.data(Qt.ItemDataRole.UserRole)))
            if img is not None:
                pm = QPixmap.fromImage(img).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(pm))

    def show_frame(self, index: int) -> None:
        """Show video frame ``index`` (a sampled frame shows its faces and scores)."""
        e = self.entry
        if e is None:
            return
        self.frame_index = int(index)
        self.timeline.set_selected(self.frame_index)
        result = e.result if e.status == "done" else None
        fr = None
        if result is not None:
            fr = next((f for f in result.frames if f.index == self.frame_index), None)
        if fr is not None:
            score = "no face" if fr.p_fake is None else f"P(fake) {100 * fr.p_fake:.1f}%"
            self.frame_label.setText(f"Frame {fr.index} · {fr.time_s:.2f} s · {score} · "
                                     f"{fr.n_faces} face{'s' if fr.n_faces != 1 else ''}")
        else:
            self.frame_label.setText(f"Frame {self.frame_index}")
        for i in range(self.strip.count()):
            item = self.strip.item(i)
            if int(item.data(Qt.ItemDataRole.UserRole)) == self.frame_index:
                self.strip.blockSignals(True)
                self.strip.setCurrentItem(item)
                self.strip.blockSignals(False)
                break
        else:
            self.strip.clearSelection()
        self._update_faces()
        self._render_faces()
        self._request_image()
        self.frameShown.emit(self.frame_index)

    # ------------------------------------------------------------------ images
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
            fn, args = _one_frame, (e.path, self.frame_index)
        run_task(self.pool, fn, *args,
                 on_done=lambda res, g=gen, k=key: self._on_image(g, k, res),
                 on_failed=lambda msg, g=gen: self._on_image(g, key, (QImage(), (0, 0)), msg))

    def _on_image(self, gen: int, key, res, error: str | None = None) -> None:
        img, full = res
        if not img.isNull():
            self._images[key] = (img, full)
            while len(self._images) > 24:
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
        e = self.entry
        r = e.result if e is not None and e.status == "done" else None
        size = getattr(r, "image_size", None) if self.frame_index is None else None
        self.canvas.set_image(img, size or full)
        self._render_faces()

    # ------------------------------------------------------------------ faces
    def _update_faces(self) -> None:
        e = self.entry
        r = e.result if e is not None and e.status == "done" else None
        faces = list(getattr(r, "faces", None) or []) if r is not None else []
        if self.frame_index is not None:
            faces = [f for f in faces if getattr(f, "frame_index", None) == self.frame_index]
        self.faces = faces
        scored = [i for i, f in enumerate(faces) if f.p_fake is not None]
        self.face_index = max(scored, key=lambda i: faces[i].p_fake) if scored else (0 if faces else -1)
        models = []
        for f in faces:
            for m in (getattr(f, "heatmaps", None) or {}):
                if m not in models:
                    models.append(m)
        current = self.heat_model.currentText()
        self.heat_model.blockSignals(True)
        self.heat_model.clear()
        self.heat_model.addItems(models)
        if current in models:
            self.heat_model.setCurrentText(current)
        self.heat_model.blockSignals(False)
        self.heat_model.setEnabled(bool(models))

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
        e = self.entry
        r = e.result if e is not None and e.status == "done" else None
        thr = float(getattr(r, "threshold", 0.5) or 0.5) if r is not None else 0.5
        band = tuple(getattr(r, "uncertain_band", None) or (thr, thr)) if r is not None else (thr, thr)
        model = self.heat_model.currentText()
        show_heat = self.heat_toggle.isChecked() and bool(model)
        boxes = []
        for i, f in enumerate(self.faces):
            p = f.p_fake
            label = "" if p is None else f"{100 * p:.0f}%"
            if getattr(f, "track_id", None) is not None:
                label = f"#{f.track_id}  {label}".strip()
            boxes.append(BoxOverlay(tuple(f.box), face_verdict(p, thr, band), label,
                                    self._heat_image(i, f, model) if show_heat else None))
        self.canvas.set_boxes(boxes, self.face_index)
        self.canvas.set_show_heat(show_heat)
        # side panel: the selected face
        face = self.faces[self.face_index] if 0 <= self.face_index < len(self.faces) else None
        any_heat = any(getattr(f, "heatmaps", None) for f in self.faces)
        if r is None:
            self.heat_note.setText("")
        elif not self.faces:
            self.heat_note.setText("")
        elif not any_heat:
            self.heat_note.setText("No heatmaps: turn on “Explain with Grad-CAM” and analyse again (Ctrl+R).")
        else:
            self.heat_note.setText("")
        self.heat_toggle.setEnabled(any_heat)
        crop = getattr(face, "crop", None) if face is not None else None
        if crop is None:
            self.crop.setPixmap(QPixmap())
            self.crop.setText("No face" if r is not None else "")
        else:
            rgb = crop
            heat = (getattr(face, "heatmaps", None) or {}).get(model) if show_heat else None
            if heat is not None:
                rgb = blend_heatmap(crop, heat)
            pm = QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
                CROP_SIDE - 4, CROP_SIDE - 4, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
            self.crop.setPixmap(pm)
        if face is None:
            self.face_label.setText("" if r is None else "No face in this " + ("frame" if self.frame_index is not None else "image"))
        else:
            p = face.p_fake
            score = "" if p is None else f" · P(fake) {100 * p:.1f}%"
            self.face_label.setText(f"Face {self.face_index + 1} of {len(self.faces)}{score}"
                                    + ("\nClick a box to choose another face" if len(self.faces) > 1 else ""))

    # ------------------------------------------------------------------ theme
    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if self.entry is not None:
                self._render_header()
        super().changeEvent(event)


def _one_frame(path: Path, index: int):
    frames, full = read_video_frames(path, [index])
    img = frames.get(index)
    if img is None:
        # a frame past the real end (some containers report a wrong length): show frame 0
        frames, full = read_video_frames(path, [0])
        img = frames.get(0, QImage())
    return img, full
