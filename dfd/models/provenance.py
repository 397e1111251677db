"""What every model card records: architecture and family, sizes, preprocessing, package
versions, git commit, where pretrained weights came from (:func:`base_card`).
:mod:`dfd.models.card` writes the card into the ``.h5`` file and beside it."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone

import h5py
import keras
import numpy as np

from dfd import LABEL_NAMES
from dfd import __version__ as DFD_VERSION
from dfd.models.pretrained import weights_loaded_into
from dfd.paths import PACKAGE_DIR

CARD_FORMAT = "dfd-model-card/1"


def base_card(model: keras.Model, name: str, input_size: int, **extra) -> dict:
    """The facts every card carries; ``extra`` (JSON-serialisable) is added on top, e.g.
    ``base_card(model, "cnn", 128, dataset="ff++", epochs=12, val_auc=0.93)``."""
    from dfd.models.registry import built_config  # late import: registry -> families -> cnn

    card = {
        "format": CARD_FORMAT,
        "architecture": name,
        "model_name": model.name,
        "params": int(model.count_params()),
        "trainable_params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        "input_size": int(input_size),
        "input_shape": [None if d is None else int(d) for d in model.input_shape[1:]],
        "output": "sigmoid probability that the face is fake, shape (batch, 1)",
        "labels": {str(k): v for k, v in LABEL_NAMES.items()},
        "preprocessing": _preprocessing(model),
        "versions": package_versions(),
        "dfd_version": DFD_VERSION,
        "git_commit": git_commit(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    config = built_config(model)
    if config is not None:
        card["family"] = config["model"]  # the family that built it (a variant config names its own)
        card["config"] = config
    # package, version, file, SHA-256 of the ImageNet weights it started from
    weights = next((w for layer in _walk(model) if (w := weights_loaded_into(layer)) is not None), None)
    if weights is not None:
        card["pretrained_weights"] = weights
    card.update(extra)
    return card


def _preprocessing(model: keras.Model) -> str:
    from dfd.models import efficientnet_lite
    from dfd.models.cnn import PREPROCESSING, SRM_PREPROCESSING
    from dfd.models.layers import HighPassResidual

    layers = list(_walk(model))
    text = SRM_PREPROCESSING if any(isinstance(layer, HighPassResidual) for layer in layers) else PREPROCESSING
    if any(layer.name == "imagenet_normalize" for layer in layers):
        text = efficientnet_lite.PREPROCESSING
    if len(model.input_shape) == 5:
        return f"clips of {model.input_shape[1]} frames; each frame: {text}"
    return text


def _walk(layer):
    """``layer`` and every layer inside it (nested models, wrappers' inner layers)."""
    yield layer
    children = list(getattr(layer, "layers", []))
    if hasattr(layer, "layer"):  # wrappers: TimeDistributed, Bidirectional
        children.append(layer.layer)
    for child in children:
        yield from _walk(child)


def package_versions() -> dict:
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
    }


def git_commit() -> str:
    """``git rev-parse HEAD`` of the checkout dfd runs from, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


__all__ = ["CARD_FORMAT", "base_card", "git_commit", "package_versions"]
