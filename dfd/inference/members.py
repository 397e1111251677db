"""The ensemble's members as the engine holds them, and the crops each one is fed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from dfd.errors import DfdError
from dfd.faces import Face

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
    _predict: Callable | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"

    @property
    def stage_key(self) -> tuple:
        fs = self.face_stage
        return (fs["mode"], float(fs["margin"]), int(fs["crop_size"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's raw P(fake) of a float32 batch ``(n, h, w, 3)``, as ``(n,)``."""
        return self.predict_with_features(x)[0]

    @property
    def runtime(self) -> str | None:
        """What scores this member: "TensorFlow Lite" or "TensorFlow" (None before its first call)."""
        if self._predict is None:
            return None
        from dfd.inference.lite import LitePredictor

        return "TensorFlow Lite" if isinstance(self._predict, LitePredictor) else "TensorFlow"

    def predict_with_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw P(fake) ``(n,)`` and the features the out-of-domain scorer reads ``(n, d)``
        (:func:`dfd.models.features.feature_model`), from one call of one compiled function:
        TensorFlow Lite's (:mod:`dfd.inference.lite`), else TensorFlow's graph."""
        if self._predict is None:
            from dfd.inference.lite import lite_predict

            self._predict = lite_predict(self.model, self.input_size) or compiled_predict(self.model, self.input_size)
        return self._predict(x)


def compiled_predict(model, input_size: tuple[int, int]) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``model``'s predict step with its features as one graph for every batch size:
    ``(n, h, w, 3)`` float32 in, P(fake) ``(n,)`` and features ``(n, d)`` out.

    ``predict_on_batch`` traces a graph per new batch shape before it relaxes the shape, and
    TensorFlow logs "triggered tf.function retracing" once a few members (all the same Keras
    code) have traced. One concrete function with batch dimension None, traced here, serves
    every batch; it runs the same ops, so the scores are bit-identical to
    ``predict_on_batch``'s at each batch size (tests/test_inference.py). Padding batches to
    fixed sizes would not be: a row's last bits depend on the batch it is computed in."""
    import tensorflow as tf

    from dfd.models.features import feature_model

    both = feature_model(model)
    spec = tf.TensorSpec((None, int(input_size[0]), int(input_size[1]), 3), tf.float32)
    graph = tf.function(lambda x: both(x, training=False), input_signature=[spec],
                        reduce_retracing=True).get_concrete_function()

    def predict(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, features = graph(tf.convert_to_tensor(x, tf.float32))
        return np.asarray(p).reshape(-1), np.asarray(features)

    return predict


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
