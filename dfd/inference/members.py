"""The ensemble's members as the engine holds them, and the crops each one is fed."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dfd.errors import DfdError
from dfd.faces.stage import Face

DEFAULT_FACE_STAGE = {"mode": "detect", "margin": 0.3, "crop_size": 128}
# "whole"-mode models (trained on pre-aligned crops): the image counts as pre-aligned when
# the main face box covers at least this share of both image sides.
PREALIGNED_MIN_SHARE = 0.4


@dataclass
class _Member:
    name: str
    model: object
    card: dict
    sha256: str
    input_size: tuple[int, int]  # (h, w)
    face_stage: dict

    @property
    def id(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"

    @property
    def stage_key(self) -> tuple:
        fs = self.face_stage
        return (fs["mode"], float(fs["margin"]), int(fs["crop_size"]))


def _face_stage(card: dict) -> dict:
    fs = dict(DEFAULT_FACE_STAGE)
    given = card.get("face_stage") if isinstance(card, dict) else None
    if isinstance(given, dict):
        for key in ("mode", "margin", "crop_size"):
            if given.get(key) is not None:
                fs[key] = given[key]
    if fs["mode"] not in ("detect", "whole"):
        raise DfdError(f"model card face_stage.mode must be 'detect' or 'whole', not {fs['mode']!r}")
    fs["margin"] = float(fs["margin"])
    fs["crop_size"] = int(fs["crop_size"])
    if fs["crop_size"] < 16:
        raise DfdError(f"model card face_stage.crop_size {fs['crop_size']} is too small")
    return fs


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-shrink or linear-enlarge, as :func:`dfd.training.input_pipeline.load_images` does in training."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    interp = cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


def _centre_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """What :class:`~dfd.faces.stage.FaceCropper` does in ``"whole"`` mode."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def _is_prealigned(face: Face, shape) -> bool:
    h, w = shape[:2]
    return face.box[2] >= PREALIGNED_MIN_SHARE * w and face.box[3] >= PREALIGNED_MIN_SHARE * h


@dataclass
class _Candidate:
    """One face to score: where it is and its crop per face-stage setting."""

    face: Face
    crops: dict  # stage_key -> uint8 crop
    frame_index: int | None = None
    track_id: int | None = None
