"""Detection and calibration metrics with stratified-bootstrap confidence intervals.

Conventions (shared with the rest of dfd): label 1 = fake, every score is ``p_fake`` =
P(fake), and a sample is *predicted* fake when ``p_fake >= threshold``.

Everything :func:`compute_metrics` returns is plain Python (``float`` / ``None``), so it
can go straight into ``json.dump(..., allow_nan=False)``; a metric that is undefined for
the data (e.g. ROC-AUC when only one class is present) is ``None``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

N_BINS = 15  # calibration bins (equal width), the usual choice in the calibration literature

# Metrics that need both classes present; the others are defined for one class too.
TWO_CLASS_METRICS = ("balanced_accuracy", "roc_auc", "average_precision", "eer")
METRIC_NAMES = (
    "accuracy",
    "balanced_accuracy",
    "roc_auc",
    "average_precision",
    "eer",
    "log_loss",
    "brier",
    "ece",
    "mce",
)


def check_scores(y_true, p_fake) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert labels and scores; return ``(y int64, p float64)`` 1-D arrays.

    Raises ``ValueError`` with a readable reason for empty or non-1-D input, mismatched
    lengths, NaN/inf, scores outside [0, 1] and labels other than 0/1."""
    y = np.asarray(y_true)
    p = np.asarray(p_fake, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"y_true and p_fake must be 1-D, got shapes {y.shape} and {p.shape}"
        )
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and p_fake have different lengths ({y.shape[0]} vs {p.shape[0]})"
        )
    if y.shape[0] == 0:
        raise ValueError("y_true and p_fake are empty")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"p_fake contains {int(np.sum(~np.isfinite(p)))} NaN/inf value(s)")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"p_fake must be probabilities in [0, 1], got range [{p.min():g}, {p.max():g}]"
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y_true contains NaN/inf")
    if y.dtype.kind not in "biuf" or not np.all(np.isin(y, (0, 1))):
        bad = sorted({str(v) for v in np.unique(y) if v not in (0, 1)})[:5]
        raise ValueError(f"y_true must contain only 0 (real) and 1 (fake); found {bad}")
    return y.astype(np.int64), p


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    return t


def _require_both_classes(y: np.ndarray, metric: str) -> None:
    if np.unique(y).size < 2:
        raise ValueError(f"{metric} needs both real (0) and fake (1) samples; got one class")


def _skm():
    """scikit-learn's metrics, imported on first use rather than with this module: the
    inference engine imports dfd.metrics (score checks) but never computes a metric, and
    scikit-learn would add ~1 s to the desktop app's start-up."""
    from sklearn import metrics

    return metrics


def accuracy(y_true, p_fake, threshold: float = 0.5) -> float:
    y, p = check_scores(y_true, p_fake)
    return float(_skm().accuracy_score(y, p >= _check_threshold(threshold)))


def accuracy_interval(y_true, p_fake, threshold: float = 0.5, confidence: float = 0.95) -> dict:
    """Accuracy with its Wilson score interval, for the few faces a band decides (tens on
    dfd-default, where a bootstrap of a proportion is too coarse): ``{"n", "correct",
    "value", "ci_low", "ci_high"}``; no rows gives ``n`` 0 and ``None`` for the rest."""
    if len(y_true) == 0 and len(p_fake) == 0:
        return {"n": 0, "correct": 0, "value": None, "ci_low": None, "ci_high": None}
    y, p = check_scores(y_true, p_fake)
    n = int(y.shape[0])
    from scipy import stats

    correct = int(np.count_nonzero((p >= _check_threshold(threshold)) == y))
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return {"n": n, "correct": correct, "value": correct / n, "ci_low": float(ci.low), "ci_high": float(ci.high)}


def balanced_accuracy(y_true, p_fake, threshold: float = 0.5) -> float:
    """Mean of the per-class recalls (needs both classes)."""
    y, p = check_scores(y_true, p_fake)
    _require_both_classes(y, "balanced accuracy")
    return float(_skm().balanced_accuracy_score(y, p >= _check_threshold(threshold)))


def roc_auc(y_true, p_fake) -> float:
    y, p = check_scores(y_true, p_fake)
    _require_both_classes(y, "ROC-AUC")
    return float(_skm().roc_auc_score(y, p))


