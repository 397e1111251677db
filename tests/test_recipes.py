"""dfd.training.recipe and dfd.training.hooks: complete recipes per (dataset, model), the values
they held as dataset presets before, and the generic train() handing each family's own steps to
its hooks."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import cv2
import numpy as np
import pandas as pd
import pytest

from dfd.errors import DfdError
from dfd.models import model_config
from dfd.training import recipe as recipes
from dfd.training.hooks import FAMILY_HOOKS, FamilyHooks, hooks_for
from dfd.training.input_pipeline import AugmentConfig
from dfd.training.recipe import (SECTION_KEYS, apply_recipe, check_section, default_settings, load_recipe,
                                 options_beyond_defaults, recipe_datasets)
from dfd.training.train import TrainConfig

DEFAULT_EPOCHS = default_settings()["epochs"]
MODELS = ("cnn", "cnn_lstm", "resnext")  # the members notebooks 02-04 train

# What the data adapters' training presets and TrainConfig's defaults said before the recipes
# (dfd/data/datasets.py and dfd/training/train.py at the layout commit), copied verbatim.
OLD_TRAIN_DEFAULTS = {"epochs": 40, "batch_size": 32, "learning_rate": 2e-3, "weight_decay": 1e-4, "patience": 8,
                      "min_epochs": 15, "augment": True}
OLD_PRESETS = {
    "dfd-default": {"input_size": 96,
                    "augmentation": {"color": 0.0, "jpeg_prob": 0.3, "jpeg_quality": (70, 100),
                                     "blur_prob": 0.1, "blur_sigma": (0.3, 0.8)}},
    "faces140k": {"input_size": 64, "augmentation": {"color": 0.0},
                  "models": {"cnn": {
                      "input_size": 256,
                      "overrides": {"global_size": 64, "stats": True, "stats_l2": 0.15,
                                    "dictionary": True, "dictionary_grid": 8, "dictionary_l2": 1.0,
                                    "dct": True, "dct_l2": 0.015, "fit_readouts": True}}}},
}
# the old cnn.json's defaults of the stream options, which the faces140k cnn did not override
OLD_CNN_STREAM_DEFAULTS = {"stats_colour_spaces": ["rgb", "ycbcr"], "stats_truncate": 3, "stats_dropout": 0.0,
                           "stats_train_crop": 0, "stream_dropout": 0.0, "dictionary_patch": 6,
                           "dictionary_atoms": 400, "dictionary_dropout": 0.0, "dct_step": 4.0, "dct_truncate": 4}


def test_recipe_per_model_entry():
    cnn = apply_recipe(TrainConfig(model="cnn", dataset="faces140k"))
    assert cnn.input_size == 256
    assert cnn.options["stats"] is cnn.options["dictionary"] is cnn.options["dct"] is True
    assert cnn.options["fit_readouts"] is True
    # each model's section is complete: the cnn has faces140k's epochs and augmentation too
    assert cnn.epochs == DEFAULT_EPOCHS and AugmentConfig.from_dict(cnn.augmentation) == AugmentConfig(color=0.0)
    other = apply_recipe(TrainConfig(model="resnext", dataset="faces140k"))
    assert other.input_size == 64 and options_beyond_defaults("resnext", other.options) == {}
    assert other.epochs == DEFAULT_EPOCHS
    mine = apply_recipe(TrainConfig(model="cnn", dataset="faces140k", input_size=128, epochs=3,
                                    options={"stats": False}))
    assert (mine.input_size, mine.epochs, mine.options) == (128, 3, {"stats": False})  # caller wins
    assert apply_recipe(TrainConfig(model="cnn", dataset="no-such-dataset")).epochs == DEFAULT_EPOCHS


def test_recipes_are_complete():
    assert {"dfd-default", "faces140k"} <= set(recipe_datasets())
    # every TrainConfig setting but the run's identity (member, data, seed, smoke) is a recipe key:
    # extra_reals names local data the run adds, which a committed recipe cannot know
    governed = {f.name for f in fields(TrainConfig)} - {"model", "dataset", "extra_reals", "seed", "smoke"}
    assert governed == set(SECTION_KEYS)
    augmentation = {f.name for f in fields(AugmentConfig)}
    for dataset in recipe_datasets():
        sections = json.loads((recipes.RECIPE_DIR / f"{dataset}.json").read_text())["models"]
        assert set(MODELS) <= set(sections), dataset
        for model, section in sections.items():
            where = f"{dataset}/{model}"
            assert set(section) == set(SECTION_KEYS), where
            assert set(section["augmentation"]) == augmentation, where
            config = model_config(section["architecture"])
            assert set(section["options"]) == set(config) - {"model", "description", "input_size"}, where
            check_section(where, section)
            resolved = apply_recipe(TrainConfig(model=model, dataset=dataset))
            # every setting resolved; synthesis may be null (no fresh fakes: the manifest's fakes)
            assert all(getattr(resolved, key) is not None for key in SECTION_KEYS if key != "synthesis"), where
            assert resolved.synthesis == section["synthesis"], where
    defaults = json.loads((recipes.RECIPE_DIR / "defaults.json").read_text())
    assert set(defaults) - {"description"} == set(SECTION_KEYS) - {"architecture", "input_size", "options"}
    assert set(defaults["augmentation"]) == augmentation


def _old_preset(dataset: str, model: str) -> dict:
    """What the old apply_dataset_preset resolved: dataset-wide entries, the model's own on top."""
    preset = OLD_PRESETS[dataset]
    merged = {**{k: v for k, v in preset.items() if k != "models"}, **preset.get("models", {}).get(model, {})}
    return {**OLD_TRAIN_DEFAULTS, "input_size": merged["input_size"],
            "augmentation": asdict(AugmentConfig(**merged.get("augmentation", {}))),
            "overrides": merged.get("overrides", {})}


