"""The decision threshold and the "uncertain" band, chosen on calibrated validation scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dfd.metrics import check_scores, equal_error_rate


# "max_coverage": the observed validation accuracy of the decided reaches the target (edges
# chosen apart); "calibrated": the accuracy the calibrated scores expect of them too
BAND_RULES = ("calibrated", "max_coverage")


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    band: tuple[float, float]
    threshold_rule: str  # "0.5", "eer" or "fixed" (a caller-given number)
    target_accuracy: float
    accuracy_outside: float | None  # validation accuracy on decided (out-of-band) samples
    coverage: float | None  # share of validation samples outside the band
    fallback: str | None = None  # why the fixed band was used, if it was
    band_rule: str = "max_coverage"  # one of BAND_RULES, or "fixed" (t ± 0.15)

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
    min_coverage: float = 0.0,
    band_rule: str = "calibrated",
) -> OperatingPoint:
    """Decision threshold and "uncertain" band on *calibrated* scores.

    Threshold: 0.5 by default, because after calibration ``p_fake`` is a probability and
    0.5 minimises the expected error at the validation class balance. ``threshold="eer"``
    uses the validation EER threshold instead (equal miss and false-alarm rates; better when
    the deployment class balance is unknown or far from validation's). A float is used as is.

    Band: the lower edge ``lo <= t`` and the upper edge ``hi >= t``, chosen independently,
    that decide the largest share of validation samples (``p < lo`` real, ``p > hi`` fake)
    at a validation accuracy of at least ``target_accuracy`` on those decided. Scores that
    are reliable when they say "real" but not when they say "fake" get a band that reaches
    further up. A detector too weak for the target decides few faces, or none: that is the
    honest answer. If there are fewer than ``min_samples`` validation samples, or fewer
    than ``min_coverage`` of them (default 0) can be decided at the target, the fixed band
    ``t ± 0.15`` is used, i.e. ``[0.35, 0.65]`` at the default threshold, and ``fallback``
    says why; it holds no accuracy (with a 0.83-AUC detector it decides ~70% at ~0.85).

    ``band_rule="calibrated"`` (the default) also requires the accuracy the calibrated
    scores themselves expect of the decided faces (``1 - p`` for each one decided real,
    ``p`` for each one decided fake) to reach the target. The observed accuracy alone
    (``band_rule="max_coverage"``, the rule of older bundles) is the maximum over many
    candidate bands of a count on a few validation faces: it picks the band whose count
    happened to come out high, and delivers less on new faces (simulated with AUC 0.83 and
    116 validation faces: 0.90 instead of 0.95, at twice the coverage a 0.95 band has; the
    calibrated rule 0.94; docs/experiments.md, session 19). The expected accuracy is a
    smooth function of the scores, fit by the calibrator with one parameter, so it does not
    chase that noise; keeping the observed one too guards against a calibrator that is
    wrong in the tails.

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

    if band_rule not in BAND_RULES:
        raise ValueError(f"band_rule must be one of {BAND_RULES}, got {band_rule!r}")
    n = y.shape[0]
    if n < min_samples or np.bincount(y, minlength=2).min() < 5:
        return fixed(f"only {n} validation samples (need {min_samples}, at least 5 per class)")
    low, high = p < t, p > t
    lo_edges, gain_lo = _side(p[low], y[low] == 0, target_accuracy, t, lower=True)
    hi_edges, gain_hi = _side(p[high], y[high] == 1, target_accuracy, t, lower=False)
    gains = [(gain_lo, gain_hi)]
    if band_rule == "calibrated":
        gains.append((_side(p[low], 1.0 - p[low], target_accuracy, t, lower=True)[1],
                      _side(p[high], p[high], target_accuracy, t, lower=False)[1]))
    k, j = _most_decided(gains, tol=1e-9 * n)  # the gains are sums of ±target terms: let equality count
    need = math.ceil(min_coverage * n)
    if k < 0 or k + j < need:
        return fixed(f"target accuracy {target_accuracy:g} not reachable with ≥{min_coverage:.0%} coverage")
    lo, hi = float(lo_edges[k]), float(hi_edges[j])
    coverage, acc = decided_accuracy(y, p, t, (lo, hi))
    return OperatingPoint(t, (lo, hi), rule, float(target_accuracy), acc, coverage, band_rule=band_rule)


def _most_decided(gains: list[tuple[np.ndarray, np.ndarray]], tol: float) -> tuple[int, int]:
    """``(k, j)``: the most faces decided, ``k`` lowest and ``j`` highest, such that for every
    ``(gain_lo, gain_hi)`` pair ``gain_lo[k] + gain_hi[j] >= 0``; ties go to the smallest
    ``k`` (the fewest decided as real). ``(-1, -1)`` when nothing is feasible."""
    if len(gains) == 1:
        gain_lo, gain_hi = gains[0]
        # for every k, the largest j: the last j whose running maximum of gain_hi from the
        # right still reaches -gain_lo[k]
        best_from_right = np.maximum.accumulate(gain_hi[::-1])[::-1]  # non-increasing in j
        j_best = np.searchsorted(-best_from_right, gain_lo + tol, side="right") - 1
        decided = np.where(j_best >= 0, np.arange(len(gain_lo)) + j_best, -1)
        k = int(np.argmax(decided))
        return (k, int(j_best[k])) if decided[k] >= 0 else (-1, -1)
    # several constraints: every (k, j), k in chunks (memory stays chunk x len(gain_hi))
    n_lo, n_hi = len(gains[0][0]), len(gains[0][1])
    best, where = -1, (-1, -1)
    js = np.arange(n_hi)
    for start in range(0, n_lo, 512):
        ks = np.arange(start, min(n_lo, start + 512))
        ok = np.ones((len(ks), n_hi), bool)
        for gain_lo, gain_hi in gains:
            ok &= gain_lo[ks, None] + gain_hi[None, :] >= -tol
        decided = np.where(ok, ks[:, None] + js[None, :], -1)
        flat = int(np.argmax(decided))  # row-major: the smallest k among the most decided
        if decided.flat[flat] > best:
            best, where = int(decided.flat[flat]), (int(ks[flat // n_hi]), int(flat % n_hi))
    return where


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


def risk_coverage(y_valid, p_valid, y_test, p_test, threshold: float = 0.5, targets=None,
                  band_rule: str = "calibrated") -> pd.DataFrame:
    """The risk–coverage curve: for each target accuracy, the band chosen on validation and
    what it gives on validation and on test. One row per (target, split): ``target``,
    ``split``, ``coverage`` (share decided), ``accuracy`` (of the decided), ``fallback``."""
    targets = np.round(np.arange(0.5, 1.0001, 0.01), 4) if targets is None else np.asarray(targets, np.float64)
    rows = []
    for target in targets:
        op = choose_operating_point(y_valid, p_valid, target_accuracy=float(target), threshold=threshold,
                                    band_rule=band_rule)
        for split, (y, p) in (("valid", (y_valid, p_valid)), ("test", (y_test, p_test))):
            coverage, acc = decided_accuracy(y, p, op.threshold, op.band)
            rows.append({"target": float(target), "split": split, "coverage": coverage, "accuracy": acc,
                         "band_low": op.band[0], "band_high": op.band[1], "fallback": op.fallback is not None})
    return pd.DataFrame(rows)
