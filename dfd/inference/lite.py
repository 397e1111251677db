"""A member's predict graph run by TensorFlow Lite (:mod:`dfd.lite`) instead of TensorFlow.

Same inputs, same two outputs as :func:`dfd.inference.members.compiled_predict` (P(fake)
``(n,)`` and the out-of-domain features ``(n, d)``), from the same Keras graph with its
weights frozen. On the 2-core dev CPU the three 96 px dfd-default members score 32 crops in
0.27 s this way against 0.66 s through TensorFlow's graph, and one photo's crop in ~2.5 ms
per member; the scores differ from ``predict_on_batch``'s by float32 rounding (measured
|diff| <= ~5e-7). Every conversion is checked against Keras on a probe batch before it is
used or kept (:data:`PROBE_ATOL`). When TensorFlow Lite is missing, a conversion fails or
its check does not pass, or ``DFD_LITE=0`` is set, :func:`lite_predict` returns None and
the member keeps TensorFlow's graph."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from dfd import lite
from dfd.io.hashing import sha256_arrays, sha256_text

PROBE_ATOL = 1e-4  # largest |P(fake) difference| to Keras a conversion may show on the probe batch
PROBE_FEATURES_RTOL = 1e-3  # features: relative to their largest magnitude on the probe batch

log = logging.getLogger(__name__)


def cache_key(model, input_size: tuple[int, int]) -> str:
    """What a member's flatbuffer depends on: architecture, weights and input size."""
    return sha256_text(lite.describe("member", f"{input_size[0]}x{input_size[1]}", model.to_json(),
                                     sha256_arrays(model.get_weights())))


def _unrolled(model):
    """``model`` with its recurrent layers unrolled (same weights, same arithmetic): with
    the batch dimension left open TFLite cannot lower a recurrent while loop, and the
    CNN-LSTM's sequence (feature-map rows) is a few steps long."""
    import keras

    def unroll(config: dict) -> dict:
        config = dict(config)
        for key in ("layer", "backward_layer"):  # Bidirectional's wrapped layers
            if isinstance(config.get(key), dict):
                config[key] = {**config[key], "config": unroll(config[key]["config"])}
        if "unroll" in config:
            config["unroll"] = True
        return config

    recurrent = (keras.layers.RNN, keras.layers.Bidirectional)
    if not any(isinstance(layer, recurrent) for layer in model.layers):  # clone_model reaches these
        return model

    def clone(layer):
        if isinstance(layer, recurrent):
            return layer.__class__.from_config(unroll(layer.get_config()))
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def convert(model, input_size: tuple[int, int]) -> tuple[bytes, list[str]]:
    """``model`` with its features (:func:`dfd.models.features.feature_model`) as a TFLite
    flatbuffer with batch dimension None, and its output names (P(fake) first)."""
    import tensorflow as tf

    from dfd.models.features import feature_model

    both = feature_model(_unrolled(model))
    spec = tf.TensorSpec((None, int(input_size[0]), int(input_size[1]), 3), tf.float32)
    return lite.convert(lambda x: both(x, training=False), spec)


class LitePredictor:
    """Callable like ``compiled_predict``'s function: float32 ``(n, h, w, 3)`` in, P(fake)
    ``(n,)`` and features ``(n, d)`` out."""

    def __init__(self, graph: lite.LiteGraph):
        self.graph = graph
        self._d = int(graph.output_shapes()[1][-1])

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(x) == 0:
            return np.zeros(0, np.float32), np.zeros((0, self._d), np.float32)
        p, features = self.graph(x)
        return p.reshape(-1), features


def _disagreement(model, input_size: tuple[int, int]) -> Callable[[lite.LiteGraph], str | None]:
    """A check for a fresh conversion: None when it scores a probe batch as Keras does."""
    from dfd.models.features import feature_model

    def check(graph: lite.LiteGraph) -> str | None:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (4, int(input_size[0]), int(input_size[1]), 3)).astype(np.float32)
        p_ref, f_ref = (np.asarray(a) for a in feature_model(model).predict_on_batch(x))
        p, f = LitePredictor(graph)(x)
        dp = float(np.max(np.abs(p - p_ref.reshape(-1))))
        df = float(np.max(np.abs(f - f_ref.reshape(f.shape)))) / max(1e-6, float(np.max(np.abs(f_ref))))
        if dp > PROBE_ATOL or df > PROBE_FEATURES_RTOL:
            return f"not used: P(fake) differs from Keras by {dp:.2e}, features by {df:.2e} of their scale"
        return None

    return check


def lite_predict(model, input_size: tuple[int, int]) -> LitePredictor | None:
    """``model``'s predict-with-features as a :class:`LitePredictor` (kept, else converted,
    checked and kept), or None where TensorFlow's graph has to serve."""
    if not lite.lite_enabled():
        return None
    try:
        graph = lite.cached_conversion(cache_key(model, input_size), lambda: convert(model, input_size),
                                       check=_disagreement(model, input_size))
        return LitePredictor(graph)
    except Exception as err:  # noqa: BLE001 — any failure leaves TensorFlow's graph in place
        log.warning("TensorFlow Lite for %s: %s; using TensorFlow", getattr(model, "name", "?"), err)
        return None
