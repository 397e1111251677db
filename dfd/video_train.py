"""Clip-level detection: face crops of clips, the temporal model, and how per-frame scores
compare with it.

* :func:`crop_clip` samples frames, follows the main face (:func:`dfd.video.track_faces`),
  aligns every sampled frame on it (:func:`dfd.data.faces.align_face`; landmarks are
  interpolated along the track for frames where the detector missed) and caches the crops
  as ``.npy`` keyed by the file's hash and the parameters.
* :func:`train_temporal` trains ``TimeDistributed(image encoder) -> LSTM -> P(fake)``
  (:mod:`dfd.models.temporal`). The encoder is the trained image CNN of
  ``models/<dataset>/cnn.h5`` when it exists; otherwise a CNN is first trained on the frames
  of the training clips. The encoder is frozen and its per-frame embeddings computed once
  (plus horizontally flipped and time-reversed copies for training), so the LSTM head
  trains in seconds on a CPU; ``finetune_epochs`` > 0 then trains end to end. The model is
  saved as ``models/<dataset>/temporal.h5`` with its model card.
* :func:`clip_table` / :func:`aggregation_table` compare the frame-score aggregations of
  :func:`dfd.video.aggregate` (mean, median, top-k, confident) with the temporal model;
  :func:`frames_per_video` measures accuracy, AUC and seconds per video against the number
  of sampled frames; :func:`score_video` is the end-to-end analysis of one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BadInputError, DfdError
from .imaging import sha256_file
from .video import AGGREGATIONS, VideoLimits, aggregate, sample_video, track_faces, video_detector

CROP_VERSION = 2
FRAMES_PER_VIDEO = (8, 16, 32, 64, 100)
MARGIN = 0.3  # the face stage's margin (dfd.data.faces): crops match the image models'


# ---------------------------------------------------------------------------- crops


@dataclass
class ClipCrops:
    """The face crops of one video's sampled frames."""

    path: str
    status: str  # "ok" | "no_face" | "error"
    reason: str = ""
    crops: np.ndarray | None = field(default=None, repr=False)  # (n, S, S, 3) uint8, one per sampled frame
    indices: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)  # the main face was detected (not interpolated)
    n_tracks: int = 0
    frames_without_face: int = 0
    video_frames: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def face_crops(self) -> np.ndarray:
        """Crops of the frames where the face was detected (what per-frame scoring uses)."""
        if self.crops is None:
            return np.zeros((0, 1, 1, 3), np.uint8)
        return self.crops[np.asarray(self.detected, bool)]

    def face_times(self) -> list[float]:
        return [t for t, d in zip(self.times, self.detected) if d]

    def meta(self) -> dict:
        d = asdict(self)
        d.pop("crops")
        return d


def align_roi(rgb: np.ndarray, landmarks, size: int, margin: float = MARGIN) -> np.ndarray:
    """:func:`dfd.data.faces.align_face` on the part of a (large) frame the crop covers: the
    same crop, without resampling the whole frame when the face is small in it."""
    import cv2

    from .data.faces import align_face, alignment_matrix

    lm = np.asarray(landmarks, np.float64)
    h, w = rgb.shape[:2]
    try:
        inv = cv2.invertAffineTransform(alignment_matrix(lm, size, margin))
    except Exception:  # noqa: BLE001 — degenerate landmarks: let align_face raise its own error
        return align_face(rgb, lm, size, margin)[0]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
    pad = 0.1 * float(np.ptp(corners[:, 0]) + 2)
    x0, y0 = (max(0, int(np.floor(v - pad))) for v in corners.min(0))
    x1, y1 = int(np.ceil(min(w, corners[:, 0].max() + pad))), int(np.ceil(min(h, corners[:, 1].max() + pad)))
    if x1 - x0 < 4 or y1 - y0 < 4 or (x0 == 0 and y0 == 0 and x1 == w and y1 == h):
        return align_face(rgb, lm, size, margin)[0]
    return align_face(rgb[y0:y1, x0:x1], lm - [x0, y0], size, margin)[0]