def auc_permutation_null(y_true, scores, n_perm: int = 1000, seed: int = 0) -> np.ndarray:
    """ROC-AUCs of each column of ``scores`` (``(N, k)``) when the labels are shuffled
    ``n_perm`` times (class counts kept, the same shuffle for every column): what the scores
    reach when the labels carry no signal, ``(n_perm, k)``. From the rank-sum form of the
    AUC (ties averaged), so thousands of shuffles cost a few matrix products."""
    y = np.asarray(y_true)
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != y.shape[0]:
        raise ValueError(f"scores must be (N, k) with N = {y.shape[0]} labels, got shape {S.shape}")
    for column in S.T:
        check_scores(y, column)
    y = y.astype(np.int64)
    _require_both_classes(y, "ROC-AUC")
    from scipy.stats import rankdata

    n1 = int(y.sum())
    n0 = y.shape[0] - n1
    ranks = rankdata(S, axis=0)  # (N, k)
    rng = np.random.default_rng(seed)
    fake = np.zeros((int(n_perm), y.shape[0]))
    for row in fake:
        row[rng.permutation(y.shape[0])[:n1]] = 1.0  # which rows are called fake in this shuffle
    return (fake @ ranks - n1 * (n1 + 1) / 2) / (n1 * n0)


def average_precision(y_true, p_fake) -> float:
    """Area under the precision-recall curve for the fake class (sklearn's step-wise AP)."""
    y, p = check_scores(y_true, p_fake)
    _require_both_classes(y, "average precision")
    return float(_skm().average_precision_score(y, p))


def _eer_from_roc(fpr: np.ndarray, tpr: np.ndarray, thr: np.ndarray) -> tuple[float, float]:
    # With drop_intermediate=False every ROC step moves FPR or TPR, so fnr - fpr is strictly
    # decreasing from +1 to -1 and crosses zero exactly once; interpolate linearly there.
    d = (1.0 - tpr) - fpr
    i = int(np.argmax(d <= 0.0))
    if d[i] == 0.0:
        return float(fpr[i]), float(min(thr[i], 1.0))
    w = d[i - 1] / (d[i - 1] - d[i])
    rate = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    if np.isfinite(thr[i - 1]):  # thr[0] is +inf (nothing predicted fake)
        t = thr[i - 1] + w * (thr[i] - thr[i - 1])
    else:
        t = thr[i]
    return float(rate), float(np.clip(t, 0.0, 1.0))


def equal_error_rate(y_true, p_fake) -> tuple[float, float]:
    """Equal error rate and the score threshold where it occurs: ``(eer, threshold)``.

    EER is the point on sklearn's ROC curve where the false-positive rate (reals called
    fake) equals the false-negative rate (fakes called real), linearly interpolated between
    the two ROC points that bracket the crossing. The threshold is interpolated the same way
    (use it with the ``p >= threshold`` rule)."""
    y, p = check_scores(y_true, p_fake)
    _require_both_classes(y, "EER")
    fpr, tpr, thr = _skm().roc_curve(y, p, drop_intermediate=False)
    return _eer_from_roc(fpr, tpr, thr)


def log_loss(y_true, p_fake) -> float:
    """Mean negative log-likelihood (natural log); sklearn clips 0/1 scores internally."""
    y, p = check_scores(y_true, p_fake)
    return float(_skm().log_loss(y, p, labels=[0, 1]))


def brier(y_true, p_fake) -> float:
    """Mean squared difference between ``p_fake`` and the 0/1 label."""
    y, p = check_scores(y_true, p_fake)
    return float(_skm().brier_score_loss(y, p, labels=[0, 1]))


