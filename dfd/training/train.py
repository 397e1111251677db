"""One training function for every image detector (the notebooks 02-04 call it).

Deterministic seeds, early stopping on validation ROC-AUC with the best weights restored,
a CSV log, a progress bar, automatic GPU use when one is visible. The trained model is
saved as ``models/<dataset>/<model>.h5`` with its model card, and its validation and test
predictions as ``models/<dataset>/<model>.predictions.csv`` for the ensemble notebook."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dfd.data.prepare import load_manifest
from dfd.io.hashing import sha256_file
from dfd.paths import data_dir, models_dir

# TensorFlow reads this when its runtime starts, which in a notebook is often before train()
# runs (a model summary first); importing the training module is early enough. See
# set_determinism; an explicit setting wins.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


DEFAULT_EPOCHS = 40


@dataclass
class TrainConfig:
    model: str
    dataset: str = "dfd-default"
    input_size: int = 0  # 0 = the model config's default
    epochs: int = 0  # 0: the dataset preset's number, else DEFAULT_EPOCHS
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8
    # no early stop and no "best" epoch before this one: on a validation split of ~100 faces the
    # AUC of the first epochs jumps by +-0.1, and a lucky early epoch would otherwise be kept
    min_epochs: int = 15
    seed: int = 0
    augment: bool = True
    augmentation: dict = field(default_factory=dict)  # AugmentConfig fields to change, e.g. {"color": 0.0}
    smoke: bool = False
    overrides: dict = field(default_factory=dict)  # model hyper-parameters


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

    from dfd.evaluation.metrics import compute_metrics
    from dfd.models import adapt_model, base_card, build_model, built_config, model_config, save_model
    from dfd.models.readouts import fit_linear_readouts, predict_streams, trunk_classifier, weigh_trunk
    from dfd.training.input_pipeline import AugmentConfig, load_images, make_dataset

    set_determinism(cfg.seed)
    cfg = apply_dataset_preset(cfg)
    device = training_device()
    manifest_path = data_dir(cfg.dataset) / "manifest.csv"
    if manifest is None:
        manifest = load_manifest(manifest_path)
    size = int(cfg.input_size or model_config(cfg.model)["input_size"])
    epochs = min(cfg.epochs, 2) if cfg.smoke else cfg.epochs
    if verbose:
        print(f"training {cfg.model} on {cfg.dataset} at {size}px on {device}")

    frames = {s: manifest[manifest.split == s].reset_index(drop=True) for s in ("train", "valid", "test")}
    for s, df in frames.items():
        if df.empty or df.label.nunique() < 2:
            raise ValueError(f"the {s} split needs both real and fake faces (has {len(df)} rows); "
                             "re-run notebook 01 or use a larger dataset")
    arrays = {s: load_images(df.path.tolist(), size) for s, df in frames.items()}
    labels = {s: df.label.to_numpy(np.int64) for s, df in frames.items()}

    batch = min(cfg.batch_size, len(frames["train"]))
    steps = max(1, len(frames["train"]) // batch)
    augment = AugmentConfig(**_tuples(cfg.augmentation)) if cfg.augment else AugmentConfig.off()
    train_ds = make_dataset(arrays["train"], labels["train"], batch, training=True, seed=cfg.seed, augment=augment)
    valid_ds = make_dataset(arrays["valid"], labels["valid"], 64, training=False)

    model = build_model(cfg.model, input_size=size, **cfg.overrides)
    t0 = time.time()  # training time counts adapting and fitting the readouts too
    adapted = adapt_model(model, arrays["train"])  # unsupervised parts first, on un-augmented faces
    if verbose and adapted:
        print(f"adapted {', '.join(adapted)} to the {len(arrays['train'])} training faces")
    readouts = None
    trained = model  # what gradient descent fits
    if (built_config(model) or {}).get("fit_readouts"):
        # the linear streams' readouts solved exactly and frozen; then the trunk trains on its own
        # (dfd.models.readouts says why not on their residual) and is weighed on valid below
        readouts = fit_linear_readouts(model, arrays["train"], labels["train"])
        readouts["seconds"] = round(time.time() - t0, 1)
        trained = trunk_classifier(model)
        if verbose:
            print(f"fitted the {', '.join(readouts['streams'])} readouts by L-BFGS "
                  f"({readouts['features']} features, training ROC-AUC {readouts['train_roc_auc']:.3f}); "
                  "training the trunk alone")
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=steps * epochs, alpha=0.05)
    trained.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    out_dir = models_dir(cfg.dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"{cfg.model}.log.csv"
    start = max(0, min(cfg.min_epochs, epochs) - 1)  # 0-based epoch index
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=cfg.patience,
                                      restore_best_weights=True, start_from_epoch=start, verbose=0),
        best_checkpoint(str(out_dir / f"{cfg.model}.best.weights.h5"), start_from_epoch=start),
        keras.callbacks.CSVLogger(str(log_path)),
    ]
    if verbose:
        from tqdm.keras import TqdmCallback

        callbacks.append(TqdmCallback(verbose=0, desc=cfg.model))
    history = trained.fit(train_ds, validation_data=valid_ds, epochs=epochs, steps_per_epoch=steps,
                          callbacks=callbacks, verbose=0, shuffle=False)  # tf.data shuffles
    # EarlyStopping restores the best weights only when it stopped early; make it unconditional
    best = out_dir / f"{cfg.model}.best.weights.h5"
    if best.exists():
        trained.load_weights(str(best))
        best.unlink()
    if readouts is not None:
        readouts.update(weigh_trunk(model, arrays["valid"], labels["valid"]))
        if verbose:
            print(f"trunk weighed {readouts['trunk_weight']:.2f} against the readouts (validation log loss)")
    seconds = time.time() - t0

    preds = []
    metrics = {}
    streams = {}  # multi-stream models: what each stream's logit alone is worth
    for s in ("valid", "test"):
        p, logits = predict_streams(model, arrays[s], batch_size=64)  # one forward pass for both
        preds.append(frames[s].assign(p_fake=p)[["split", "path", "label", "group", "method", "p_fake"]])
        metrics[s] = compute_metrics(labels[s], p, n_boot=0 if cfg.smoke else 1000, seed=cfg.seed)
        if logits:
            streams[s] = stream_roc_auc(labels[s], logits)
    predictions = pd.concat(preds, ignore_index=True)
    predictions.to_csv(out_dir / f"{cfg.model}.predictions.csv", index=False)

    hist = pd.DataFrame(history.history)
    hist.index.name = "epoch"
    # the epoch whose weights were kept: the best validation AUC from min_epochs on
    kept = hist["val_auc"].iloc[start:] if "val_auc" in hist and len(hist) > start else None
    best_epoch = int(kept.idxmax()) + 1 if kept is not None else len(hist)
    card = base_card(
        model, cfg.model, size,
        dataset=cfg.dataset,
        manifest_sha256=sha256_file(manifest_path) if manifest_path.exists() else "unknown",
        split_sizes={s: {"real": int((labels[s] == 0).sum()), "fake": int((labels[s] == 1).sum())} for s in labels},
        training={"config": {k: v for k, v in asdict(cfg).items() if k != "overrides"}, "overrides": cfg.overrides,
                  "epochs_run": len(hist), "best_epoch": best_epoch, "seconds": round(seconds, 1),
                  "device": device, "augmentation": asdict(augment),
                  **({"fitted_readouts": readouts} if readouts else {}),
                  **({"stream_roc_auc": streams} if streams else {})},
        metrics={s: {k: v["value"] for k, v in m.items()} for s, m in metrics.items()},
        face_stage=_face_stage_params(cfg.dataset),
    )
    model_path = save_model(model, out_dir / f"{cfg.model}.h5", card)
    if verbose:
        auc = metrics["test"]["roc_auc"]["value"]
        print(f"{cfg.model}: {len(hist)} epochs in {seconds:.0f} s, best epoch {best_epoch}, test ROC-AUC {auc:.3f}")
    return TrainResult(cfg, model, hist, card, model_path, predictions, metrics["test"], metrics["valid"],
                       seconds, device)


def stream_roc_auc(labels, logits: dict[str, np.ndarray]) -> dict[str, float]:
    """ROC-AUC of each stream's logit alone, of the streams other than the trunk together
    (``"without trunk"``) and of all of them (the model's own score)."""
    from sklearn.metrics import roc_auc_score

    table = {name: float(roc_auc_score(labels, v)) for name, v in logits.items()}
    others = [v for name, v in logits.items() if name != "trunk"]
    if "trunk" in logits and others:
        table["without trunk"] = float(roc_auc_score(labels, sum(others)))
    table["all"] = float(roc_auc_score(labels, sum(logits.values())))
    return {k: round(v, 4) for k, v in table.items()}


def apply_dataset_preset(cfg: TrainConfig) -> TrainConfig:
    """Fill what the caller left at its default from the dataset adapter's training preset."""
    from dataclasses import replace

    from dfd.data.datasets import get_adapter

    try:
        preset = get_adapter(cfg.dataset).training
    except Exception:  # noqa: BLE001 — datasets without an adapter train with the plain defaults
        return cfg if cfg.epochs else replace(cfg, epochs=DEFAULT_EPOCHS)
    # a model may have its own entry (input size, augmentation, hyper-parameters) that wins
    # over the dataset-wide one, e.g. faces140k's dual-stream cnn at 256 px
    model_preset = dict(preset.get("models", {}).get(cfg.model, {}))
    merged = {**{k: v for k, v in preset.items() if k != "models"}, **model_preset}
    changes = {}
    if not cfg.input_size and merged.get("input_size"):
        changes["input_size"] = int(merged["input_size"])
    if not cfg.augmentation and merged.get("augmentation"):
        changes["augmentation"] = dict(merged["augmentation"])
    if not cfg.overrides and merged.get("overrides"):
        changes["overrides"] = dict(merged["overrides"])
    if not cfg.epochs:
        changes["epochs"] = int(merged.get("epochs", DEFAULT_EPOCHS))
    return replace(cfg, **changes) if changes else cfg


def _tuples(d: dict) -> dict:
    # JSON / papermill give lists where AugmentConfig has (lo, hi) tuples
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


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
