"""Report figures. Every function returns a matplotlib ``Figure``, draws into ``ax`` when
one is given, and saves to ``path`` when one is given.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing here
touches the global backend or pyplot's figure list: safe headless (Agg), from worker
threads, and inside the Qt app. ``curves`` arguments map a model name to
``(y_true, p_fake)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay, roc_curve

from dfd import LABEL_NAMES
from dfd.metrics import N_BINS, check_scores, confusion, reliability_curve, roc_auc

PathLike = str | os.PathLike


def _axes(ax: Axes | None, figsize=(5.5, 4.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    return fig


def plot_roc_curves(curves: Mapping[str, tuple], ax: Axes | None = None, path: PathLike | None = None) -> Figure:
    """ROC curve per model (AUC in the legend) with the chance diagonal."""
    fig, ax = _axes(ax)
    for i, (name, (y, p)) in enumerate(curves.items()):
        y, p = check_scores(y, p)
        RocCurveDisplay.from_predictions(y, p, name=name, ax=ax, plot_chance_level=(i == len(curves) - 1))
    ax.set(xlabel="False positive rate (real called fake)", ylabel="True positive rate (fakes caught)",
           title="ROC")
    ax.legend(loc="lower right", fontsize="small")
    return _finish(fig, path)


def plot_pr_curves(curves: Mapping[str, tuple], ax: Axes | None = None, path: PathLike | None = None) -> Figure:
    """Precision-recall curve per model for the fake class (AP in the legend)."""
    fig, ax = _axes(ax)
    for i, (name, (y, p)) in enumerate(curves.items()):
        y, p = check_scores(y, p)
        PrecisionRecallDisplay.from_predictions(y, p, name=name, ax=ax, plot_chance_level=(i == len(curves) - 1))
    ax.set(xlabel="Recall (fakes caught)", ylabel="Precision (flagged that are fake)", title="Precision-recall")
    ax.legend(loc="lower left", fontsize="small")
    return _finish(fig, path)


def plot_reliability(
    y_true,
    p_before,
    p_after=None,
    n_bins: int = N_BINS,
    ax: Axes | None = None,
    path: PathLike | None = None,
    labels: tuple[str, str] = ("before calibration", "after calibration"),
) -> Figure:
    """Reliability diagram: observed fraction of fakes vs mean predicted P(fake) per bin,
    before (and optionally after) calibration, with the perfect-calibration diagonal and
    the per-bin sample counts as grey bars on a secondary axis."""
    fig, ax = _axes(ax)
    counts_ax = ax.twinx()
    counts_ax.set_zorder(ax.get_zorder() - 1)  # bars behind the curves
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfectly calibrated")
    series = [(labels[0], p_before)] + ([(labels[1], p_after)] if p_after is not None else [])
    for k, (label, p) in enumerate(series):
        rc = reliability_curve(y_true, p, n_bins=n_bins)
        ax.plot(rc["mean_predicted"], rc["fraction_fake"], marker="o", label=label)
        lower, upper = np.array(rc["bin_lower"]), np.array(rc["bin_upper"])
        width = (upper - lower) / len(series)
        counts_ax.bar(lower + k * width, rc["count"], width=width, align="edge", alpha=0.25,
                      color=f"C{k}", label=f"count ({label})")
    counts_ax.set_ylabel("samples per bin")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted P(fake)", ylabel="Observed fraction fake",
           title="Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return _finish(fig, path)


def plot_risk_coverage(curve: pd.DataFrame, target: float | None = None, ax: Axes | None = None,
                       path: PathLike | None = None) -> Figure:
    """Accuracy of the decided samples against the share decided, one line per split, from
    :func:`dfd.evaluation.operating_point.risk_coverage` (each point: the band chosen on
    validation for one target accuracy); ``target`` marks the chosen point on every line."""
    missing = {"split", "target", "coverage", "accuracy"} - set(curve.columns)
    if missing:
        raise ValueError(f"risk-coverage curve lacks column(s) {sorted(missing)}")
    fig, ax = _axes(ax)
    for k, (split, part) in enumerate(curve.dropna(subset=["accuracy"]).groupby("split", sort=False)):
        part = part.sort_values("target")
        ax.plot(part["coverage"], part["accuracy"], marker=".", color=f"C{k}", label=split)
        if target is not None:
            at = part.iloc[int(np.argmin(np.abs(part["target"].to_numpy() - target)))]
            ax.plot(at["coverage"], at["accuracy"], marker="*", ms=14, color=f"C{k}", ls="none",
                    label=f"{split} at target {target:.0%}: {at['coverage']:.0%} decided, accuracy {at['accuracy']:.3f}")
    if target is not None:
        ax.axhline(target, color="0.5", ls="--", lw=1)
    ax.set(xlim=(0, 1.02), xlabel="Share of faces decided (outside the uncertain band)",
           ylabel="Accuracy of the decided faces", title="Risk-coverage (bands chosen on validation)")
    ax.legend(loc="lower left", fontsize="small")
    return _finish(fig, path)


def plot_score_histograms(
    y_true,
    p_fake,
    threshold: float | None = None,
    band: tuple[float, float] | None = None,
    bins: int = 30,
    ax: Axes | None = None,
    path: PathLike | None = None,
) -> Figure:
    """Histogram of P(fake) per true class, with the threshold and the uncertain band."""
    y, p = check_scores(y_true, p_fake)
    fig, ax = _axes(ax)
    df = pd.DataFrame({"P(fake)": p, "class": [LABEL_NAMES[int(v)] for v in y]})
    sns.histplot(df, x="P(fake)", hue="class", hue_order=["real", "fake"], bins=np.linspace(0, 1, bins + 1),
                 stat="count", element="step", common_norm=False, ax=ax)
    title = "Scores by true class"
    if band is not None:
        ax.axvspan(band[0], band[1], color="0.85", zorder=0)
        title += " (grey: uncertain band)"
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1)
        title += f"\n(dashed: threshold {threshold:.2f})"
    ax.set(xlim=(0, 1), title=title)
    return _finish(fig, path)


def plot_confusion_matrix(
    y_true, p_fake, threshold: float = 0.5, ax: Axes | None = None, path: PathLike | None = None
) -> Figure:
    """2x2 heatmap (rows = true class, columns = predicted) with counts and row shares."""
    c = confusion(y_true, p_fake, threshold)
    cm = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    row_share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    annot = np.array([[f"{cm[i, j]}\n({row_share[i, j]:.1%})" for j in range(2)] for i in range(2)])
    names = [LABEL_NAMES[0], LABEL_NAMES[1]]
    fig, ax = _axes(ax, figsize=(4.5, 4))
    sns.heatmap(row_share, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False,
                xticklabels=names, yticklabels=names, ax=ax)
    ax.set(xlabel="Predicted", ylabel="True", title=f"Confusion matrix (threshold {threshold:.2f})")
    return _finish(fig, path)


def plot_robustness(
    results: pd.DataFrame,
    x: str = "level",
    y: str = "auc",
    hue: str = "model",
    style: str | None = None,
    ax: Axes | None = None,
    path: PathLike | None = None,
) -> Figure:
    """Metric vs corruption level, one line per model (tidy frame, one row per point).

    With ``ci_low``/``ci_high`` columns the bootstrap interval is shaded; ``style`` (e.g.
    ``"corruption"``) distinguishes several corruption types on the same axes."""
    missing = {x, y, hue, *( [style] if style else [])} - set(results.columns)
    if missing:
        raise ValueError(f"robustness results lack column(s) {sorted(missing)}")
    fig, ax = _axes(ax, figsize=(6, 4.5))
    # one explicit palette so the shaded intervals get the same colour as their line
    hue_order = list(results[hue].unique())
    palette = dict(zip(hue_order, sns.color_palette(n_colors=len(hue_order))))
    marks = {"markers": True} if style else {"marker": "o"}  # seaborn's markers= needs style
    sns.lineplot(results, x=x, y=y, hue=hue, hue_order=hue_order, palette=palette, style=style,
                 errorbar=None, ax=ax, **marks)
    if {"ci_low", "ci_high"} <= set(results.columns):
        groups = [hue] + ([style] if style else [])
        for key, g in results.sort_values(x).groupby(groups):
            name = key[0] if isinstance(key, tuple) else key
            ax.fill_between(g[x], g["ci_low"], g["ci_high"], color=palette[name], alpha=0.15, lw=0)
    ax.set(xlabel=f"Corruption {x}", ylabel=y.upper() if len(y) <= 4 else y, title="Robustness")
    return _finish(fig, path)


def interactive_roc_html(curves: Mapping[str, tuple], path: PathLike) -> Path:
    """Self-contained interactive ROC (hover shows the threshold) written with plotly.
    plotly.js is embedded in the file (no CDN), so it opens offline. Returns the path."""
    import plotly.graph_objects as go  # imported here: only this function needs plotly

    fig = go.Figure()
    for name, (y, p) in curves.items():
        y, p = check_scores(y, p)
        fpr, tpr, thr = roc_curve(y, p)
        thr = np.minimum(thr, 1.0)  # sklearn's first threshold is +inf
        fig.add_trace(go.Scatter(
            x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {roc_auc(y, p):.3f})", customdata=thr,
            hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<br>threshold %{customdata:.3f}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"))
    fig.update_layout(title="ROC", xaxis_title="False positive rate", yaxis_title="True positive rate",
                      template="plotly_white", width=700, height=560)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
