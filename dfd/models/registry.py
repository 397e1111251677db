"""Detector registry, DeepfakeBench style: one JSON file per detector in ``configs/``.

``configs/<name>.json`` holds the detector's default hyper-parameters and its default
``input_size``; its ``"model"`` key names the family that builds it (``cnn``, ``multistream``,
``cnn_lstm``, ``resnext``, ``temporal``, ``efficientnet_lite0``, ``efficientnet_lite0_lstm``), so a
variant is just another JSON file (e.g. a ``cnn_nosrm.json`` with ``"model": "cnn", "srm": false``).
Keyword overrides replace config entries for one build; unknown keys are refused so a typo
cannot silently train the default model.
"""

from __future__ import annotations

import copy
import importlib
import json
import numbers
import weakref
from pathlib import Path

import keras

from dfd.errors import DfdError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# family -> module with ``build(config, input_size, name[, encoder]) -> keras.Model``;
# imported lazily so reading a config does not pay for building graphs.
FAMILIES = {
    "cnn": "dfd.models.cnn",
    "multistream": "dfd.models.multistream",
    "cnn_lstm": "dfd.models.cnn_lstm",
    "resnext": "dfd.models.resnext",
    "temporal": "dfd.models.temporal",
    "efficientnet_lite0": "dfd.models.efficientnet_lite",
    "efficientnet_lite0_lstm": "dfd.models.efficientnet_lite_lstm",
}

# keys describing the config itself, not hyper-parameters one may override
_META_KEYS = {"model", "description"}

_built_configs: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


class UnknownModelError(DfdError, ValueError):
    """``name`` is not a registered detector."""


def available_models() -> list[str]:
    """Names of every registered detector (one per ``configs/*.json``), sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def model_config(name: str) -> dict:
    """A fresh copy of detector ``name``'s default config (edit it freely)."""
    available = available_models()
    if name not in available:  # also keeps "../x" style names out of the config folder
        raise UnknownModelError(
            f"unknown model {name!r}; available models: {', '.join(available)}"
        )
    path = CONFIG_DIR / f"{name}.json"
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    if config.get("model") not in FAMILIES:
        raise DfdError(f"{path}: 'model' must be one of {sorted(FAMILIES)}, got {config.get('model')!r}")
    return config


def build_model(name: str, input_size: int | None = None, **overrides) -> keras.Model:
    """Build a fresh, untrained detector.

    ``input_size`` (S) defaults to the config's; image models take ``(S, S, 3)`` raw
    [0, 255] RGB and return ``(batch, 1)`` P(fake). ``overrides`` replace config entries,
    e.g. ``build_model("cnn", 96, dropout=0.5, srm=False)``. For ``"temporal"``,
    ``frames=T`` sets the clip length and ``encoder=`` may be a model name or a trained
    ``keras.Model`` whose trunk is re-used (see :mod:`dfd.models.temporal`)."""
    config = model_config(name)
    family = config["model"]
    unknown = sorted(set(overrides) - (set(config) - _META_KEYS))
    if unknown:
        valid = sorted(set(config) - _META_KEYS)
        raise DfdError(f"unknown option(s) {unknown} for model {name!r}; valid options: {valid}")
    encoder = None
    if family == "temporal" and isinstance(overrides.get("encoder"), keras.Model):
        encoder = overrides.pop("encoder")
        config["encoder"] = encoder.name  # keep the recorded config JSON-serialisable
    config.update(copy.deepcopy(overrides))
    valid_size = isinstance(input_size, numbers.Integral) and not isinstance(input_size, bool)
    if input_size is not None and not (valid_size and input_size >= 16):
        raise DfdError(f"input_size must be an integer >= 16, got {input_size!r}")

    builder = importlib.import_module(FAMILIES[family]).build
    if family == "temporal":
        model = builder(config, input_size, name=name, encoder=encoder)
        config["input_size"] = int(model.input_shape[2])
    else:
        config["input_size"] = int(input_size if input_size is not None else config["input_size"])
        model = builder(config, config["input_size"], name=name)
    config["name"] = name
    _built_configs[model] = config
    return model


def built_config(model: keras.Model) -> dict | None:
    """The resolved config ``model`` was built with in this process (None if unknown,
    e.g. for a model loaded from disk - its card has it instead)."""
    config = _built_configs.get(model)
    return copy.deepcopy(config) if config is not None else None


def adapt_model(model: keras.Model, images, batch_size: int = 64) -> list[str]:
    """Fit every layer of ``model`` that learns from data without labels (those with an
    ``adapt`` method, e.g. :class:`~dfd.models.layers.PatchDictionary`) on ``images``, the
    training split as the model takes it (N, S, S, 3 raw pixels, no augmentation). Each layer
    is fed what reaches it inside the model. Returns the adapted layers' names."""
    adapted = []
    for layer in model.layers:
        if not callable(getattr(layer, "adapt", None)) or isinstance(layer, keras.Model):
            continue
        reach = keras.Model(model.inputs, layer.input)  # e.g. the face averaged to 64 px
        layer.adapt(reach.predict(images, batch_size=batch_size, verbose=0), batch_size=batch_size)
        adapted.append(layer.name)
    return adapted
