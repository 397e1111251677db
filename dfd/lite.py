"""Keras graphs run by TensorFlow Lite (XNNPACK kernels) instead of TensorFlow: the face
detector's three MTCNN networks (:mod:`dfd.faces.detection`) and the members' predict
graphs (:mod:`dfd.inference.lite`).

Why: on the 2-core dev CPU the small convolutions of both run 2-3x faster this way
(bench-video: MTCNN 0.82 -> 0.40 s, the three members 0.66 -> 0.27 s); the outputs differ
from TensorFlow's by float32 rounding (|diff| ~1e-6). A conversion takes up to 2 s, so
flatbuffers are kept under ``<cache>/lite/`` (:func:`dfd.paths.cache_dir`), keyed by what
they were made from: made once per machine. ``DFD_LITE=0`` turns TensorFlow Lite off
(every caller then keeps TensorFlow's graph)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dfd.paths import cache_dir

LITE_VERSION = 1  # bump when the conversion changes: part of every cache key
# Interpreters kept per input shape hold their tensors: at most this many input elements
# in all (64 MB of inputs, a few times that in activations).
MAX_KEPT_ELEMENTS = 16_000_000

log = logging.getLogger(__name__)


def lite_enabled() -> bool:
    """False when the user set ``DFD_LITE=0`` (or false / no / off)."""
    return os.environ.get("DFD_LITE", "1").strip().lower() not in ("0", "false", "no", "off")


def convert(fn, spec) -> tuple[bytes, list[str]]:
    """``fn`` (a Keras model or a function of one tensor) traced at ``spec`` (a
    ``tf.TensorSpec``; None dimensions stay free) with its weights frozen, as a TFLite
    flatbuffer, and the names of its outputs in ``fn``'s order."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    graph = tf.function(lambda x: fn(x), input_signature=[spec]).get_concrete_function()
    # Frozen weights: TFLite cannot read resource variables inside a recurrent while loop.
    frozen = convert_variables_to_constants_v2(graph)
    names = [t.name.split(":")[0] for t in frozen.outputs]
    # No trackable object: the converter's newer path renames the outputs and cannot lower
    # an LSTM's tensor lists; the frozen function needs none.
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert(), names


def describe(*parts: str) -> str:
    """What a flatbuffer was made from (``parts``, e.g. a model's architecture and a hash of
    its weights) with this module's and TensorFlow's versions: callers key the cache with
    its hash (:func:`dfd.io.hashing.sha256_text`; this module imports no dfd layer)."""
    import tensorflow as tf

    return "|".join([f"lite{LITE_VERSION}", tf.__version__, *parts])


def cached_conversion(key: str, make: Callable[[], tuple[bytes, list[str]]],
                      check: Callable[["LiteGraph"], str | None] | None = None,
                      keep_shapes: int = 1) -> "LiteGraph":
    """The :class:`LiteGraph` kept under ``key`` (a file name: a hash of :func:`describe`),
    else ``make()``'s, checked by ``check`` (None: fine; else why not) and kept. A damaged
    entry is made again. A graph that cannot be converted (an op TFLite lacks, e.g.
    ``multistream``'s histogram) or fails its check raises ValueError, and that answer is
    kept too (``<key>.failed``), so later starts do not spend the conversion again."""
    path = cache_dir() / "lite" / f"{key[:32]}.tflite"
    names_file, failed = path.with_suffix(".outputs"), path.with_suffix(".failed")
    if failed.is_file():
        raise ValueError(f"{failed.read_text(errors='replace')} (kept in {failed.name})")
    if path.is_file() and names_file.is_file():
        try:
            return LiteGraph(path.read_bytes(), names_file.read_text().split("\n"), keep_shapes)
        except (ValueError, RuntimeError, OSError) as err:
            log.warning("converted graph %s unreadable (%s); converting again", path.name, err)
    try:
        with held_stderr():  # the converter prints every op it cannot lower; the error says it once
            blob, names = make()
        graph = LiteGraph(blob, names, keep_shapes)
        problem = check(graph) if check is not None else None
    except Exception as err:  # noqa: BLE001 — TensorFlow raises ConverterError, RuntimeError, ...
        problem = f"cannot be converted: {_first_line(err)}"
    if problem:
        _write_text(failed, problem)
        raise ValueError(problem)
    _write(path, blob, names)
    return graph


