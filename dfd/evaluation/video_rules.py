"""Rules that turn the scored faces of a video into one video score, and their comparison.

A video's faces come as records ``{"frame": int, "track": int, "p": float, "decides": bool}``
(one per tracked face and sampled frame; ``decides``: the track may set the verdict,
:mod:`dfd.inference.deciding`). Each rule of :data:`VIDEO_RULES` reads only the faces that
may decide:

* ``track_topk`` — a track's score is the mean of its top-k frame scores
  (:func:`dfd.evaluation.aggregation.top_k_count`), the most suspicious track decides (the
  engine's rule until issue 16 measured the others);
* ``track_mean``, ``track_median`` — the same with a track's mean / median;
* ``frame_max_mean`` — SBI's rule: the most suspicious face of each frame, then the mean over
  frames (Shiohara & Yamasaki 2022);
* ``frame_max_median`` — the same with the median over frames;
* ``dfdc_confident`` — the DFDC winner's "confident strategy" over the frames' most suspicious
  faces (Seferbekov 2020): if more than a fraction of frames are confidently fake, the mean of
  those; if nearly all are confidently real, the mean of those; else the mean;
* ``frame_max_topk`` — the top-k mean of the frames' most suspicious faces.

:func:`compare_rules` scores every rule on labelled videos: ROC-AUC with a bootstrap CI,
log loss, accuracy and reals called fake at the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from dfd.evaluation.aggregation import top_k_count


def _deciding(faces: Sequence[Mapping]) -> list[Mapping]:
    out = [f for f in faces if f.get("decides", True)]
    if not out:
        raise ValueError("no face of this video may decide (no scored face?)")
    return out


def _by_track(faces) -> dict[int, np.ndarray]:
    tracks: dict[int, list[float]] = {}
    for f in _deciding(faces):
        tracks.setdefault(int(f["track"]), []).append(float(f["p"]))
    return {t: np.asarray(p) for t, p in tracks.items()}


def most_suspicious_per_frame(faces: Sequence[Mapping]) -> list[int]:
    """For each frame, in frame order, the position in ``faces`` of its most suspicious face
    that may decide (the first listed on a tie): the faces SBI's rule takes."""
    best: dict[int, int] = {}
    for i, f in enumerate(faces):
        if not f.get("decides", True):
            continue
        k = int(f["frame"])
        if k not in best or float(f["p"]) > float(faces[best[k]]["p"]):
            best[k] = i
    if not best:
        raise ValueError("no face of this video may decide (no scored face?)")
    return [best[k] for k in sorted(best)]


def _frame_max(faces) -> np.ndarray:
    return np.asarray([float(faces[i]["p"]) for i in most_suspicious_per_frame(faces)])


def _topk_mean(p: np.ndarray) -> float:
    return float(np.sort(p)[::-1][: top_k_count(p.size)].mean())


def dfdc_confident(p, threshold: float = 0.8, min_fake_share: float = 1 / 2.5, min_fake_frames: int = 11,
                   real_share: float = 0.9) -> float:
    """The DFDC winner's confident strategy over per-frame scores: the mean of the frames over
    ``threshold`` when they are more than ``min_fake_share`` of the frames and more than
    ``min_fake_frames`` (its values for 32 frames), else the mean of the frames under
    ``1 - threshold`` when they are over ``real_share`` of them, else the plain mean."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no frame scores")
    fakes = p[p > threshold]
    if fakes.size > int(p.size * min_fake_share) and fakes.size > min(min_fake_frames, p.size // 2):
        return float(fakes.mean())
    reals = p[p < 1 - threshold]
    if reals.size > real_share * p.size:
        return float(reals.mean())
    return float(p.mean())


VIDEO_RULES: dict[str, Callable[[Sequence[Mapping]], float]] = {
    "track_topk": lambda faces: max(_topk_mean(p) for p in _by_track(faces).values()),
    "track_mean": lambda faces: max(float(p.mean()) for p in _by_track(faces).values()),
    "track_median": lambda faces: max(float(np.median(p)) for p in _by_track(faces).values()),
    "frame_max_mean": lambda faces: float(_frame_max(faces).mean()),
    "frame_max_median": lambda faces: float(np.median(_frame_max(faces))),
    "frame_max_topk": lambda faces: _topk_mean(_frame_max(faces)),
    "dfdc_confident": lambda faces: dfdc_confident(_frame_max(faces)),
}


def video_score(faces: Sequence[Mapping], rule: str) -> float:
    """One video's score under ``rule`` (a name of :data:`VIDEO_RULES`)."""
    try:
        fn = VIDEO_RULES[rule]
    except KeyError:
        raise ValueError(f"unknown video rule {rule!r}; choose from {', '.join(VIDEO_RULES)}") from None
    return fn(faces)


def rule_scores(videos: Sequence[Mapping]) -> pd.DataFrame:
    """One row per video with a face (``{"path", "label", "group", "faces"}`` mappings): its
    label, group and score under every rule."""
    rows = []
    for v in videos:
        if not any(f.get("decides", True) for f in v["faces"]):
            continue
        row = {"path": v["path"], "label": int(v["label"]), "group": v.get("group", "")}
        row.update({rule: video_score(v["faces"], rule) for rule in VIDEO_RULES})
        rows.append(row)
    return pd.DataFrame(rows)


def compare_rules(scores: pd.DataFrame, rules: Sequence[str] | None = None, threshold: float = 0.5,
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per rule over the videos of ``scores`` (:func:`rule_scores`, plus any extra score
    columns named in ``rules``, e.g. ``temporal``): ROC-AUC [95% CI], log loss [95% CI],
    accuracy and the real videos called fake at ``threshold``; sorted by log loss."""
    from dfd.metrics import compute_metrics

    rules = list(rules or [r for r in VIDEO_RULES if r in scores])
    y = scores.label.to_numpy(int)
    rows = []
    for rule in rules:
        ok = scores[rule].notna().to_numpy()
        p = scores[rule].to_numpy(float)[ok]
        m = compute_metrics(y[ok], p, threshold=threshold, n_boot=n_boot, seed=seed)
        reals = y[ok] == 0
        rows.append({
            "rule": rule, "videos": int(ok.sum()),
            "roc_auc": m["roc_auc"]["value"], "roc_auc_ci": (m["roc_auc"]["ci_low"], m["roc_auc"]["ci_high"]),
            "log_loss": m["log_loss"]["value"], "log_loss_ci": (m["log_loss"]["ci_low"], m["log_loss"]["ci_high"]),
            "accuracy": m["accuracy"]["value"],
            "reals_called_fake": f"{int((p[reals] >= threshold).sum())}/{int(reals.sum())}",
        })
    return pd.DataFrame(rows).sort_values("log_loss", kind="stable").reset_index(drop=True)
