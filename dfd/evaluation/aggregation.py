"""One clip score from per-frame P(fake): mean, median, top-k mean, confident frames; and the
light smoothing of a score series the app plots."""

from __future__ import annotations

import math

import numpy as np


AGGREGATIONS = ("mean", "median", "topk", "confident")
TOPK_FRACTION = 0.25  # the top-k mean's default k: the most suspicious quarter of the frames
_ALIASES = {"top-k": "topk", "top_k": "topk", "topk_mean": "topk", "confident_frames": "confident", "conf": "confident"}


def top_k_count(n: int, k: int | float = TOPK_FRACTION) -> int:
    """How many of ``n`` frame scores the top-k mean takes: ``k`` < 1 is a fraction of the
    frames, rounded up (the default: the top quarter), ``k`` >= 1 a number of frames; at
    least 1, at most ``n``. The one rule for the study's ``aggregate(..., "topk")`` and the
    inference engine's per-track score."""
    if n < 1:
        raise ValueError("no frame scores to take the top k of")
    kk = int(math.ceil(k * n)) if 0 < k < 1 else int(k)
    if kk < 1:
        raise ValueError(f"k must be >= 1 frame or a fraction in (0, 1), got {k!r}")
    return min(kk, n)


def aggregate(scores, method: str = "mean", k: int | float = TOPK_FRACTION, margin: float = 0.3) -> float:
    """One clip score from per-frame P(fake).

    * ``mean``, ``median``;
    * ``topk``: mean of the :func:`top_k_count` highest scores (a few manipulated frames
      are enough to call a clip fake);
    * ``confident``: mean of the frames the model is sure about, ``|p - 0.5| > margin``,
      falling back to the mean when there is none.

    Empty scores raise ValueError: with no face there is no score to give."""
    p = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no frame scores to aggregate (no face found?)")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("frame scores must be probabilities in [0, 1]")
    method = _ALIASES.get(method, method)
    if method == "mean":
        return float(p.mean())
    if method == "median":
        return float(np.median(p))
    if method == "topk":
        return float(np.sort(p)[::-1][: top_k_count(p.size, k)].mean())
    if method == "confident":
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
        sure = p[np.abs(p - 0.5) > margin]
        return float(sure.mean() if sure.size else p.mean())
    raise ValueError(f"unknown aggregation {method!r}; choose from {', '.join(AGGREGATIONS)}")


SMOOTHING_SIGMA = 1.0  # sampled frames: light, so that one odd frame is damped but a real change stays


def smooth_scores(scores, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """A per-frame score series (in sampled-frame order) smoothed by a Gaussian of ``sigma``
    sampled frames (edges: the nearest score repeated), for plotting next to the raw points."""
    from scipy.ndimage import gaussian_filter1d

    p = np.asarray(scores, dtype=np.float64).reshape(-1)
    if p.size < 2 or sigma <= 0:
        return p.copy()
    return np.clip(gaussian_filter1d(p, float(sigma), mode="nearest"), 0.0, 1.0)