def _bin_ids(p: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and each score's bin over ``n_bins`` equal-width bins on [0, 1]."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    return edges, np.searchsorted(edges[1:-1], p)


def _bin_stats(y: np.ndarray, p: np.ndarray, n_bins: int):
    """Per-bin (count, sum of p, sum of y) over ``n_bins`` equal-width bins on [0, 1].

    Binning is the same as ``sklearn.calibration.calibration_curve(strategy="uniform")``
    (a score on an inner edge goes to the lower bin, 1.0 to the last bin)."""
    edges, ids = _bin_ids(p, n_bins)
    count = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    return edges, count, sum_p, sum_y


def reliability_curve(y_true, p_fake, n_bins: int = N_BINS) -> dict[str, list]:
    """Reliability (calibration) curve over equal-width bins, non-empty bins only.

    Returns plain lists: ``bin_lower``, ``bin_upper``, ``mean_predicted`` (mean p_fake in the
    bin), ``fraction_fake`` (observed frequency of label 1) and ``count``. A perfectly
    calibrated model has ``fraction_fake == mean_predicted`` in every bin."""
    y, p = check_scores(y_true, p_fake)
    edges, count, sum_p, sum_y = _bin_stats(y, p, n_bins)
    nz = count > 0
    return {
        "bin_lower": edges[:-1][nz].tolist(),
        "bin_upper": edges[1:][nz].tolist(),
        "mean_predicted": (sum_p[nz] / count[nz]).tolist(),
        "fraction_fake": (sum_y[nz] / count[nz]).tolist(),
        "count": count[nz].astype(int).tolist(),
    }


def _calibration_gaps(y: np.ndarray, p: np.ndarray, n_bins: int):
    _, count, sum_p, sum_y = _bin_stats(y, p, n_bins)
    nz = count > 0
    gaps = np.abs(sum_p[nz] - sum_y[nz]) / count[nz]
    return gaps, count[nz]


def expected_calibration_error(y_true, p_fake, n_bins: int = N_BINS) -> float:
    """ECE: |mean predicted - observed frequency| per bin, weighted by the bin's share of
    samples (equal-width bins)."""
    y, p = check_scores(y_true, p_fake)
    gaps, count = _calibration_gaps(y, p, n_bins)
    return float(np.sum(gaps * count) / count.sum())


def ece_if_calibrated(p_fake, n_bins: int = N_BINS, n_sim: int = 2000, seed: int = 0) -> dict[str, float]:
    """The ECE a *perfectly calibrated* model with exactly these scores would still show on
    this many samples: labels drawn as Bernoulli(p) ``n_sim`` times, ECE of each draw.

    ECE is biased upwards on small sets (each bin's observed frequency is noisy), so a
    measured ECE is only meaningful next to this floor. Returns its mean and 95th percentile."""
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    if p.size == 0 or not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_fake must be a non-empty array of probabilities in [0, 1]")
    rng = np.random.default_rng(seed)
    y_sim = (rng.random((int(n_sim), p.size)) < p).astype(np.int64)
    # one binning for every draw: the bins depend on the scores only
    _, ids = _bin_ids(p, n_bins)
    onehot = np.eye(int(n_bins))[ids]
    eces = np.abs(y_sim @ onehot - p @ onehot).sum(axis=1) / p.size
    return {"mean": float(eces.mean()), "p95": float(np.quantile(eces, 0.95))}


def maximum_calibration_error(y_true, p_fake, n_bins: int = N_BINS) -> float:
    """MCE: the largest |mean predicted - observed frequency| over the non-empty bins."""
    y, p = check_scores(y_true, p_fake)
    gaps, _ = _calibration_gaps(y, p, n_bins)
    return float(gaps.max())


def confusion(y_true, p_fake, threshold: float = 0.5) -> dict[str, int]:
    """Confusion counts with fake as the positive class: ``{"tn", "fp", "fn", "tp"}``
    (``fp`` = real called fake, ``fn`` = fake called real)."""
    y, p = check_scores(y_true, p_fake)
    pred = (p >= _check_threshold(threshold)).astype(np.int64)
    tn, fp, fn, tp = _skm().confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def _metric_vector(y: np.ndarray, p: np.ndarray, threshold: float, names) -> np.ndarray:
    """The metrics in ``names`` for already-validated arrays (no re-checking: this runs once
    per bootstrap resample). One ROC curve serves both AUC and EER."""
    out = {}
    pred = p >= threshold
    out["accuracy"] = _skm().accuracy_score(y, pred)
    out["log_loss"] = _skm().log_loss(y, p, labels=[0, 1])
    out["brier"] = _skm().brier_score_loss(y, p, labels=[0, 1])
    gaps, count = _calibration_gaps(y, p, N_BINS)
    out["ece"] = np.sum(gaps * count) / count.sum()
    out["mce"] = gaps.max()
    if "roc_auc" in names:  # both classes present
        out["balanced_accuracy"] = _skm().balanced_accuracy_score(y, pred)
        fpr, tpr, thr = _skm().roc_curve(y, p, drop_intermediate=False)
        out["roc_auc"] = _skm().auc(fpr, tpr)
        out["eer"] = _eer_from_roc(fpr, tpr, thr)[0]
        out["average_precision"] = _skm().average_precision_score(y, p)
    return np.array([out[k] for k in names], dtype=np.float64)


def compute_metrics(
    y_true, p_fake, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict]:
    """Every metric in :data:`METRIC_NAMES` as ``{"value", "ci_low", "ci_high"}``.

    The interval is a 95% percentile bootstrap, *stratified by class*: each resample draws
    the reals and the fakes separately with replacement, keeping the class counts, so no
    resample is ever missing a class (and metrics stay comparable to the point value).
    If the data itself holds only one class, the two-class metrics (balanced accuracy,
    ROC-AUC, AP, EER) are ``None``. ``n_boot=0`` skips the bootstrap (CI bounds ``None``), as
    does a class with a single row (one file cannot be resampled into an interval).
    The same ``seed`` gives the same intervals.

    Note: for biased statistics such as ECE/MCE (which grow when samples are duplicated)
    the percentile interval can sit slightly off the point value; it is reported as is.
    """
    y, p = check_scores(y_true, p_fake)
    threshold = _check_threshold(threshold)
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    classes = [c for c in (0, 1) if np.any(y == c)]
    names = METRIC_NAMES if len(classes) == 2 else tuple(
        m for m in METRIC_NAMES if m not in TWO_CLASS_METRICS
    )
    values = _metric_vector(y, p, threshold, names)
    lo = hi = [None] * len(names)
    if n_boot > 0 and all(np.count_nonzero(y == c) >= 2 for c in classes):
        # One scipy "sample" per class; independent resampling of samples = stratification.
        samples = tuple(p[y == c] for c in classes)

        def statistic(*resampled):
            yb = np.concatenate([np.full(s.shape[0], c) for c, s in zip(classes, resampled)])
            return _metric_vector(yb, np.concatenate(resampled), threshold, names)

        from scipy import stats

        res = stats.bootstrap(
            samples,
            statistic,
            n_resamples=int(n_boot),
            vectorized=False,
            paired=False,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        lo = res.confidence_interval.low.tolist()
        hi = res.confidence_interval.high.tolist()
    result = {m: {"value": None, "ci_low": None, "ci_high": None} for m in METRIC_NAMES}
    for name, v, a, b in zip(names, values.tolist(), lo, hi):
        result[name] = {"value": float(v), "ci_low": _plain(a), "ci_high": _plain(b)}
    return result


def auc_difference(y_true, p_fake, q_fake, n_boot: int = 1000, seed: int = 0) -> dict[str, float | None]:
    """ROC-AUC of ``p_fake`` minus ROC-AUC of ``q_fake`` on the same rows, as ``{"value",
    "ci_low", "ci_high"}``: a 95% percentile bootstrap that resamples the *rows* (both scores
    of a row together, so the interval is of the paired difference) within each class, as
    :func:`compute_metrics` does. ``n_boot=0`` gives no interval (bounds ``None``)."""
    y, p = check_scores(y_true, p_fake)
    _y, q = check_scores(y_true, q_fake)
    _require_both_classes(y, "ROC-AUC")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    value = roc_auc(y, p) - roc_auc(y, q)
    lo = hi = None
    if n_boot > 0 and min(np.count_nonzero(y == 0), np.count_nonzero(y == 1)) >= 2:
        from scipy import stats

        skm = _skm()
        # one scipy "sample" of row numbers per class: a resampled row brings both its scores
        samples = tuple(np.flatnonzero(y == c) for c in (0, 1))

        def statistic(reals, fakes):
            rows = np.concatenate([reals, fakes]).astype(np.int64)
            return skm.roc_auc_score(y[rows], p[rows]) - skm.roc_auc_score(y[rows], q[rows])

        res = stats.bootstrap(samples, statistic, n_resamples=int(n_boot), vectorized=False, paired=False,
                              confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
        lo, hi = _plain(res.confidence_interval.low), _plain(res.confidence_interval.high)
    return {"value": float(value), "ci_low": lo, "ci_high": hi}


def _plain(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def format_metric(entry: Mapping | None, digits: int = 3) -> str:
    """One :func:`compute_metrics` entry as ``"value [lo, hi]"`` (``"n/a"`` when undefined,
    just ``"value"`` when there is no interval)."""
    if not entry or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.{digits}f}"
    if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        text += f" [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]"
    return text


def summarize_table(
    results: Mapping[str, Mapping[str, Mapping]], metrics=None, digits: int = 3
) -> pd.DataFrame:
    """One row per model, one column per metric, cells formatted ``"value [lo, hi]"``
    (``"n/a"`` when undefined, just ``"value"`` when there is no interval).

    ``results`` maps a model name to the output of :func:`compute_metrics`."""
    metrics = list(metrics) if metrics is not None else list(METRIC_NAMES)
    rows = {name: {m: format_metric(res.get(m), digits) for m in metrics} for name, res in results.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=metrics)
    table.index.name = "model"
    return table
