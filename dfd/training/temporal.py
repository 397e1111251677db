"""Training the clip-level models: a frame model when no image CNN exists, and the temporal model.

:func:`train_temporal` trains ``TimeDistributed(image encoder) -> LSTM -> P(fake)``
(:mod:`dfd.models.temporal`). The encoder is the trained image CNN of
``models/<dataset>/cnn.h5`` when it exists; otherwise a CNN is first trained on the frames
of the training clips. The encoder is frozen and its per-frame embeddings computed once
(plus horizontally flipped and time-reversed copies for training), so the LSTM head
trains in seconds on a CPU; ``finetune_epochs`` > 0 then trains end to end. The model is
saved as ``models/<dataset>/temporal.h5`` with its model card."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dfd.data.video_crops import MARGIN, ClipCrops, temporal_input
from dfd.errors import DfdError


def load_frame_model(dataset: str, name: str = "cnn"):
    """``(model, card, path)`` of ``models/<dataset>/<name>.h5``, or None if it is not there."""
    from dfd.models import load_model
    from dfd.paths import models_dir

    path = models_dir(dataset) / f"{name}.h5"
    if not path.exists():
        return None
    model, card = load_model(path)
    return model, card, path


def predict_frames(model, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """P(fake) per crop (resized to the model's input size if needed)."""
    import cv2

    if len(crops) == 0:
        return np.zeros(0)
    size = int(model.input_shape[1])
    x = crops
    if crops.shape[1] != size:
        interp = cv2.INTER_AREA if crops.shape[1] > size else cv2.INTER_LINEAR
        x = np.stack([cv2.resize(c, (size, size), interpolation=interp) for c in crops])
    out = [np.asarray(model.predict_on_batch(x[i : i + batch_size].astype(np.float32))).reshape(-1)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def train_frame_model(train_x, train_y, valid_x, valid_y, size: int, epochs: int, seed: int = 0,
                      batch_size: int = 32, verbose: int = 0):
    """A ``cnn`` trained on clip frames (each frame labelled with its clip): the fallback
    encoder / per-frame model when the dataset has no trained image CNN."""
    import keras

    from dfd.models import build_model
    from dfd.training.input_pipeline import AugmentConfig, make_dataset
    from dfd.training.train import set_determinism

    set_determinism(seed)
    model = build_model("cnn", input_size=size)
    batch = min(batch_size, len(train_x))
    steps = max(1, len(train_x) // batch)
    model.compile(optimizer=keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(2e-3, steps * epochs, alpha=0.05),
                                                   weight_decay=1e-4),
                  loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    train_ds = make_dataset(train_x, train_y, batch, training=True, seed=seed, augment=AugmentConfig())
    valid_ds = make_dataset(valid_x, valid_y, 64, training=False)
    cb = [keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=5, restore_best_weights=True)]
    hist = model.fit(train_ds, validation_data=valid_ds, epochs=epochs, steps_per_epoch=steps, callbacks=cb,
                     shuffle=False, verbose=verbose)
    return model, pd.DataFrame(hist.history)


def _head_model(temporal):
    """The part of a temporal model after its per-frame encoder, as a model on embeddings
    (layers shared: training it trains the temporal model's head)."""
    import keras

    frames = temporal.input_shape[1]
    dim = temporal.get_layer("per_frame").output.shape[-1]
    x = inp = keras.Input((frames, dim), name="embeddings")
    started = False
    for layer in temporal.layers:
        if layer.name == "per_frame":
            started = True
            continue
        if started:
            x = layer(x)
    return keras.Model(inp, x, name="temporal_head")


@dataclass
class VideoTrainConfig:
    dataset: str = "dfd-default"
    frames: int = 16  # T, frames per clip the temporal model sees
    epochs: int = 40  # LSTM head epochs (on frozen-encoder embeddings)
    finetune_epochs: int = 0  # then end to end (encoder unfrozen), at learning_rate / 10
    frame_epochs: int = 20  # only when no trained image CNN exists: epochs of the fallback frame CNN
    batch_size: int = 16
    learning_rate: float = 1e-3
    patience: int = 8
    seed: int = 0
    smoke: bool = False
    encoder: str = "auto"  # "auto" = models/<dataset>/cnn.h5 if present, else a CNN trained on clip frames


@dataclass
class VideoTrainResult:
    config: VideoTrainConfig
    model: object
    frame_model: object
    encoder_source: str
    history: pd.DataFrame
    card: dict
    model_path: Path
    predictions: pd.DataFrame  # split, path, label, group, method, p_fake (valid + test clips)
    valid_metrics: dict
    test_metrics: dict
    seconds: float
    device: str
    input_size: int


def _stack(clips: list[ClipCrops], frames: int) -> np.ndarray:
    return np.stack([temporal_input(c, frames) for c in clips]).astype(np.uint8)


def train_temporal(cfg: VideoTrainConfig, splits: dict[str, tuple[list, list[ClipCrops]]], frame_model=None,
                   encoder_source: str = "", verbose: int = 1) -> VideoTrainResult:
    """Train the temporal model. ``splits`` maps "train"/"valid"/"test" to ``(items, crops)``
    (clips whose face stage failed are left out). ``frame_model`` is the trained image CNN
    whose encoder is re-used (None: a CNN is trained on the training clips' frames first)."""
    import keras

    from dfd.metrics import compute_metrics
    from dfd.models import base_card, build_model, save_model
    from dfd.paths import models_dir
    from dfd.training.train import set_determinism, training_device

    t0 = time.time()
    set_determinism(cfg.seed)
    device = training_device()
    T = int(cfg.frames)
    data = {}
    for s in ("train", "valid", "test"):
        items, crops = splits[s]
        keep = [(it, c) for it, c in zip(items, crops) if c.ok]
        if not keep or len({it.label for it, _ in keep}) < 2:
            raise DfdError(f"the {s} split needs real and fake clips with a face (has {len(keep)})")
        data[s] = ([it for it, _ in keep], [c for _, c in keep])
    size = int(data["train"][1][0].crops.shape[1])
    labels = {s: np.array([it.label for it in data[s][0]], np.float32) for s in data}

    frame_history = None
    if frame_model is None:
        encoder_source = "cnn trained on the training clips' frames (no trained image CNN found)"
        fx = {s: np.concatenate([c.face_crops for c in data[s][1]]) for s in ("train", "valid")}
        fy = {s: np.concatenate([np.full(len(c.face_crops), it.label) for it, c in zip(*data[s])]) for s in ("train", "valid")}
        epochs = min(cfg.frame_epochs, 2) if cfg.smoke else cfg.frame_epochs
        if verbose:
            print(f"no trained image CNN: training one on {len(fx['train'])} clip frames at {size}px ({epochs} epochs)")
        frame_model, frame_history = train_frame_model(fx["train"], fy["train"], fx["valid"], fy["valid"], size, epochs,
                                                       cfg.seed)
    elif int(frame_model.input_shape[1]) != size:
        raise DfdError(f"the image model takes {frame_model.input_shape[1]}px faces but the crops are {size}px")

    temporal = build_model("temporal", input_size=size, frames=T, encoder=frame_model, train_encoder=False)
    encoder = temporal.get_layer("per_frame").layer
    encoder.trainable = False

    def embed(x: np.ndarray) -> np.ndarray:  # (N, T, S, S, 3) -> (N, T, D)
        flat = x.reshape((-1,) + x.shape[2:]).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras: "structure of inputs doesn't match" (list vs tensor)
            emb = np.concatenate([np.asarray(encoder(flat[i : i + 64], training=False)) for i in range(0, len(flat), 64)])
        return emb.reshape(x.shape[0], x.shape[1], -1)

    clips = {s: _stack(data[s][1], T) for s in data}
    emb = {s: embed(clips[s]) for s in data}
    # training copies: mirrored faces (a new embedding) and time-reversed clips (free)
    emb_flip = embed(clips["train"][:, :, :, ::-1])
    train_x = np.concatenate([emb["train"], emb_flip, emb["train"][:, ::-1], emb_flip[:, ::-1]])
    train_y = np.concatenate([labels["train"]] * 4)

    head = _head_model(temporal)
    epochs = min(cfg.epochs, 3) if cfg.smoke else cfg.epochs
    steps = max(1, int(np.ceil(len(train_x) / cfg.batch_size)))
    head.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps * epochs,
                                                                                        alpha=0.05)),
                 loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")])
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=cfg.patience, restore_best_weights=True)]
    hist = head.fit(train_x, train_y, validation_data=(emb["valid"], labels["valid"]), epochs=epochs,
                    batch_size=cfg.batch_size, shuffle=True, callbacks=callbacks, verbose=0)
    history = pd.DataFrame(hist.history).assign(stage="head")

    if cfg.finetune_epochs and not cfg.smoke:
        encoder.trainable = True
        temporal.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate / 10), loss="binary_crossentropy",
                         metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")])
        x_train = np.concatenate([clips["train"], clips["train"][:, :, :, ::-1]]).astype(np.float32)
        y_train = np.concatenate([labels["train"]] * 2)
        hist2 = temporal.fit(x_train, y_train, validation_data=(clips["valid"].astype(np.float32), labels["valid"]),
                             epochs=cfg.finetune_epochs, batch_size=8, shuffle=True,
                             callbacks=[keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=2,
                                                                      restore_best_weights=True)], verbose=0)
        history = pd.concat([history, pd.DataFrame(hist2.history).assign(stage="finetune")], ignore_index=True)
        encoder.trainable = False
    history.index.name = "epoch"
    seconds = time.time() - t0

    preds, metrics = [], {}
    for s in ("valid", "test"):
        if cfg.finetune_epochs and not cfg.smoke:  # the encoder changed: embeddings are stale
            p = np.asarray(temporal.predict(clips[s].astype(np.float32), batch_size=8, verbose=0)).reshape(-1)
        else:  # same numbers as temporal.predict (frozen encoder, no dropout at inference), far cheaper
            p = np.asarray(head(emb[s], training=False)).reshape(-1)
        items = data[s][0]
        preds.append(pd.DataFrame({"split": s, "path": [it.path for it in items], "label": [it.label for it in items],
                                   "group": [it.group for it in items], "method": [it.method for it in items], "p_fake": p}))
        metrics[s] = compute_metrics(labels[s].astype(int), p, n_boot=0 if cfg.smoke else 1000, seed=cfg.seed)
    predictions = pd.concat(preds, ignore_index=True)

    out_dir = models_dir(cfg.dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out_dir / "temporal.clip_predictions.csv", index=False)
    head_hist = history[history.stage == "head"]
    card = base_card(
        temporal, "temporal", size,
        dataset=cfg.dataset,
        frames=T,
        encoder={"source": encoder_source, "frozen": not (cfg.finetune_epochs and not cfg.smoke)},
        split_sizes={s: {"real": int((labels[s] == 0).sum()), "fake": int((labels[s] == 1).sum())} for s in labels},
        training={"config": asdict(cfg), "epochs_run": int(len(history)),
                  "best_head_epoch": int(head_hist["val_auc"].to_numpy().argmax()) + 1 if "val_auc" in head_hist else None,
                  "seconds": round(seconds, 1), "device": device,
                  "augmentation": "mirrored faces and time-reversed clips (embedding level)",
                  "frame_model_epochs": int(len(frame_history)) if frame_history is not None else 0},
        metrics={s: {k: v["value"] for k, v in m.items()} for s, m in metrics.items()},
        face_stage={"mode": "detect", "margin": MARGIN, "crop_size": size, "template": "arcface-5pt",
                    "video": f"{T} frames sampled evenly; MTCNN on frames downscaled to 320 px; the main face "
                             "followed by IoU tracking; landmarks interpolated along the track"},
    )
    model_path = save_model(temporal, out_dir / "temporal.h5", card)
    if verbose:
        auc = metrics["test"]["roc_auc"]["value"]
        print(f"temporal: {len(history)} epochs in {seconds:.0f} s on {device}, test ROC-AUC "
              f"{'n/a' if auc is None else f'{auc:.3f}'}")
    return VideoTrainResult(cfg, temporal, frame_model, encoder_source, history, card, model_path, predictions,
                            metrics["valid"], metrics["test"], seconds, device, size)


