"""Face crops of files: detect, choose the main face, align it (or take a pre-aligned image
whole), and cache the crop on disk keyed by the source file's hash and the parameters, so a
re-run only reads JSON."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from dfd.errors import BadInputError
from dfd.faces.alignment import align_face, choose_main_face, template_points
from dfd.faces.detection import DATA_PREP, FaceDetector
from dfd.faces.types import Face
from dfd.io.hashing import sha256_file
from dfd.io.images import load_image, save_png


def centre_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The "whole" crop of a pre-aligned face image: the image itself when it is ``size``
    square already, else its centre square area-resized to ``size``."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)


@dataclass
class CropRecord:
    """What the face stage did with one source file."""

    source_path: str
    status: str  # "ok" | "no_face" | "error"
    reason: str = ""
    crop_path: str = ""
    sha256: str = ""
    n_faces: int = 0
    face: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class FaceCropper:
    """Runs the face stage on files and caches the results under ``cache_dir``.

    ``mode="detect"`` finds and aligns the main face; ``mode="whole"`` is for datasets whose
    images already are aligned face crops (e.g. 140k Real and Fake Faces): the image is used
    as it is (resized only if needed), which keeps the generator's pixel-level traces that
    a re-warp would smooth away."""

    # bump when the crop algorithm changes, to invalidate caches (2: min_face_size range fix;
    # 3: the one graph-compiled detector, MTCNN pinned to its 12 px window)
    VERSION = 3

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        size: int = 128,
        margin: float = 0.3,
        mode: str = "detect",
        detector: FaceDetector | None = None,
    ):
        if mode not in ("detect", "whole"):
            raise ValueError(f"mode must be 'detect' or 'whole', not {mode!r}")
        self.cache_dir = Path(cache_dir)
        self.size = int(size)
        self.margin = float(margin)
        self.mode = mode
        self.detector = detector or (FaceDetector(DATA_PREP) if mode == "detect" else None)

    @property
    def params(self) -> dict:
        """Everything a crop depends on; it names the cache entries, so changing any of it
        (including the detector's settings) never reuses a crop made the old way."""
        params = {"v": self.VERSION, "size": self.size, "margin": self.margin, "mode": self.mode}
        if self.mode == "detect":
            params["detector"] = self.detector.settings
        return params

    def _key(self, sha: str) -> str:
        tag = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:10]
        return f"{sha[:32]}_{tag}"

    def crop_array(self, rgb: np.ndarray) -> tuple[np.ndarray | None, list[Face], Face | None]:
        """Crop an in-memory image. Returns (crop or None, all faces, chosen face)."""
        if self.mode == "whole":
            h, w = rgb.shape[:2]
            face = Face((0.0, 0.0, float(w), float(h)), 1.0, template_points(1, 0) * [w, h])
            return centre_square(rgb, self.size), [face], face
        faces = self.detector.detect(rgb)
        main = choose_main_face(faces, rgb.shape)
        if main is None:
            return None, faces, None
        crop, _ = align_face(rgb, main.landmarks, self.size, self.margin)
        return crop, faces, main

    def process(self, path: str | os.PathLike) -> CropRecord:
        """Face-stage one file; never raises for a bad file — the reason is in the record."""
        path = str(path)
        try:
            sha = sha256_file(path)
        except OSError as exc:
            return CropRecord(path, "error", f"cannot read file: {exc.strerror or exc}")
        key = self._key(sha)
        meta_path = self.cache_dir / f"{key}.json"
        if meta_path.exists():
            try:
                record = CropRecord(**json.loads(meta_path.read_text()))
                if record.status != "ok" or Path(record.crop_path).exists():
                    record.source_path = path
                    return record
            except (ValueError, TypeError):
                pass  # a damaged cache entry is rebuilt below
        try:
            rgb = load_image(path)
            crop, faces, main = self.crop_array(rgb)
        except BadInputError as exc:
            record = CropRecord(path, "error", exc.reason, sha256=sha)
        else:
            if crop is None:
                record = CropRecord(path, "no_face", "no face found", sha256=sha, n_faces=0)
            else:
                crop_path = self.cache_dir / f"{key}.png"
                save_png(crop_path, crop)
                record = CropRecord(
                    path, "ok", "", str(crop_path), sha, len(faces), main.to_dict() if main else None
                )
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(record.to_dict()))
        return record
