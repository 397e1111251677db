"""The one face detector of dfd: MTCNN (bundled weights, offline) compiled to graphs, batched.

Every user — data preparation, the dataset builds, clip crops and tracking, the inference
engine — runs :class:`FaceDetector`; they differ only in their :class:`DetectorSettings`,
named below (``INFERENCE``, ``DATA_PREP``, ...). One rule turns settings into the image MTCNN
searches (:meth:`DetectorSettings.scale`): the image is shrunk so that a ``min_face_size``
face (px in the ORIGINAL image) becomes MTCNN's 12 px window, and its longer side is at most
``max_side``; it is never enlarged. MTCNN then always runs with ``min_face_size=12``, so its
pyramid starts at scale 1 and only shrinks. That also keeps mtcnn 1.0 safe: with
``min_face_size`` > 12 its pyramid gets levels under 12 px, PNet fails on them and *every*
face of the image is silently lost (e.g. ``single_face.jpg`` at 384 px with
``min_face_size=27``; at 24 and more it finds nothing at all).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from dfd.faces.types import LANDMARK_NAMES, Face

MTCNN_WINDOW = 12  # px: the smallest face MTCNN's proposal network sees at scale 1


@dataclass(frozen=True)
class DetectorSettings:
    """What a detection depends on besides the pixels."""

    max_side: int  # px: longest side of the image MTCNN searches
    min_face_size: float  # px in the original image: the smallest face looked for
    min_confidence: float = 0.9  # MTCNN's final (ONet) score a face needs

    def __post_init__(self):
        if not self.max_side >= MTCNN_WINDOW:
            raise ValueError(f"max_side must be at least {MTCNN_WINDOW} px, not {self.max_side!r}")
        if not self.min_face_size > 0:
            raise ValueError(f"min_face_size must be a positive number of pixels, not {self.min_face_size!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence!r}")

    def scale(self, height: int, width: int) -> float:
        """The one rule: how much an image of ``height`` x ``width`` is shrunk for MTCNN (at
        most 1)."""
        return min(1.0, self.max_side / max(height, width), MTCNN_WINDOW / max(1.0, float(self.min_face_size)))

    def detection_size(self, height: int, width: int) -> tuple[int, int] | None:
        """``(width, height)`` of the copy MTCNN searches, or None when that copy (or the
        image) cannot hold one 12 px window."""
        scale = self.scale(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if min(size) < MTCNN_WINDOW or min(height, width) < MTCNN_WINDOW:
            return None
        return size

    def to_dict(self) -> dict:
        return asdict(self)


# The settings of each user, in one place. Each keeps the smallest face and the search scale
# it had before the detectors were unified (eager MTCNN given min_face_size on a max_side copy).
# The engine (`dfd scan`, the app): a 1024 px photo is searched at 307 px, which keeps every
# face >= 40 px. On the 2-core dev CPU that takes ~60 ms (unloaded) vs ~500 ms for plain MTCNN
# at full size (scripts/bench_inference.py); landmarks stay within ~5% of the inter-ocular
# distance of a full-resolution detection, ~1.5 px in a 128 px crop.
INFERENCE = DetectorSettings(max_side=384, min_face_size=40)
# Data preparation (FaceCropper) and the video dataset's photos: faces from 20 px, photos
# searched at <= 640 px.
DATA_PREP = DetectorSettings(max_side=640, min_face_size=20)
# The default dataset's choice of real photos: faces from 16 px, searched at <= 640 px.
DEFAULT_DATASET = DetectorSettings(max_side=640, min_face_size=16)
# Clip crops, video scoring and the video study: once a 320 px copy searched from 20 px faces,
# i.e. a 192 px copy searched from MTCNN's 12 px window (faces fill a good part of a video; a
# 720p frame is searched from 80 px faces, and from 40 px by track_main_face's finer retry).
VIDEO = DetectorSettings(max_side=192, min_face_size=20)
# The video dataset's source videos (360p-540p): faces from 20 px, searched at <= 480 px (what
# a 320 px copy came to when MTCNN was given 8-20 px faces on it, i.e. enlarged it up to 1.5x).
VIDEO_SOURCES = DetectorSettings(max_side=480, min_face_size=20)


def faces_from_mtcnn(raw, sx: float, sy: float, min_confidence: float) -> list[Face]:
    """The one parser of MTCNN output: its detections on a copy resized by ``sx``, ``sy``
    (copy px per original px) -> :class:`Face` objects in the original image's coordinates,
    confident ones only, largest first, landmarks image-left first (as everywhere in dfd)."""
    faces = []
    for r in raw or []:
        if not isinstance(r, dict) or float(r["confidence"]) < min_confidence:
            continue
        x, y, bw, bh = (float(v) for v in r["box"])
        kp = r["keypoints"]
        pts = np.array([kp[name] for name in LANDMARK_NAMES], dtype=np.float64) / [sx, sy]
        if pts[0, 0] > pts[1, 0]:  # MTCNN names eyes from the viewer's side already; make sure
            pts[[0, 1]] = pts[[1, 0]]
        if pts[3, 0] > pts[4, 0]:
            pts[[3, 4]] = pts[[4, 3]]
        faces.append(Face((x / sx, y / sy, bw / sx, bh / sy), float(r["confidence"]), pts))
    faces.sort(key=lambda f: -f.area)
    return faces


_SHARED_MTCNN = None
_SHARED_MTCNN_LOCK = threading.RLock()  # MTCNN's TF graphs are not re-entrant


def _compiled(net, tf):
    """``net`` as one traced graph (free batch/height/width). An empty batch — no face
    proposals left for RNet/ONet — raises the InvalidArgumentError mtcnn expects for "no
    faces" right away, instead of failing inside the graph with a logged kernel error."""
    graph = tf.function(net, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
                        reduce_retracing=True)

    def call(x, *args, **kwargs):
        x = tf.convert_to_tensor(x, tf.float32)
        if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
            raise tf.errors.InvalidArgumentError(None, None, "no face proposals")
        return graph(x)

    call._dfd_compiled = True
    return call