def track_main_face(frames, detector):
    """:func:`dfd.video.track_faces`, retried once at twice the detection resolution when a
    downscaling detector found no face at all (small faces in large frames)."""
    tracks = track_faces(frames, detector)
    max_side = getattr(detector, "max_side", None)
    if tracks.no_face and frames and max_side and max(frames[0].rgb.shape[:2]) > max_side:
        finer = getattr(detector, "_finer", None)
        if finer is None:
            finer = type(detector)(min_confidence=detector.min_confidence, max_side=2 * max_side,
                                   min_face_size=detector.min_face_size)
            try:
                finer._mtcnn, finer._lock = detector._model(), detector._lock  # share the loaded networks
            except AttributeError:
                pass
            detector._finer = finer
        tracks = track_faces(frames, finer)
    return tracks


def _crop_key(sha: str, params: dict) -> str:
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return f"{sha[:32]}_{tag}"


def crop_clip(
    path: str | os.PathLike,
    n_frames: int,
    size: int,
    detector=None,
    cache_dir: str | os.PathLike | None = None,
    margin: float = MARGIN,
    limits: VideoLimits | None = None,
) -> ClipCrops:
    """Face crops of ``n_frames`` evenly sampled frames of a video (cached when ``cache_dir``
    is given). Never raises for a bad file: the reason is in the result."""
    t0 = time.perf_counter()
    path = str(path)
    detector = detector or video_detector()
    params = {"v": CROP_VERSION, "n": int(n_frames), "size": int(size), "margin": float(margin),
              "detector": [getattr(detector, "max_side", None), getattr(detector, "min_face_size", None),
                           getattr(detector, "min_confidence", None)], "iou": 0.3}
    key = meta_path = npy_path = None
    if cache_dir is not None:
        try:
            key = _crop_key(sha256_file(path), params)
        except OSError as exc:
            return ClipCrops(path, "error", f"cannot read file: {exc.strerror or exc}")
        cache_dir = Path(cache_dir)
        meta_path, npy_path = cache_dir / f"{key}.json", cache_dir / f"{key}.npy"
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                crops = np.load(npy_path) if meta["status"] == "ok" else None
                meta.update(path=path, crops=crops)
                return ClipCrops(**meta)
            except (OSError, ValueError, TypeError, KeyError):
                pass  # damaged cache entry: redo it
    try:
        sample = sample_video(path, n=n_frames, limits=limits)
    except BadInputError as exc:
        result = ClipCrops(path, "error", exc.reason)
    else:
        frames = sample.frames
        tracks = track_main_face(frames, detector)
        base = dict(indices=[f.index for f in frames], times=[round(f.time_s, 4) for f in frames],
                    n_tracks=len(tracks), frames_without_face=tracks.frames_without_face,
                    video_frames=sample.info.frame_count, notes=list(sample.notes))
        main = tracks.main()
        if main is None:
            result = ClipCrops(path, "no_face", "no face found", detected=[False] * len(frames), **base)
        else:
            crops = np.stack([align_roi(f.rgb, main.landmarks_at(pos), size, margin) for pos, f in enumerate(frames)])
            detected = [main.at(pos) is not None for pos in range(len(frames))]
            result = ClipCrops(path, "ok", "", crops, detected=detected, **base)
    result.seconds = round(time.perf_counter() - t0, 3)
    if meta_path is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if result.crops is not None:
            np.save(npy_path, result.crops)
        meta_path.write_text(json.dumps(result.meta()))
    return result


def crop_clips(items, n_frames: int, size: int, cache_dir=None, detector=None, progress: bool = True) -> list[ClipCrops]:
    """:func:`crop_clip` for every item (MediaItem or path)."""
    from tqdm.auto import tqdm

    detector = detector or video_detector()
    out = []
    for it in tqdm(list(items), desc=f"face crops ({n_frames} frames)", disable=not progress):
        out.append(crop_clip(getattr(it, "path", it), n_frames, size, detector, cache_dir))
    return out


def temporal_input(clip: ClipCrops, frames: int) -> np.ndarray:
    """``frames`` crops for the temporal model: evenly spaced over the frames where the face
    was detected (repeated when there are fewer; all crops when none is marked)."""
    crops = clip.crops
    det = np.flatnonzero(np.asarray(clip.detected, bool))
    pool = det if det.size else np.arange(len(crops))
    pick = pool[np.round(np.linspace(0, len(pool) - 1, frames)).astype(int)]
    return crops[pick]


# ------------------------------------------------------------------------- models


def load_frame_model(dataset: str, name: str = "cnn"):
    """``(model, card, path)`` of ``models/<dataset>/<name>.h5``, or None if it is not there."""
    from .models import load_model
    from .paths import models_dir

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

    from .models import build_model
    from .pipeline import AugmentConfig, make_dataset
    from .train import set_determinism

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

    from .metrics import compute_metrics
    from .models import base_card, build_model, save_model
    from .paths import models_dir
    from .train import set_determinism, training_device

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