def _first_line(err: Exception) -> str:
    """The part of a converter error a person can read: its first "error:" line (the op it
    cannot lower; the last one only says "failed while converting"), shortened."""
    text = str(err)
    lines = [ln.strip() for ln in text.splitlines() if "error:" in ln] or [text.strip()]
    line = lines[0].split("error:", 1)[-1].strip() if "error:" in lines[0] else lines[0]
    return f"{type(err).__name__}: {line[:200]}"


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError:
        pass  # a read-only cache: the conversion is tried again next start


def _write(path: Path, blob: bytes, names: list[str]) -> None:
    """Atomically: a half-written flatbuffer is never read by another process."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".outputs").write_text("\n".join(names))
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as fh:
            fh.write(blob)
        os.replace(fh.name, path)
    except OSError as err:  # a read-only cache costs a conversion per start, nothing else
        log.warning("could not keep the converted graph in %s: %s", path.parent, err)


@contextlib.contextmanager
def held_stderr(keep: Callable[[str], str] | None = None) -> Iterator[None]:
    """Hold what is written to file descriptor 2 (where C++ code logs) meanwhile; afterwards
    drop it, or write back ``keep(text)``. TFLite prints "INFO: Created TensorFlow Lite XNNPACK
    delegate" there when an interpreter first allocates, nothing else worth showing a user;
    :func:`dfd.inference.logs.import_quietly` keeps what is not a TensorFlow start-up notice."""
    import sys

    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            if keep is not None:
                held.seek(0)
                rest = keep(held.read().decode("utf-8", errors="replace"))
                if rest:
                    os.write(2, rest.encode("utf-8"))


class LiteGraph:
    """A flatbuffer with one input, called on numpy arrays: returns its outputs (copies) in
    the order of ``output_names``. ``keep_shapes`` interpreters are kept by input shape
    (least recently used dropped): 1 resizes one interpreter when the shape changes (cheap
    for a new batch size), more suits inputs whose spatial size changes from call to call
    (MTCNN's pyramid levels), where re-planning an interpreter costs milliseconds.
    Interpreters are not re-entrant, hence the lock."""

    def __init__(self, blob: bytes, output_names: list[str], keep_shapes: int = 1):
        self._blob, self._names, self._keep = blob, list(output_names), max(1, int(keep_shapes))
        self._interpreters: OrderedDict = OrderedDict()
        self._indices: dict[int, tuple[int, list[int]]] = {}  # id(interpreter) -> (input, outputs)
        self._lock = threading.Lock()
        it = self._new()  # fails here, not at the first call, when the flatbuffer is bad
        self._interpreters[tuple(it.get_input_details()[0]["shape"])] = it

    def _new(self):
        import tensorflow as tf

        with held_stderr():  # XNNPACK is applied (and announced) at the first allocation
            it = tf.lite.Interpreter(model_content=self._blob, num_threads=max(1, os.cpu_count() or 1))
            it.allocate_tensors()
        outputs = {o["name"]: o["index"] for o in it.get_output_details()}
        inputs = it.get_input_details()
        if len(inputs) != 1 or set(outputs) != set(self._names) or len(outputs) != len(self._names):
            raise ValueError(f"converted graph has outputs {sorted(outputs)}, not {self._names}")
        # tensor indices once per interpreter, not on every call (resizing keeps them)
        self._indices[id(it)] = (inputs[0]["index"], [outputs[n] for n in self._names])
        return it

    def output_shapes(self) -> list[tuple]:
        """Each output's shape with -1 where it is free."""
        it = next(iter(self._interpreters.values()))
        by_name = {o["name"]: tuple(int(v) for v in o["shape_signature"]) for o in it.get_output_details()}
        return [by_name[n] for n in self._names]

    def _interpreter(self, shape: tuple):
        it = self._interpreters.get(shape)
        if it is not None:
            self._interpreters.move_to_end(shape)
            return it
        if self._keep == 1:
            _, it = self._interpreters.popitem()
        else:
            it = self._new()
            while self._interpreters and (len(self._interpreters) >= self._keep or sum(
                    int(np.prod(k)) for k in self._interpreters) + int(np.prod(shape)) > MAX_KEPT_ELEMENTS):
                _, dropped = self._interpreters.popitem(last=False)
                self._indices.pop(id(dropped), None)
        it.resize_tensor_input(self._indices[id(it)][0], list(shape), strict=True)
        it.allocate_tensors()
        self._interpreters[shape] = it
        return it

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            it = self._interpreter(tuple(x.shape))
            source, outputs = self._indices[id(it)]
            it.set_tensor(source, x)
            it.invoke()
            return [it.get_tensor(i).copy() for i in outputs]
