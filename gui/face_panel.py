"""The selected face: its aligned crop (with the chosen model's Grad-CAM blended over it
when the heatmap is on), its P(fake), and the heatmap controls."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
)

from .builders import muted_label
from .formatting import percent
from .heatmaps import blend_heatmap
from .qimages import rgb_to_qimage

CROP_SIDE = 160


class FacePanel(QGroupBox):
    """``heatChanged`` follows the heatmap toggle and the choice of model."""

    heatChanged = Signal()

    def __init__(self, parent=None):
        super().__init__("Face", parent)
        lay = QVBoxLayout(self)
        self.crop = QLabel()
        self.crop.setFixedSize(CROP_SIDE, CROP_SIDE)
        self.crop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.crop.setFrameShape(QFrame.Shape.StyledPanel)
        self.crop.setAccessibleName("Aligned face crop")
        lay.addWidget(self.crop, 0, Qt.AlignmentFlag.AlignHCenter)
        self.face_label = QLabel()
        self.face_label.setWordWrap(True)
        self.face_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.face_label)
        row = QHBoxLayout()
        self.heat_toggle = QCheckBox("Grad-CAM heatmap")
        self.heat_toggle.setToolTip(
            "Blend the selected model's Grad-CAM over the face: warm colours mark where it found "
            "evidence of manipulation. On the photo the map is stretched over the face box "
            "(approximate: the crop is aligned and has a margin).")
        self.heat_toggle.toggled.connect(lambda _on: self.heatChanged.emit())
        row.addWidget(self.heat_toggle)
        self.heat_model = QComboBox()
        self.heat_model.setToolTip("Model whose Grad-CAM is shown")
        self.heat_model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.heat_model.currentIndexChanged.connect(lambda _i: self.heatChanged.emit())
        row.addWidget(self.heat_model, 1)
        lay.addLayout(row)
        self.heat_note = muted_label()
        lay.addWidget(self.heat_note)

    @property
    def heat_on(self) -> bool:
        """The heatmap is to be shown: toggled on and a model chosen."""
        return self.heat_toggle.isChecked() and bool(self.heat_model.currentText())

    def set_models(self, models: list[str]) -> None:
        """The models with heatmaps for the faces shown (the choice is kept if still there)."""
        current = self.heat_model.currentText()
        self.heat_model.blockSignals(True)
        self.heat_model.clear()
        self.heat_model.addItems(models)
        if current in models:
            self.heat_model.setCurrentText(current)
        self.heat_model.blockSignals(False)
        self.heat_model.setEnabled(bool(models))

    def show_face(self, face, number: int, of: int, analysed: bool, in_video: bool, any_heat: bool) -> None:
        """Face ``number`` (0-based) of ``of`` on the picture, or none (``face`` None);
        ``analysed``: a result is shown at all; ``any_heat``: some face has heatmaps."""
        if analysed and of and not any_heat:
            self.heat_note.setText("No heatmaps: turn on “Explain with Grad-CAM” and analyse again (Ctrl+R).")
        else:
            self.heat_note.setText("")
        self.heat_toggle.setEnabled(any_heat)
        crop = getattr(face, "crop", None) if face is not None else None
        if crop is None:
            self.crop.setPixmap(QPixmap())
            self.crop.setText("No face" if analysed else "")
        else:
            heat = (getattr(face, "heatmaps", None) or {}).get(self.heat_model.currentText()) if self.heat_on else None
            rgb = blend_heatmap(crop, heat) if heat is not None else np.asarray(crop)
            pm = QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
                CROP_SIDE - 4, CROP_SIDE - 4, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
            self.crop.setPixmap(pm)
        if face is None:
            self.face_label.setText("No face in this " + ("frame" if in_video else "image") if analysed else "")
        else:
            score = "" if face.p_fake is None else f" · P(fake) {percent(face.p_fake)}"
            self.face_label.setText(f"Face {number + 1} of {of}{score}"
                                    + ("\nClick a box to choose another face" if of > 1 else ""))