# --------------------------------------------------------------------- evaluation


def clip_table(items, crops: list[ClipCrops], frame_model, temporal_model=None, frames: int | None = None,
               k: float = 0.25, margin: float = 0.3) -> pd.DataFrame:
    """One row per clip: label, status, frames with a face, per-frame scores, every
    aggregation of them and the temporal model's score (NaN where no face was found)."""
    T = frames or (int(temporal_model.input_shape[1]) if temporal_model is not None else None)
    rows = []
    for it, c in zip(items, crops):
        row = {"path": it.path, "label": it.label, "split": it.split, "group": it.group, "method": it.method,
               "status": c.status, "reason": c.reason, "frames_sampled": len(c.indices),
               "frames_with_face": int(sum(c.detected)), "tracks": c.n_tracks}
        if c.ok and row["frames_with_face"]:
            scores = predict_frames(frame_model, c.face_crops)
            row["frame_scores"] = scores.round(4).tolist()
            row["frame_times"] = c.face_times()
            for m in AGGREGATIONS:
                row[m] = aggregate(scores, m, k=k, margin=margin)
            if temporal_model is not None:
                x = temporal_input(c, T)[None].astype(np.float32)
                size = int(temporal_model.input_shape[2])
                if x.shape[2] != size:
                    raise DfdError(f"temporal model takes {size}px faces, crops are {x.shape[2]}px")
                row["temporal"] = float(np.asarray(temporal_model.predict_on_batch(x)).reshape(-1)[0])
        else:
            row["frame_scores"], row["frame_times"] = [], []
        rows.append(row)
    return pd.DataFrame(rows)


def aggregation_table(table: pd.DataFrame, methods=None, threshold: float = 0.5) -> pd.DataFrame:
    """Accuracy, balanced accuracy and ROC-AUC of each clip score (rows) over the clips with a face."""
    from .metrics import compute_metrics

    methods = methods or [m for m in (*AGGREGATIONS, "temporal") if m in table]
    ok = table[table.status == "ok"].dropna(subset=[m for m in methods if m in table])
    rows = []
    for m in methods:
        met = compute_metrics(ok.label.to_numpy(int), ok[m].to_numpy(float), threshold=threshold, n_boot=0)
        rows.append({"method": m, "clips": len(ok), "accuracy": met["accuracy"]["value"],
                     "balanced_accuracy": met.get("balanced_accuracy", {}).get("value"),
                     "roc_auc": met.get("roc_auc", {}).get("value")})
    out = pd.DataFrame(rows).set_index("method")
    out.attrs["no_face"] = int((table.status == "no_face").sum())
    out.attrs["errors"] = int((table.status == "error").sum())
    return out


def frames_per_video(items, frame_model, ns=FRAMES_PER_VIDEO, detector=None, method: str = "mean",
                     progress: bool = True) -> pd.DataFrame:
    """For each N: sample N frames of every video, detect + track + align + score with the
    image model + aggregate (uncached, timed end to end). Clips shorter than N use all
    their frames (the ``frames_used`` column says how many)."""
    from tqdm.auto import tqdm

    from .metrics import compute_metrics

    detector = detector or video_detector()
    size = int(frame_model.input_shape[1])
    items = list(items)
    rows = []
    for n in ns:
        y, p, used, secs, no_face = [], [], [], [], 0
        for it in tqdm(items, desc=f"N={n}", disable=not progress, leave=False):
            t0 = time.perf_counter()
            clip = crop_clip(it.path, n, size, detector, cache_dir=None)
            if clip.ok and any(clip.detected):
                score = aggregate(predict_frames(frame_model, clip.face_crops), method)
                secs.append(time.perf_counter() - t0)
                y.append(it.label)
                p.append(score)
                used.append(len(clip.indices))
            elif clip.status == "no_face":
                no_face += 1
        met = compute_metrics(np.array(y, int), np.array(p), n_boot=0) if y else {}
        rows.append({
            "frames_asked": n,
            "frames_used_mean": float(np.mean(used)) if used else 0.0,
            "frames_used_max": int(max(used)) if used else 0,
            "videos": len(y),
            "no_face": no_face,
            "accuracy": met.get("accuracy", {}).get("value"),
            "roc_auc": met.get("roc_auc", {}).get("value"),
            "seconds_per_video": float(np.mean(secs)) if secs else None,
            "note": "" if not used or min(used) >= n else
                    f"{sum(u < n for u in used)} of {len(used)} videos have fewer than {n} frames: all of theirs used",
        })
    return pd.DataFrame(rows).set_index("frames_asked")


