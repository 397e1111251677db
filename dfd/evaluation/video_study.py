"""How per-frame scores compare with the temporal model on clips, and how many frames a video needs.

* :func:`clip_table` / :func:`aggregation_table` compare the frame-score aggregations of
  :func:`dfd.evaluation.aggregation.aggregate` (mean, median, top-k, confident) with the temporal model;
* :func:`frames_per_video` measures accuracy, AUC and seconds per video against the number
  of sampled frames; :func:`plot_timelines` draws per-frame scores over time."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from dfd.data.video_crops import ClipCrops, crop_clip, temporal_input
from dfd.errors import DfdError
from dfd.evaluation.aggregation import AGGREGATIONS, aggregate
from dfd.faces import VIDEO, FaceDetector
from dfd.training.temporal import predict_frames

FRAMES_PER_VIDEO = (8, 16, 32, 64, 100)


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
    from dfd.metrics import compute_metrics

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

    from dfd.metrics import compute_metrics

    detector = detector or FaceDetector(VIDEO)
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
