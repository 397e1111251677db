"""Training recipes: one complete config per (dataset, model) in ``recipes/<dataset>.json``.

A dataset's recipe file has one section per model it trains (``cnn``, ``cnn_lstm``,
``resnext``: the file and member names ``models/<dataset>/<model>.h5``). Each section holds
every setting that run uses: the ``architecture`` built (a registered model config, e.g.
faces140k's ``cnn`` is a ``multistream``), ``input_size``, ``epochs``, ``batch_size``,
``learning_rate``, ``weight_decay``, ``patience``, ``min_epochs``, ``augment``, all of the
``augmentation`` fields, ``synthesis`` (fresh fakes every epoch from the real training faces,
:class:`~dfd.training.synthesis.SynthesisConfig` fields, or null: train on the manifest's fakes)
and all of the architecture's ``options`` (L2 penalties,
``fit_readouts``...). A dataset without a file, or a model its file has no section for,
trains with ``recipes/defaults.json``: those settings, the architecture named like the
model, and that config's own input size and options. Why each value is what it is:
``docs/experiments.md``.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

from dfd.errors import DfdError

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
DEFAULTS = "defaults"
# the training settings every section (and defaults.json) must hold
TRAINING_KEYS = ("epochs", "batch_size", "learning_rate", "weight_decay", "patience", "min_epochs", "augment",
                 "augmentation", "synthesis")
SECTION_KEYS = ("architecture", "input_size", *TRAINING_KEYS, "options")
# settings whose 0 / "" / {} also means "the recipe's" (none of them can usefully be zero)
_FALSY_IS_UNSET = {"architecture", "input_size", "epochs", "batch_size", "learning_rate", "augmentation", "options"}
# model config keys that are not options a recipe sets
_CONFIG_META = {"model", "description", "input_size"}


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DfdError(f"{path}: not valid JSON ({exc})") from None


def default_settings() -> dict:
    """The training settings of ``recipes/defaults.json``."""
    path = RECIPE_DIR / f"{DEFAULTS}.json"
    settings = _read(path)
    _require(path, settings, TRAINING_KEYS)
    return {k: settings[k] for k in TRAINING_KEYS}


def recipe_datasets() -> list[str]:
    """Datasets with a recipe file of their own, sorted."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.json") if p.stem != DEFAULTS)


def load_recipe(dataset: str, model: str, architecture: str = "") -> dict:
    """The complete recipe for training ``model`` on ``dataset`` (a fresh dict with every
    key of :data:`SECTION_KEYS`), and ``"source"``: the file and section it came from.

    ``architecture`` given and unlike the section's: the section does not describe that
    run, so the defaults apply (with that architecture)."""
    from dfd.models import model_config

    path = RECIPE_DIR / f"{dataset}.json"
    section = None
    if dataset != DEFAULTS and path.is_file():
        section = _read(path).get("models", {}).get(model)
    if section is not None and (not architecture or architecture == section.get("architecture")):
        check_section(f"{path}: models.{model}", section)
        return {**{k: section[k] for k in SECTION_KEYS}, "source": f"{path.name}: models.{model}"}
    architecture = architecture or model
    config = model_config(architecture)
    return {"architecture": architecture, "input_size": int(config["input_size"]), **default_settings(),
            "options": {k: v for k, v in config.items() if k not in _CONFIG_META},
            "source": f"{DEFAULTS}.json + dfd/models/configs/{architecture}.json"}


def check_section(where: str, section: dict) -> None:
    """Refuse an incomplete recipe section: every setting, every augmentation field and
    every option of its architecture must be there, and nothing else."""
    from dfd.models import model_config
    from dfd.training.input_pipeline import AugmentConfig

    _require(where, section, SECTION_KEYS)
    _exactly(f"{where}.augmentation", section["augmentation"], [f.name for f in fields(AugmentConfig)])
    if section["synthesis"] is not None:
        from dfd.training.synthesis import SynthesisConfig

        _exactly(f"{where}.synthesis", section["synthesis"], [f.name for f in fields(SynthesisConfig)])
    config = model_config(section["architecture"])
    _exactly(f"{where}.options", section["options"], [k for k in config if k not in _CONFIG_META])


def _require(where, mapping: dict, keys) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DfdError(f"{where}: the recipe lacks {missing}; a recipe holds every setting of its run")


def _exactly(where: str, mapping: dict, keys: list[str]) -> None:
    _require(where, mapping, keys)
    unknown = sorted(set(mapping) - set(keys))
    if unknown:
        raise DfdError(f"{where}: unknown key(s) {unknown}; valid: {keys}")


def apply_recipe(cfg):
    """``cfg`` (a :class:`~dfd.training.train.TrainConfig`) with every setting the caller left
    unset (None; 0 for the sizes, counts and learning rate; empty for ``augmentation`` and
    ``options``) taken from the recipe of ``cfg.dataset`` / ``cfg.model``. A caller's
    ``options`` replace the recipe's whole (the architecture's config fills the rest), as a
    caller's ``augmentation`` does."""
    recipe = load_recipe(cfg.dataset, cfg.model, cfg.architecture or "")
    changes = {key: recipe[key] for key in SECTION_KEYS
               if getattr(cfg, key) is None or (key in _FALSY_IS_UNSET and not getattr(cfg, key))}
    return replace(cfg, **changes) if changes else cfg


def options_beyond_defaults(architecture: str, options: dict) -> dict:
    """The entries of ``options`` that differ from ``architecture``'s config file."""
    from dfd.models import model_config

    config = model_config(architecture)
    return {k: v for k, v in options.items() if config.get(k) != v}