# ------------------------------------------------------------------- one video


def score_video(path: str | os.PathLike, frame_models: dict, temporal_model=None, n_frames: int = 32,
                detector=None, method: str = "mean", limits: VideoLimits | None = None) -> dict:
    """End-to-end analysis of one video: sample ``n_frames``, detect and track faces, align
    the main face, score every frame with each image model in ``frame_models`` ({name:
    model}), run the temporal model on its T frames and aggregate. Returns scores, the
    tracking summary and the seconds each stage took. No face → ``status`` "no_face" and
    no score; an unreadable file raises BadInputError."""
    detector = detector or video_detector()
    timings = {}
    t = time.perf_counter()
    sample = sample_video(path, n=n_frames, limits=limits)
    timings["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    tracks = track_main_face(sample.frames, detector)
    timings["detect_track"] = time.perf_counter() - t
    result = {"path": str(path), "info": sample.info.to_dict(), "notes": sample.notes,
              "frames": len(sample.frames), "tracking": tracks.summary(), "timings": timings}
    main = tracks.main()
    if main is None:
        result.update(status="no_face", reason="no face found")
        return result
    t = time.perf_counter()
    sizes = {int(m.input_shape[1]) for m in frame_models.values()}
    if temporal_model is not None:
        sizes.add(int(temporal_model.input_shape[2]))
    positions = main.positions
    crops = {s: np.stack([align_roi(sample.frames[p].rgb, main.at(p).face.landmarks, s, MARGIN) for p in positions])
             for s in sizes}
    timings["align"] = time.perf_counter() - t
    scores, per_frame = {}, {}
    for name, model in frame_models.items():
        t = time.perf_counter()
        p = predict_frames(model, crops[int(model.input_shape[1])])
        timings[f"model:{name}"] = time.perf_counter() - t
        per_frame[name] = p.round(4).tolist()
        scores[name] = aggregate(p, method)
    if temporal_model is not None:
        t = time.perf_counter()
        T = int(temporal_model.input_shape[1])
        c = crops[int(temporal_model.input_shape[2])]
        x = c[np.round(np.linspace(0, len(c) - 1, T)).astype(int)][None].astype(np.float32)
        scores["temporal"] = float(np.asarray(temporal_model.predict_on_batch(x)).reshape(-1)[0])
        timings["model:temporal"] = time.perf_counter() - t
    result.update(status="ok", scores=scores, per_frame=per_frame,
                  frame_indices=[sample.frames[p].index for p in positions],
                  frame_times=[round(sample.frames[p].time_s, 3) for p in positions],
                  main_track=main.to_dict())
    return result


# ---------------------------------------------------------------------- figures


def plot_timelines(timelines: list[dict], ncols: int = 2):
    """Per-frame P(fake) over time, one panel per video. Each dict: title, times, scores,
    and optionally label (0/1), clip_score, temporal, duration."""
    import matplotlib.pyplot as plt

    n = max(1, len(timelines))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, tl in zip(axes.ravel(), timelines):
        times, scores = np.asarray(tl.get("times", [])), np.asarray(tl.get("scores", []))
        if len(scores):
            ax.plot(times, scores, "o-", ms=3, lw=1, label="frame P(fake)")
        else:
            ax.text(0.5, 0.5, "no face found", ha="center", va="center", transform=ax.transAxes)
        if tl.get("clip_score") is not None:
            ax.axhline(tl["clip_score"], color="C1", ls="--", lw=1, label=f"mean {tl['clip_score']:.2f}")
        if tl.get("temporal") is not None:
            ax.axhline(tl["temporal"], color="C2", ls=":", lw=1.5, label=f"temporal {tl['temporal']:.2f}")
        if tl.get("duration"):
            ax.set_xlim(0, tl["duration"])
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_ylim(-0.03, 1.03)
        label = {0: "real", 1: "fake"}.get(tl.get("label"), "")
        ax.set_title(f"{tl.get('title', '')}{f' ({label})' if label else ''}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("P(fake)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right")
    for ax in axes.ravel()[len(timelines):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
