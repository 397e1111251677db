"""One training function for every image detector (the notebooks 02-04 call it).

Deterministic seeds, early stopping on validation ROC-AUC with the best weights restored,
a CSV log, a progress bar, automatic GPU use when one is visible. The trained model is
saved as ``models/<dataset>/<model>.h5`` with its model card, and its validation and test
predictions as ``models/<dataset>/<model>.predictions.csv`` for the ensemble notebook."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dfd.data.prepare import load_manifest, manifest_path
from dfd.io.hashing import sha256_file
from dfd.paths import data_dir, models_dir
from dfd.training.recipe import apply_recipe

# TensorFlow reads this when its runtime starts, which in a notebook is often before train()
# runs (a model summary first); importing the training module is early enough. See
# set_determinism; an explicit setting wins.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


@dataclass
class TrainConfig:
    """One training run. ``model`` names the member (``models/<dataset>/<model>.h5``); every
    setting left unset (None, or 0 / empty where that cannot be meant) comes from the
    recipe of ``dataset`` and ``model`` (:mod:`dfd.training.recipe`), which also names the
    ``architecture`` built (faces140k's ``cnn`` is a ``multistream``)."""

    model: str
    dataset: str = "dfd-default"
    architecture: str = ""  # a registered model config; "": the recipe's
    input_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    patience: int | None = None
    # no early stop and no "best" epoch before this one: on a validation split of ~100 faces the
    # AUC of the first epochs jumps by +-0.1, and a lucky early epoch would otherwise be kept
    min_epochs: int | None = None
    seed: int = 0
    augment: bool | None = None
    augmentation: dict | None = None  # AugmentConfig fields (the class's defaults fill any left out)
    # fresh fakes every epoch from the real training faces (SynthesisConfig fields); None: the
    # recipe's; {"kinds": []}: off, train on the manifest's fakes
    synthesis: dict | None = None
    # more real faces for the fresh fakes: prepared datasets (names or manifest.csv paths) whose
    # train-split real rows join the training reals; needs synthesis (their fakes are never used)
    extra_reals: list[str] | None = None
    smoke: bool = False
    options: dict | None = None  # the architecture's hyper-parameters (its config fills what is left out)


@dataclass
class TrainResult:
    config: TrainConfig
    model: object
    history: pd.DataFrame
    card: dict
    model_path: Path
    predictions: pd.DataFrame  # split, path, label, p_fake for valid and test rows
    test_metrics: dict
    valid_metrics: dict
    seconds: float
    device: str


def best_checkpoint(filepath: str, start_from_epoch: int = 0):
    """A ModelCheckpoint keeping the weights of the epoch with the best validation AUC,
    counting from ``start_from_epoch`` (0-based). Keras is imported here, not at module import."""
    import keras

    class BestCheckpoint(keras.callbacks.ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            if epoch >= start_from_epoch:
                super().on_epoch_end(epoch, logs)

    return BestCheckpoint(filepath, monitor="val_auc", mode="max", save_best_only=True, save_weights_only=True)


def training_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({gpus[0].name})" if gpus else "CPU"


def set_determinism(seed: int) -> None:
    """Same seed on the same CPU, same weights. Seeds are not enough on their own: with
    several inter-op threads TensorFlow runs independent branches (ResNeXt's grouped
    convolutions) at the same time, oneDNN then splits each one's work over a varying number
    of threads, and the float sums differ in the last bits from run to run, which training
    amplifies (measured: 128 px ResNeXt, 16 steps, 3 different weight hashes in 4 runs; 8 of 8
    identical with one inter-op thread, at the same speed). Each op keeps its own threads."""
    import warnings

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 — older TF builds: seeds alone are the best we can do
        pass
    # the runtime reads TF_NUM_INTEROP_THREADS when it starts; the config getter does not see it
    if tf.config.threading.get_inter_op_parallelism_threads() != 1 and os.environ.get("TF_NUM_INTEROP_THREADS") != "1":
        try:
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the runtime already started (TF ops ran before training)
            warnings.warn("TensorFlow started with several inter-op threads, so this training run may not "
                          "be bit-reproducible; start Python with TF_NUM_INTEROP_THREADS=1 (the Makefile does)",
                          RuntimeWarning, stacklevel=2)


def train(cfg: TrainConfig, manifest: pd.DataFrame | None = None, verbose: int = 1) -> TrainResult:
    import keras

    from dfd.metrics import compute_metrics
    from dfd.models import adapt_model, base_card, build_model, built_config, save_model
    from dfd.training.hooks import hooks_for
    from dfd.training.input_pipeline import AugmentConfig, load_images, make_dataset, make_fresh_fake_dataset
    from dfd.training.synthesis import FreshFakes, SynthesisConfig

    set_determinism(cfg.seed)
    cfg = apply_recipe(cfg)
    device = training_device()
    manifest_path = data_dir(cfg.dataset) / "manifest.csv"
    if manifest is None:
        manifest = load_manifest(manifest_path)
    size = int(cfg.input_size)
    epochs = min(cfg.epochs, 2) if cfg.smoke else cfg.epochs
    if verbose:
        print(f"training {cfg.model} ({cfg.architecture}) on {cfg.dataset} at {size}px on {device}")

    frames = {s: manifest[manifest.split == s].reset_index(drop=True) for s in ("train", "valid", "test")}
    synthesis = SynthesisConfig.from_dict(cfg.synthesis)
    extra_records = []  # what the card records of cfg.extra_reals
    if cfg.extra_reals:
        if not synthesis.enabled:
            raise ValueError("extra_reals adds real faces for the fresh fakes, so it needs synthesis; this "
                             f"recipe ({cfg.dataset}: {cfg.model}) trains on the manifest's fakes")
        extra, extra_records = extra_real_faces(cfg.extra_reals, manifest)
        frames["train"] = pd.concat([frames["train"], extra], ignore_index=True)
        if verbose:
            print("extra real training faces: " + ", ".join(f"{e['faces']} from {e['manifest']}" for e in extra_records))
    for s, df in frames.items():
        if s == "train" and synthesis.enabled:  # real faces are enough: the fakes are made from them
            if (df.label == 0).sum() < 2:
                raise ValueError(f"training on fresh fakes needs at least 2 real training faces (has "
                                 f"{int((df.label == 0).sum())})")
            continue
        if df.empty or df.label.nunique() < 2:
            raise ValueError(f"the {s} split needs both real and fake faces (has {len(df)} rows); "
                             "re-run notebook 01 or use a larger dataset")
    arrays = {s: load_images(df.path.tolist(), size) for s, df in frames.items()}
    labels = {s: df.label.to_numpy(np.int64) for s, df in frames.items()}

    augment = AugmentConfig.from_dict(cfg.augmentation) if cfg.augment else AugmentConfig.off()
    if synthesis.enabled:  # the training fakes are made afresh each epoch from the real faces
        fakes = FreshFakes(arrays["train"][labels["train"] == 0], synthesis, seed=cfg.seed,
                           fixed=arrays["train"][labels["train"] == 1])
        fit_x, fit_y, _ = fakes.epoch(0)  # what the unsupervised parts and the family hooks see
        batch = min(cfg.batch_size, len(fit_y))
        steps = max(1, len(fit_y) // batch)
        train_ds = make_fresh_fake_dataset(fakes, batch, seed=cfg.seed, augment=augment)
        if verbose:
            print(f"fresh fakes every epoch ({', '.join(synthesis.kinds)}) from {len(fakes.reals)} real training faces")
    else:
        fit_x, fit_y = arrays["train"], labels["train"]
        batch = min(cfg.batch_size, len(frames["train"]))
        steps = max(1, len(frames["train"]) // batch)
        train_ds = make_dataset(arrays["train"], labels["train"], batch, training=True, seed=cfg.seed, augment=augment)
    valid_ds = make_dataset(arrays["valid"], labels["valid"], 64, training=False)

    model = build_model(cfg.architecture, input_size=size, **cfg.options)
    config = built_config(model)
    hooks = hooks_for(config["model"])(config, verbose)
    t0 = time.time()  # training time counts adapting and the family's own steps too
    adapted = adapt_model(model, fit_x)  # unsupervised parts first, on un-augmented faces
    if verbose and adapted:
        print(f"adapted {', '.join(adapted)} to the {len(fit_x)} training faces")
    trained = hooks.prepare(model, fit_x, fit_y, started=t0)  # what gradient descent fits
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=steps * epochs, alpha=0.05)
    trained.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    out_dir = models_dir(cfg.dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = max(0, min(cfg.min_epochs, epochs) - 1)  # 0-based epoch index
    best = out_dir / f"{cfg.model}.best.weights.h5"
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=cfg.patience,
                                      restore_best_weights=True, start_from_epoch=start, verbose=0),
        best_checkpoint(str(best), start_from_epoch=start),
        keras.callbacks.CSVLogger(str(out_dir / f"{cfg.model}.log.csv")),
    ]
    if verbose:
        from tqdm.keras import TqdmCallback

        callbacks.append(TqdmCallback(verbose=0, desc=cfg.model))
    history = trained.fit(train_ds, validation_data=valid_ds, epochs=epochs, steps_per_epoch=steps,
                          callbacks=callbacks, verbose=0, shuffle=False)  # tf.data shuffles
    # EarlyStopping restores the best weights only when it stopped early; make it unconditional
    if best.exists():
        trained.load_weights(str(best))
        best.unlink()
    hooks.after_fit(model, arrays["valid"], labels["valid"])
    seconds = time.time() - t0

    preds = []
    metrics = {}
    for s in ("valid", "test"):
        p = hooks.predict(model, s, arrays[s], labels[s])
        preds.append(frames[s].assign(p_fake=p)[["split", "path", "label", "group", "method", "p_fake"]])
        metrics[s] = compute_metrics(labels[s], p, n_boot=0 if cfg.smoke else 1000, seed=cfg.seed)
    predictions = pd.concat(preds, ignore_index=True)
    predictions.to_csv(out_dir / f"{cfg.model}.predictions.csv", index=False)

    hist = pd.DataFrame(history.history)
    hist.index.name = "epoch"
    # the epoch whose weights were kept: the best validation AUC from min_epochs on
    kept = hist["val_auc"].iloc[start:] if "val_auc" in hist and len(hist) > start else None
    best_epoch = int(kept.idxmax()) + 1 if kept is not None else len(hist)
    card = base_card(
        model, cfg.architecture, size,
        dataset=cfg.dataset,
        manifest_sha256=sha256_file(manifest_path) if manifest_path.exists() else "unknown",
        split_sizes={s: {"real": int((labels[s] == 0).sum()), "fake": int((labels[s] == 1).sum())} for s in labels},
        training={"config": {k: v for k, v in asdict(cfg).items() if k != "options"}, "options": cfg.options,
                  "epochs_run": len(hist), "best_epoch": best_epoch, "seconds": round(seconds, 1),
                  "device": device, "augmentation": asdict(augment), "synthesis": synthesis.to_dict(),
                  **({"extra_reals": extra_records} if extra_records else {}), **hooks.card_extras()},
        metrics={s: {k: v["value"] for k, v in m.items()} for s, m in metrics.items()},
        face_stage=_face_stage_params(cfg.dataset),
    )
    model_path = save_model(model, out_dir / f"{cfg.model}.h5", card)
    if verbose:
        auc = metrics["test"]["roc_auc"]["value"]
        print(f"{cfg.model}: {len(hist)} epochs in {seconds:.0f} s, best epoch {best_epoch}, test ROC-AUC {auc:.3f}")
    return TrainResult(cfg, model, hist, card, model_path, predictions, metrics["test"], metrics["valid"],
                       seconds, device)


def extra_real_faces(sources: list[str], manifest: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """The train-split real rows of other prepared datasets (names or ``manifest.csv`` paths),
    without any face that ``manifest`` already holds in any split (same crop SHA-256 or same
    source file), so a validation or test face never trains. Returns the rows and, per source,
    what the model card records: the manifest, its SHA-256 and how many faces it gave."""
    def column(df: pd.DataFrame, name: str) -> pd.Series:
        return df[name] if name in df else pd.Series([None] * len(df), index=df.index, dtype=object)

    seen_sha = set(column(manifest, "sha256").dropna())
    seen_src = set(column(manifest, "source_path").dropna())
    rows, records = [], []
    for source in sources:
        path = manifest_path(source)
        df = load_manifest(path)
        df = df[(df.split == "train") & (df.label == 0)]
        df = df[~column(df, "sha256").isin(seen_sha) & ~column(df, "source_path").isin(seen_src)]
        if df.empty:
            raise ValueError(f"{path} has no train-split real face that is not already in the dataset")
        seen_sha |= set(column(df, "sha256").dropna())
        seen_src |= set(column(df, "source_path").dropna())
        rows.append(df)
        records.append({"manifest": str(path.resolve()), "sha256": sha256_file(path), "faces": int(len(df))})
    return pd.concat(rows, ignore_index=True), records


def _face_stage_params(dataset: str) -> dict:
    """How crops were made (the inference engine must crop the same way)."""
    from dfd.data.datasets import get_adapter

    try:
        adapter = get_adapter(dataset)
    except Exception:  # noqa: BLE001 — unknown datasets still train
        return {}
    return {"mode": adapter.face_mode, "margin": 0.3, "crop_size": adapter.image_size, "template": "arcface-5pt"}


def load_predictions(dataset: str, model: str) -> pd.DataFrame:
    path = models_dir(dataset) / f"{model}.predictions.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found — train {model} first (notebooks 02-04)")
    return pd.read_csv(path)


def save_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2))
