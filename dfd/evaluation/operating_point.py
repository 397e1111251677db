"""The decision threshold and the "uncertain" band, chosen on calibrated validation scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dfd.metrics import check_scores, equal_error_rate


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    band: tuple[float, float]
    threshold_rule: str  # "0.5", "eer" or "fixed" (a caller-given number)
    target_accuracy: float
    accuracy_outside: float | None  # validation accuracy on decided (out-of-band) samples
    coverage: float | None  # share of validation samples outside the band
    fallback: str | None = None  # why the fixed band was used, if it was
    band_rule: str = "max_coverage"  # "max_coverage" (edges chosen apart) or "fixed" (t ± 0.15)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["band"] = list(self.band)
        return d


def choose_operating_point(
    y_valid,
    p_valid_calibrated,
    target_accuracy: float = 0.95,
    threshold: float | str = 0.5,
    min_samples: int = 50,
    min_coverage: float = 0.1,
) -> OperatingPoint:
    """Decision threshold and "uncertain" band on *calibrated* scores.

    Threshold: 0.5 by default, because after calibration ``p_fake`` is a probability and
    0.5 minimises the expected error at the validation class balance. ``threshold="eer"``
    uses the validation EER threshold instead (equal miss and false-alarm rates; better when
    the deployment class balance is unknown or far from validation's). A float is used as is.

    Band: the lower edge ``lo <= t`` and the upper edge ``hi >= t``, chosen independently,
    that decide the largest share of validation samples (``p < lo`` real, ``p > hi`` fake)
    at a validation accuracy of at least ``target_accuracy`` on those decided, while at
    least ``min_coverage`` of the samples are decided. Scores that are reliable when they
    say "real" but not when they say "fake" get a band that reaches further up. If there
    are fewer than ``min_samples`` validation samples (or the target cannot be met) the
    fixed band ``t ± 0.15`` is used, i.e. ``[0.35, 0.65]`` at the default threshold, and
    ``fallback`` says why.

    What "uncertain" means to a user: the detector's score is too close to the decision
    line to trust either answer. On validation data, verdicts outside the band were right
    at least ``target_accuracy`` of the time; inside it, the model was often wrong, so
    the app says "uncertain" instead of guessing — it is *not* evidence for real or fake.
    """
    y, p = check_scores(y_valid, p_valid_calibrated)
    if not 0.5 <= target_accuracy <= 1.0:
        raise ValueError(f"target_accuracy must be in [0.5, 1], got {target_accuracy!r}")
    if threshold == "eer":
        t, rule = equal_error_rate(y, p)[1], "eer"
    elif isinstance(threshold, str):
        raise ValueError(f"threshold must be a number or 'eer', got {threshold!r}")
    else:
        t, rule = float(threshold), "0.5" if float(threshold) == 0.5 else "fixed"
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")

    def fixed(reason: str) -> OperatingPoint:
        lo, hi = max(0.0, t - 0.15), min(1.0, t + 0.15)
        coverage, acc = decided_accuracy(y, p, t, (lo, hi))
        return OperatingPoint(t, (lo, hi), rule, float(target_accuracy), acc, coverage, reason, "fixed")

    n = y.shape[0]
    if n < min_samples or np.bincount(y, minlength=2).min() < 5:
        return fixed(f"only {n} validation samples (need {min_samples}, at least 5 per class)")
    lo_edges, gain_lo = _side(p[p < t], y[p < t] == 0, target_accuracy, t, lower=True)
    hi_edges, gain_hi = _side(p[p > t], y[p > t] == 1, target_accuracy, t, lower=False)
    # decided(k, j) = k lowest + j highest; its accuracy reaches the target iff
    # gain_lo[k] + gain_hi[j] >= 0. For every k, the largest such j: the last j whose
    # running maximum of gain_hi from the right still reaches -gain_lo[k].
    best_from_right = np.maximum.accumulate(gain_hi[::-1])[::-1]  # non-increasing in j
    tol = 1e-9 * n  # the gains are sums of ±target terms: let exact equality count
    j_best = np.searchsorted(-best_from_right, gain_lo + tol, side="right") - 1
    feasible = j_best >= 0
    decided = np.where(feasible, np.arange(len(gain_lo)) + j_best, -1)
    need = max(1, math.ceil(min_coverage * n))
    if decided.max() < need:
        return fixed(f"target accuracy {target_accuracy:g} not reachable with ≥{min_coverage:.0%} coverage")
    k = int(np.argmax(decided))  # the most decided; ties: the fewest of them decided as real
    lo, hi = float(lo_edges[k]), float(hi_edges[j_best[k]])
    coverage, acc = decided_accuracy(y, p, t, (lo, hi))
    return OperatingPoint(t, (lo, hi), rule, float(target_accuracy), acc, coverage)


def _side(scores: np.ndarray, correct: np.ndarray, target: float, threshold: float, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    """Edges and gains of one side of the threshold: deciding the ``k`` scores farthest from
    it (the lowest when ``lower``) with edge ``edges[k]`` (``lo`` or ``hi``; the band keeps
    the edge itself undecided) adds ``gains[k] = correct - target * k`` to the accuracy
    budget. ``k`` that would cut between equal scores get a gain of ``-inf``."""
    order = np.argsort(scores if lower else -scores, kind="stable")
    s, c = scores[order], correct[order].astype(np.float64)
    gains = np.concatenate([[0.0], np.cumsum(c) - target * np.arange(1, len(s) + 1)])
    # edge k: the (k+1)-th score itself, so exactly k scores lie beyond it; all of them: the threshold
    edges = np.concatenate([s, [threshold]])
    cuts_a_tie = np.concatenate([[False], s[1:] == s[:-1], [False]])
    gains[cuts_a_tie] = -np.inf
    return edges, gains


def decided_accuracy(y, p, threshold: float, band: tuple[float, float]) -> tuple[float, float | None]:
    """Share of samples outside ``band`` (decided) and the accuracy of their verdicts at
    ``threshold`` (None when nothing is decided)."""
    y, p = check_scores(y, p)
    out = (p < band[0]) | (p > band[1])
    acc = float(np.mean((p[out] >= threshold) == y[out])) if out.any() else None
    return float(out.mean()), acc


def risk_coverage(y_valid, p_valid, y_test, p_test, threshold: float = 0.5, targets=None) -> pd.DataFrame:
    """The risk–coverage curve: for each target accuracy, the band chosen on validation and
    what it gives on validation and on test. One row per (target, split): ``target``,
    ``split``, ``coverage`` (share decided), ``accuracy`` (of the decided), ``fallback``."""
    targets = np.round(np.arange(0.5, 1.0001, 0.01), 4) if targets is None else np.asarray(targets, np.float64)
    rows = []
    for target in targets:
        op = choose_operating_point(y_valid, p_valid, target_accuracy=float(target), threshold=threshold)
        for split, (y, p) in (("valid", (y_valid, p_valid)), ("test", (y_test, p_test))):
            coverage, acc = decided_accuracy(y, p, op.threshold, op.band)
            rows.append({"target": float(target), "split": split, "coverage": coverage, "accuracy": acc,
                         "band_low": op.band[0], "band_high": op.band[1], "fallback": op.fallback is not None})
    return pd.DataFrame(rows)