@pytest.mark.parametrize("dataset", ["dfd-default", "faces140k"])
@pytest.mark.parametrize("model", MODELS)
def test_recipes_equal_the_old_dataset_presets(dataset, model):
    old = _old_preset(dataset, model)
    new = apply_recipe(TrainConfig(model=model, dataset=dataset))
    for key in ("input_size", *OLD_TRAIN_DEFAULTS):
        assert getattr(new, key) == old[key] and type(getattr(new, key)) is type(old[key]), key
    assert asdict(AugmentConfig.from_dict(new.augmentation)) == old["augmentation"]
    if (dataset, model) == ("faces140k", "cnn"):
        # the streams were options of the old cnn; they are the multistream model's now
        assert new.architecture == "multistream"
        assert {k: new.options[k] for k in old["overrides"]} == old["overrides"]
        rest = {k: v for k, v in new.options.items() if k not in old["overrides"]}
        assert {k: rest[k] for k in OLD_CNN_STREAM_DEFAULTS} == OLD_CNN_STREAM_DEFAULTS
        plain = {k: v for k, v in model_config("cnn").items() if k not in ("model", "description", "input_size")}
        assert {k: rest[k] for k in plain} == plain  # the same trunk as the plain cnn's
        assert set(rest) == set(OLD_CNN_STREAM_DEFAULTS) | set(plain)
    else:
        assert new.architecture == model and old["overrides"] == {}
        assert options_beyond_defaults(model, new.options) == {}


def test_datasets_without_a_recipe_train_with_the_defaults():
    cfg = apply_recipe(TrainConfig(model="cnn_lstm", dataset="folder"))
    assert (cfg.architecture, cfg.input_size) == ("cnn_lstm", model_config("cnn_lstm")["input_size"])
    assert {k: getattr(cfg, k) for k in OLD_TRAIN_DEFAULTS} == OLD_TRAIN_DEFAULTS
    assert AugmentConfig.from_dict(cfg.augmentation) == AugmentConfig()
    assert options_beyond_defaults("cnn_lstm", cfg.options) == {}
    # an architecture other than the section's: the section does not describe the run
    plain = apply_recipe(TrainConfig(model="cnn", dataset="faces140k", architecture="cnn"))
    assert plain.architecture == "cnn" and plain.input_size == model_config("cnn")["input_size"]
    assert load_recipe("faces140k", "cnn", "cnn")["source"].startswith("defaults.json")


