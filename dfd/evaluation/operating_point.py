"""The decision threshold and the "uncertain" band, chosen on calibrated validation scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

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

    Band: the narrowest symmetric band ``[t - h, t + h]`` such that validation accuracy on
    the scores *outside* it is at least ``target_accuracy``, while at least
    ``min_coverage`` of the samples stay outside. If there are fewer than ``min_samples``
    validation samples (or the target cannot be met) the fixed band ``t ± 0.15`` is used,
    i.e. ``[0.35, 0.65]`` at the default threshold, and ``fallback`` says why.

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
        out = (p < lo) | (p > hi)
        acc = float(np.mean((p[out] >= t) == y[out])) if out.any() else None
        return OperatingPoint(t, (lo, hi), rule, float(target_accuracy), acc, float(out.mean()), reason)

    n = y.shape[0]
    if n < min_samples or np.bincount(y, minlength=2).min() < 5:
        return fixed(f"only {n} validation samples (need {min_samples}, at least 5 per class)")

    # Candidate half-widths are 0 and every distance |p - t|; outside(h) = {d > h}.
    d = np.abs(p - t)
    correct = ((p >= t) == y).astype(np.float64)
    order = np.argsort(d, kind="stable")
    d_sorted, correct_sorted = d[order], correct[order]
    h = np.unique(np.concatenate([[0.0], d_sorted]))
    first_out = np.searchsorted(d_sorted, h, side="right")  # rows from here on are outside
    n_out = n - first_out
    suffix_correct = np.concatenate([np.cumsum(correct_sorted[::-1])[::-1], [0.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = suffix_correct[first_out] / n_out
    ok = (n_out >= max(1, math.ceil(min_coverage * n))) & (acc >= target_accuracy)
    if not ok.any():
        return fixed(f"target accuracy {target_accuracy:g} not reachable with ≥{min_coverage:.0%} coverage")
    k = int(np.argmax(ok))  # smallest qualifying half-width
    lo, hi = max(0.0, t - h[k]), min(1.0, t + h[k])
    return OperatingPoint(t, (float(lo), float(hi)), rule, float(target_accuracy),
                          float(acc[k]), float(n_out[k] / n))