def compiled_mtcnn():
    """The process's one MTCNN, its three networks run as traced ``tf.function`` graphs
    instead of layer-by-layer eager Keras calls: same weights, same boxes, 2.5-4x faster on
    CPU (one signature with free batch/height/width, so every pyramid level shares one trace
    per network). Built on first use (TensorFlow is imported here)."""
    global _SHARED_MTCNN
    if _SHARED_MTCNN is None:
        with _SHARED_MTCNN_LOCK:
            if _SHARED_MTCNN is None:
                import tensorflow as tf
                from mtcnn import MTCNN

                mtcnn = MTCNN(device="CPU:0")
                for stage in getattr(mtcnn, "stages", []):
                    net = getattr(stage, "_model", None)
                    if net is not None and not getattr(net, "_dfd_compiled", False):
                        stage._model = _compiled(net, tf)
                _SHARED_MTCNN = mtcnn
    return _SHARED_MTCNN


class FaceDetector:
    """Faces in images: ``detect(rgb)``, or ``detect_batch(images)`` where same-sized images
    (video frames) share one MTCNN call per ``batch_size`` images. ``FaceDetector(VIDEO)``;
    keyword arguments change single settings (``FaceDetector(DATA_PREP, max_side=320)``).
    Every instance shares the process's one compiled MTCNN (:func:`compiled_mtcnn`), so
    instances cost nothing and are safe to use from several threads."""

    VERSION = 2  # bump when detection changes: part of cache_tag (2: one compiled detector, MTCNN at 12 px)

    def __init__(self, preset: DetectorSettings = DATA_PREP, **changes):
        if not isinstance(preset, DetectorSettings):
            raise TypeError(f"preset must be DetectorSettings (e.g. dfd.faces.detection.VIDEO), not {preset!r}")
        self._config = replace(preset, **changes) if changes else preset

    @property
    def config(self) -> DetectorSettings:
        return self._config

    @property
    def settings(self) -> dict:
        """What a detection depends on besides the pixels (part of the face-crop cache key)."""
        return self._config.to_dict()

    @property
    def cache_tag(self) -> str:
        """A short name for "detections made this way" (detector version and settings), for
        caches of detections keyed by file."""
        key = json.dumps({"v": self.VERSION, **self.settings}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:10]

    @property
    def max_side(self) -> int:
        return self._config.max_side

    @property
    def min_face_size(self) -> float:
        return self._config.min_face_size

    @property
    def min_confidence(self) -> float:
        return self._config.min_confidence

    @property
    def networks(self):
        """The compiled MTCNN this detector runs (one per process)."""
        return compiled_mtcnn()

    def with_settings(self, **changes) -> FaceDetector:
        """A detector with some settings changed (e.g. a finer ``max_side``), on the same
        compiled networks."""
        return type(self)(self._config, **changes)

    def scale(self, height: int, width: int) -> float:
        return self._config.scale(height, width)

    def __repr__(self) -> str:
        return f"FaceDetector({self._config!r})"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images, batch_size: int = 32) -> list[list[Face]]:
        """Faces of each (H, W, 3) image, largest first."""
        images = list(images)
        out: list[list[Face] | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, im in enumerate(images):
            if getattr(im, "ndim", 0) != 3 or im.shape[2] != 3:
                raise ValueError(f"face detection takes (H, W, 3) RGB images, got shape {getattr(im, 'shape', None)}")
            groups.setdefault(tuple(im.shape[:2]), []).append(i)
        for (h, w), members in groups.items():
            size = self._config.detection_size(h, w)
            if size is None:
                for i in members:
                    out[i] = []
                continue
            shrink = self._config.scale(h, w) < 1.0
            sx, sy = size[0] / w, size[1] / h  # exact back-projection (sizes are rounded)
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                small = [np.ascontiguousarray(cv2.resize(images[i], size, interpolation=cv2.INTER_AREA)
                                              if shrink else images[i]) for i in chunk]
                with _SHARED_MTCNN_LOCK:
                    raw = self.networks.detect_faces(small if len(small) > 1 else small[0],
                                                     min_face_size=MTCNN_WINDOW)
                if len(small) == 1:
                    raw = [raw]
                raw = list(raw) + [[] for _ in range(len(chunk) - len(raw))]
                for i, r in zip(chunk, raw):
                    out[i] = faces_from_mtcnn(r, sx, sy, self._config.min_confidence)
        return [f if f is not None else [] for f in out]