def test_incomplete_recipes_are_refused(tmp_path, monkeypatch):
    section = load_recipe("faces140k", "resnext")
    section.pop("source")
    broken = {"models": {"resnext": {k: v for k, v in section.items() if k != "batch_size"}}}
    (tmp_path / "defaults.json").write_text((recipes.RECIPE_DIR / "defaults.json").read_text())
    (tmp_path / "mine.json").write_text(json.dumps(broken))
    monkeypatch.setattr(recipes, "RECIPE_DIR", tmp_path)
    with pytest.raises(DfdError, match=r"lacks \['batch_size'\]"):
        load_recipe("mine", "resnext")
    typo = dict(section, options={**section["options"], "dropuot": 0.5})
    with pytest.raises(DfdError, match="unknown key.*dropuot"):
        check_section("typo", typo)
    short = dict(section, augmentation={"color": 0.0})
    with pytest.raises(DfdError, match="augmentation: the recipe lacks"):
        check_section("short", short)


def test_hooks_registry():
    assert hooks_for("cnn") is FamilyHooks and hooks_for("resnext") is FamilyHooks
    from dfd.training.multistream import MultiStreamHooks

    assert hooks_for("multistream") is MultiStreamHooks


class RecordingHooks(FamilyHooks):
    """Records what train() hands a family's hooks, and when."""

    calls: list = []

    def prepare(self, model, images, labels, started):
        self.calls.append(("prepare", len(images), labels.tolist(), model.name, self.config["model"]))
        return super().prepare(model, images, labels, started)

    def after_fit(self, model, images, labels):
        self.calls.append(("after_fit", len(images), labels.tolist()))

    def predict(self, model, split, images, labels):
        p_fake = super().predict(model, split, images, labels)
        self.calls.append(("predict", split, len(images), p_fake.round(6).tolist()))
        return p_fake

    def card_extras(self):
        self.calls.append(("card_extras",))
        return {"recorded": len(self.calls)}


def _tiny_manifest(folder, size=32):
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 8), ("valid", 4), ("test", 4)):
        for i in range(n):
            path = folder / f"{split}_{i}.png"
            cv2.imwrite(str(path), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
            rows.append({"split": split, "path": str(path), "label": i % 2, "group": f"{split}{i}",
                         "method": "noise" if i % 2 else "real"})
    return pd.DataFrame(rows)


def test_train_dispatches_to_the_family_hook(tmp_path, monkeypatch):
    from dfd.training.train import train

    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    monkeypatch.setitem(FAMILY_HOOKS, "cnn", RecordingHooks)
    monkeypatch.setattr(RecordingHooks, "calls", [])
    manifest = _tiny_manifest(tmp_path)
    result = train(TrainConfig(model="tiny", architecture="cnn", dataset="hooked", input_size=32, epochs=1,
                               batch_size=4, smoke=True, options={"widths": [8, 16], "convs_per_stage": [1, 1]}),
                   manifest=manifest, verbose=0)
    calls = RecordingHooks.calls
    assert [c[0] for c in calls] == ["prepare", "after_fit", "predict", "predict", "card_extras"]
    train_labels = manifest[manifest.split == "train"].label.tolist()
    assert calls[0] == ("prepare", 8, train_labels, "cnn", "cnn")  # un-augmented training split, built config
    assert calls[1] == ("after_fit", 4, manifest[manifest.split == "valid"].label.tolist())
    assert [c[1] for c in calls[2:4]] == ["valid", "test"]
    for split, (_, _, n, p_fake) in zip(("valid", "test"), calls[2:4]):  # the hook's scores are the predictions
        saved = result.predictions[result.predictions.split == split].p_fake.round(6).tolist()
        assert n == 4 and saved == p_fake
    assert result.card["training"]["recorded"] == 5  # card_extras go into the card's training section
    assert result.card["architecture"] == "cnn" and result.model_path.name == "tiny.h5"
    assert result.card["training"]["config"]["architecture"] == "cnn"
