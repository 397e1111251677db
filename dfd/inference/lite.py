"""A member's predict graph run by TensorFlow Lite (XNNPACK kernels) instead of TensorFlow.

Same inputs, same two outputs as :func:`dfd.inference.members.compiled_predict` (P(fake)
``(n,)`` and the out-of-domain features ``(n, d)``), from the same Keras graph with its
weights frozen. Why: on the 2-core dev CPU the three 96 px dfd-default members score 32
crops in 0.27 s this way against 0.66 s through TensorFlow's graph, and one photo's crop
in ~2.5 ms per member; the scores differ from ``predict_on_batch``'s by float32 rounding
only (measured |diff| <= ~5e-7; every conversion is checked against Keras on a probe batch
before it is used, see :data:`PROBE_ATOL`).

The conversion takes 1-2 s per member, so the flatbuffer is kept in
``<cache>/lite/`` under a key of the model's architecture, weights, input size and the
TensorFlow version: a member is converted once per machine. When TensorFlow Lite is
missing, a conversion fails or its check does not pass, or ``DFD_LITE=0`` is set, the
member keeps TensorFlow's graph (``lite_predict`` returns ``None``)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dfd.io.hashing import sha256_arrays, sha256_text
from dfd.paths import cache_dir

LITE_VERSION = 1  # bump when the conversion changes: part of the cache key
PROBE_ATOL = 1e-4  # largest |P(fake) difference| to Keras a conversion may show on the probe batch
PROBE_FEATURES_RTOL = 1e-3  # features: relative to their largest magnitude on the probe batch

log = logging.getLogger(__name__)


def lite_enabled() -> bool:
    """False when the user set ``DFD_LITE=0`` (TensorFlow's graph for every member)."""
    return os.environ.get("DFD_LITE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_key(model, input_size: tuple[int, int]) -> str:
    """What a converted flatbuffer depends on: architecture, weights, input size, TF version."""
    import tensorflow as tf

    what = "|".join([f"lite{LITE_VERSION}", tf.__version__, f"{input_size[0]}x{input_size[1]}",
                     model.to_json(), sha256_arrays(model.get_weights())])
    return sha256_text(what)[:32]


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
    flatbuffer with batch dimension None, and the names of its two outputs (P(fake) first)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from dfd.models.features import feature_model

    both = feature_model(_unrolled(model))
    spec = tf.TensorSpec((None, int(input_size[0]), int(input_size[1]), 3), tf.float32)
    graph = tf.function(lambda x: both(x, training=False), input_signature=[spec]).get_concrete_function()
    # Frozen weights: TFLite cannot read resource variables inside the LSTM's while loop.
    frozen = convert_variables_to_constants_v2(graph)
    names = [t.name.split(":")[0] for t in frozen.outputs]
    # No trackable object: the converter's newer path renames the outputs and cannot lower
    # the LSTM's tensor lists; the frozen function needs none.
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    return converter.convert(), names


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """TFLite prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++ to fd 2 when
    an interpreter first allocates; nothing else is worth showing a user there."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LitePredictor:
    """One member's flatbuffer in one interpreter; callable like ``compiled_predict``'s
    function. The interpreter is resized when the batch size changes (~0.1 ms) and is not
    re-entrant, hence the lock."""

    def __init__(self, blob: bytes, output_names: list[str]):
        import tensorflow as tf

        with _quiet_stderr():  # XNNPACK is applied (and announced) at the first allocation
            self._it = tf.lite.Interpreter(model_content=blob, num_threads=max(1, os.cpu_count() or 1))
            self._it.allocate_tensors()
        inputs = self._it.get_input_details()
        outputs = {o["name"]: o for o in self._it.get_output_details()}
        if len(inputs) != 1 or sorted(outputs) != sorted(output_names) or len(output_names) != 2:
            raise ValueError(f"converted model has inputs {len(inputs)} and outputs {sorted(outputs)}, "
                             f"not one input and {output_names}")
        self._input = inputs[0]["index"]
        self._p = outputs[output_names[0]]["index"]
        self._features = outputs[output_names[1]]["index"]
        self._d = int(outputs[output_names[1]]["shape_signature"][-1])
        self._shape = tuple(inputs[0]["shape"])
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros(0, np.float32), np.zeros((0, self._d), np.float32)
        with self._lock:
            if self._shape != x.shape:
                self._it.resize_tensor_input(self._input, list(x.shape), strict=True)
                self._it.allocate_tensors()
                self._shape = x.shape
            self._it.set_tensor(self._input, x)
            self._it.invoke()
            return self._it.get_tensor(self._p).reshape(-1).copy(), self._it.get_tensor(self._features).copy()


def _agrees(predictor: LitePredictor, model, input_size: tuple[int, int]) -> str | None:
    """None when the converted graph scores a probe batch like Keras does, else what differs."""
    from dfd.models.features import feature_model

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, int(input_size[0]), int(input_size[1]), 3)).astype(np.float32)
    p_ref, f_ref = (np.asarray(a) for a in feature_model(model).predict_on_batch(x))
    p, f = predictor(x)
    dp = float(np.max(np.abs(p - p_ref.reshape(-1))))
    df = float(np.max(np.abs(f - f_ref.reshape(f.shape)))) / max(1e-6, float(np.max(np.abs(f_ref))))
    if dp > PROBE_ATOL or df > PROBE_FEATURES_RTOL:
        return f"P(fake) differs by {dp:.2e}, features by {df:.2e} of their scale"
    return None


def _cached(key: str) -> Path:
    return cache_dir() / "lite" / f"{key}.tflite"


def _write(path: Path, blob: bytes, names: list[str]) -> None:
    """Atomically: a half-written flatbuffer is never read by another process."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as fh:
            fh.write(blob)
        os.replace(fh.name, path)
        path.with_suffix(".outputs").write_text("\n".join(names))
    except OSError as err:  # a read-only cache costs a conversion per start, nothing else
        log.warning("could not keep the converted model in %s: %s", path.parent, err)


def lite_predict(model, input_size: tuple[int, int]) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """``model``'s predict-with-features as a :class:`LitePredictor` (from the cache, else
    converted, checked and cached), or None where TensorFlow's graph has to serve."""
    if not lite_enabled():
        return None
    try:
        key = cache_key(model, input_size)
        path = _cached(key)
        names_file = path.with_suffix(".outputs")
        if path.is_file() and names_file.is_file():
            try:
                return LitePredictor(path.read_bytes(), names_file.read_text().split("\n"))
            except (ValueError, RuntimeError, OSError) as err:  # damaged cache entry: convert again
                log.warning("converted model %s unreadable (%s); converting again", path.name, err)
        blob, names = convert(model, input_size)
        predictor = LitePredictor(blob, names)
        problem = _agrees(predictor, model, input_size)
        if problem:
            log.warning("TensorFlow Lite conversion of %s not used: %s", model.name, problem)
            return None
        _write(path, blob, names)
        return predictor
    except Exception as err:  # noqa: BLE001 — any conversion failure leaves TensorFlow's graph in place
        log.warning("TensorFlow Lite conversion of %s failed (%s); using TensorFlow", getattr(model, "name", "?"), err)
        return None
