"""Saving and loading detectors together with their model cards.

A detector is one legacy Keras HDF5 file (``.h5``, what the desktop app loads). Its model
card - architecture, sizes, preprocessing, package versions, git commit (see
:mod:`dfd.models.provenance`), training facts - is stored twice: as a JSON string in the
HDF5 root attribute ``"dfd_model_card"`` (so the card can never get separated from the
weights) and as a sidecar ``<name>.json`` for people and tools that do not speak HDF5.

Loading is defensive: the architecture JSON is scanned with h5py *before* Keras sees it and
files with ``Lambda`` layers (which carry marshalled Python bytecode) are refused; Keras
then loads with ``safe_mode=True``. Only ``dfd`` and its dependencies are needed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from dfd.errors import DfdError

CARD_ATTR = "dfd_model_card"
H5_SUFFIXES = (".h5", ".hdf5")
# HDF5 keeps attributes in the object header, which holds at most 64 KiB
MAX_CARD_BYTES = 60_000
# layer classes / serialised objects that embed executable Python
FORBIDDEN_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"}


def save_model(model: keras.Model, path_h5, card: dict) -> Path:
    """Write ``model`` to ``path_h5`` (legacy HDF5) with ``card`` inside and beside it.

    Both files are written to temporary names first and renamed into place, so a crash
    never leaves a half-written model where the app would pick it up."""
    path = Path(path_h5)
    if path.suffix.lower() not in H5_SUFFIXES:
        raise DfdError(f"model files are legacy Keras HDF5; name it *.h5, not {path.name!r}")
    try:
        text = json.dumps(card, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DfdError(f"the model card is not plain JSON ({exc})") from None
    if len(text.encode("utf-8")) > MAX_CARD_BYTES:
        raise DfdError(
            f"the model card is {len(text.encode())} bytes, over the {MAX_CARD_BYTES} an HDF5 "
            "attribute can hold; keep bulky data (histories, curves) in the reports folder"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar = path.with_suffix(".json")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    tmp_sidecar = sidecar.with_name(f".{sidecar.stem}.{os.getpid()}.tmp.json")
    try:
        with _quiet_legacy_h5_warning():
            model.save(tmp)
        with h5py.File(tmp, "a") as fh:
            fh.attrs[CARD_ATTR] = text
        tmp_sidecar.write_text(
            json.dumps(card, sort_keys=True, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)
        os.replace(tmp_sidecar, sidecar)
    finally:
        for leftover in (tmp, tmp_sidecar):
            if leftover.exists():
                leftover.unlink()
    return path


@contextlib.contextmanager
def _quiet_legacy_h5_warning():
    """Keras logs (via absl) that HDF5 is a legacy format; for dfd it is the format."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl_logger.setLevel(level)


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise DfdError(f"model file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DfdError(f"{path} is not a readable HDF5 model file ({exc})") from None


def _attr_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):  # some writers store a 1-element array
        return _attr_text(value.reshape(-1)[0])
    return str(value)


def read_card(path_h5) -> dict:
    """The model card stored inside ``path_h5``; reads HDF5 attributes only."""
    path = Path(path_h5)
    with _open_h5(path) as fh:
        raw = fh.attrs.get(CARD_ATTR)
    if raw is None:
        raise DfdError(f"{path} has no dfd model card (was it saved with dfd.models.save_model?)")
    try:
        return json.loads(_attr_text(raw))
    except ValueError as exc:
        raise DfdError(f"{path}: the stored model card is not valid JSON ({exc})") from None


def check_architecture(path_h5) -> dict:
    """Parse the stored architecture JSON with h5py and refuse unsafe content.

    Returns the parsed ``model_config``. Raises :class:`DfdError` if there is none
    (weights-only file) or it contains a Lambda-like layer."""
    path = Path(path_h5)
    with _open_h5(path) as fh:
        raw = fh.attrs.get("model_config")
    if raw is None:
        raise DfdError(f"{path} holds weights only, no model architecture; it cannot be loaded alone")
    try:
        config = json.loads(_attr_text(raw))
    except ValueError as exc:
        raise DfdError(f"{path}: the stored architecture is not valid JSON ({exc})") from None
    found = sorted(set(_forbidden(config)))
    if found:
        raise DfdError(
            f"refusing to load {path}: its architecture contains Lambda layer(s) / Python lambdas: "
            f"{', '.join(found)}. Lambda layers carry arbitrary Python code, which dfd never "
            "loads from a file; rebuild the model with dfd.models.build_model (no Lambda "
            "layers) and save it again."
        )
    return config


def _forbidden(node, layer: str = "?"):
    """Yield ``'name' (Class)`` for each forbidden object anywhere in a Keras config tree
    (nested models and wrappers such as TimeDistributed included); ``layer`` is the name of
    the enclosing layer, to point at e.g. a Dense whose activation is a Python lambda."""
    if isinstance(node, dict):
        cls = node.get("class_name")
        cfg = node.get("config")
        name = cfg.get("name") if isinstance(cfg, dict) and isinstance(cfg.get("name"), str) else None
        if isinstance(cls, str) and cls.rsplit(".", 1)[-1] in FORBIDDEN_CLASSES:
            if cls == "__lambda__":
                yield f"{layer!r} (a Python lambda in its config)"
            else:
                yield f"{(name or layer)!r} ({cls})"
            return  # the lambda's own code object inside it is the same finding
        for value in node.values():
            yield from _forbidden(value, name or layer)
    elif isinstance(node, list):
        for value in node:
            yield from _forbidden(value, layer)


def load_model(path_h5, require_card: bool = False) -> tuple[keras.Model, dict]:
    """Load a detector saved by :func:`save_model` -> ``(model, card)``.

    The model comes back uncompiled (inference only; compile it to train further). A file
    without a card gives ``{}`` unless ``require_card``."""
    from dfd.models import layers as _registered_layers  # noqa: F401  (registers dfd custom layers)

    path = Path(path_h5)
    check_architecture(path)
    try:
        card = read_card(path)
    except DfdError:
        if require_card:
            raise
        card = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types; callers get one with the file name
        raise DfdError(f"cannot load model {path}: {exc}") from exc
    return model, card


__all__ = [
    "CARD_ATTR",
    "check_architecture",
    "load_model",
    "read_card",
    "save_model",
]
