"""Face stage: detect (MTCNN), choose the main face, align on its 5 landmarks, crop with a
margin, resize — and cache the crop on disk keyed by the source file's hash and the
parameters, so a re-run only reads JSON.

Landmark order everywhere in dfd: left eye, right eye, nose, mouth left, mouth right, where
"left" means image-left (smaller x)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dfd.errors import BadInputError
from dfd.io.images import load_image, save_png
from dfd.io.hashing import sha256_file

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# ArcFace's 112x112 five-point template, normalised to the unit square.
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE_UNIT = _TEMPLATE_112 / 112.0


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    score: float
    landmarks: np.ndarray = field(repr=False)  # (5, 2) x, y in image pixels

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": np.round(np.asarray(self.landmarks, dtype=float), 2).tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Face":
        return cls(tuple(d["box"]), float(d["score"]), np.asarray(d["landmarks"], dtype=np.float64))


def faces_from_mtcnn(raw: list[dict], scale: float, min_confidence: float) -> list[Face]:
    """MTCNN's detections on an image shrunk by ``scale`` -> :class:`Face` objects in the
    original image's coordinates, confident ones only, largest first."""
    faces = []
    for r in raw:
        if float(r["confidence"]) < min_confidence:
            continue
        x, y, bw, bh = (float(v) / scale for v in r["box"])
        kp = r["keypoints"]
        pts = np.array([kp[name] for name in LANDMARK_NAMES], dtype=np.float64) / scale
        # MTCNN names eyes from the viewer's side already; keep image-left first regardless.
        if pts[0, 0] > pts[1, 0]:
            pts[[0, 1]] = pts[[1, 0]]
        if pts[3, 0] > pts[4, 0]:
            pts[[3, 4]] = pts[[4, 3]]
        faces.append(Face((x, y, bw, bh), float(r["confidence"]), pts))
    faces.sort(key=lambda f: -f.area)
    return faces


class FaceDetector:
    """MTCNN (bundled weights, offline) with a size cap: detection runs on a copy whose
    longer side is at most ``max_side`` and boxes are scaled back, which keeps large photos
    fast without losing faces that fill a reasonable part of the frame."""

    def __init__(self, min_confidence: float = 0.9, max_side: int = 640, min_face_size: int = 20):
        self.min_confidence = min_confidence
        self.max_side = max_side
        self.min_face_size = min_face_size
        self._mtcnn = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> dict:
        """What a detection depends on besides the pixels (part of the face-crop cache key)."""
        return {"min_confidence": self.min_confidence, "max_side": self.max_side,
                "min_face_size": self.min_face_size}

    def _model(self):
        if self._mtcnn is None:
            from mtcnn import MTCNN  # heavy import (TensorFlow) deferred to first use

            self._mtcnn = MTCNN(device="CPU:0")
        return self._mtcnn

    def detect(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        if min(h, w) < 12:  # MTCNN's smallest window
            return []
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        # mtcnn 1.0 builds pyramid levels under its 12 px window, and then silently finds nothing,
        # when min_face_size is 24 or more: keep it in the range that works
        min_face = int(np.clip(round(self.min_face_size * scale), 12, 22))
        with self._lock:  # MTCNN's TF graphs are not re-entrant
            raw = self._model().detect_faces(np.ascontiguousarray(small), min_face_size=min_face)
        return faces_from_mtcnn(raw, scale, self.min_confidence)


def choose_main_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The face a person would call "the" face: large, confident and near the centre."""
    if not faces:
        return None
    h, w = image_shape[:2]
    diag = float(np.hypot(w, h))

    def weight(f: Face) -> float:
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        off_centre = np.hypot(cx - w / 2, cy - h / 2) / diag
        return f.area * f.score * (1.0 - 0.5 * off_centre)

    return max(faces, key=weight)


def template_points(size: int, margin: float) -> np.ndarray:
    """Where the five landmarks land in a ``size`` crop; ``margin`` adds context around the
    tight ArcFace framing (0.3 → the tight box covers 1/1.3 of the crop)."""
    scale = 1.0 / (1.0 + margin)
    return ((TEMPLATE_UNIT - 0.5) * scale + 0.5) * size


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float) -> np.ndarray:
    """2x3 similarity transform taking image landmarks to the crop template."""
    dst = template_points(size, margin)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64), dst, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on a line): fall back to the eye pair only
        matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64)[:3], dst[:3])
    if matrix is None:
        raise BadInputError("face landmarks are degenerate; cannot align")
    return matrix


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = 128, margin: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Crop and align a face. Returns ``(crop, matrix)`` where ``matrix`` maps image → crop.

    When the crop shrinks the face a lot, the image is first reduced with area
    interpolation so the warp does not alias."""
    matrix = alignment_matrix(landmarks, size, margin)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    src = rgb
    pre = 1.0
    if scale < 0.5:
        pre = scale * 1.5
        h, w = rgb.shape[:2]
        src = cv2.resize(rgb, (max(1, round(w * pre)), max(1, round(h * pre))), interpolation=cv2.INTER_AREA)
        matrix = alignment_matrix(np.asarray(landmarks) * pre, size, margin)
    crop = cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if pre != 1.0:  # report the matrix relative to the original image
        matrix = matrix @ np.array([[pre, 0, 0], [0, pre, 0], [0, 0, 1]], dtype=np.float64)
    return crop, matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


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

    VERSION = 2  # bump when the crop algorithm changes, to invalidate caches (2: min_face_size range fix)

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
        self.detector = detector or (FaceDetector() if mode == "detect" else None)

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
            crop = rgb
            if (h, w) != (self.size, self.size):
                side = min(h, w)  # centre square, then resize
                y0, x0 = (h - side) // 2, (w - side) // 2
                crop = cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (self.size, self.size), interpolation=cv2.INTER_AREA)
            face = Face((0.0, 0.0, float(w), float(h)), 1.0, template_points(1, 0) * [w, h])
            return crop, [face], face
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
