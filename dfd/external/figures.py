"""Figures of an external evaluation, one set per kind: ROC per source, score histograms by
label and source, the reliability diagram of the pooled scores and of each source."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dfd import LABEL_NAMES
from dfd.evaluation.plots import plot_reliability, plot_roc_curves
from dfd.external.groups import comparison_set


def roc_curves(table: pd.DataFrame, kind: str) -> dict[str, tuple]:
    """``name -> (y, p)`` for the pooled scores of ``kind`` and each fake source against the
    real files of that kind (sources with both classes scored only)."""
    curves = {}
    pooled = comparison_set(table, kind, None)
    if pooled["label"].nunique() == 2:
        curves["pooled"] = (pooled["label"].to_numpy(), pooled["p_fake"].to_numpy())
    fakes = sorted(set(table.loc[(table["kind"] == kind) & (table["label"] == 1), "source"]))
    for source in fakes:
        s = comparison_set(table, kind, source)
        if s["label"].nunique() == 2:
            curves[f"{source} vs real"] = (s["label"].to_numpy(), s["p_fake"].to_numpy())
    return curves


def plot_source_histograms(table: pd.DataFrame, kind: str, threshold: float | None = None,
                           band: tuple[float, float] | None = None, bins: int = 20, path=None) -> Figure:
    """P(fake) of the scored files of ``kind``: one panel per true label, one colour per source."""
    scored = table[(table["kind"] == kind) & table["p_fake"].notna()]
    labels = [lab for lab in (0, 1) if (scored["label"] == lab).any()]
    fig = Figure(figsize=(5.5 * max(1, len(labels)), 4.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(labels)), squeeze=False)[0]
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, lab in zip(axes, labels):
        part = scored[scored["label"] == lab].rename(columns={"p_fake": "P(fake)"})
        sns.histplot(part, x="P(fake)", hue="source", hue_order=sorted(set(part["source"])), bins=edges,
                     stat="count", element="step", common_norm=False, ax=ax)
        if band is not None:
            ax.axvspan(band[0], band[1], color="0.88", zorder=0)
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=1)
        ax.set(xlim=(0, 1), title=f"{kind}s labelled {LABEL_NAMES[lab]} (n={len(part)} scored)")
    fig.suptitle("Scores by source (grey: uncertain band, dashed: threshold)")
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig: Figure, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def write_figures(table: pd.DataFrame, folder, threshold: float | None = None,
                  band: tuple[float, float] | None = None) -> list[Path]:
    """``roc_<kind>.png``, ``hist_<kind>.png``, ``reliability_<kind>.png`` (pooled) and
    ``reliability_<kind>_<source>.png`` (each source's scored files with those of the other
    class of its kind, the files its ECE is computed on) for every kind with scores; returns
    the files written."""
    folder = Path(folder)
    written = []
    for kind in sorted(set(table["kind"])):
        if not table.loc[table["kind"] == kind, "p_fake"].notna().any():
            continue
        curves = roc_curves(table, kind)
        if curves:
            fig = plot_roc_curves(curves)
            fig.axes[0].set_title(f"ROC, {kind}s (each fake source vs the real {kind}s)")
            _save(fig, folder / f"roc_{kind}.png")
            written.append(folder / f"roc_{kind}.png")
        plot_source_histograms(table, kind, threshold, band, path=folder / f"hist_{kind}.png")
        written.append(folder / f"hist_{kind}.png")
        sources = sorted(set(table.loc[table["kind"] == kind, "source"]))
        for source, name in [(None, f"reliability_{kind}.png")] + [
                (s, f"reliability_{kind}_{re.sub(r'[^A-Za-z0-9_-]+', '_', str(s))}.png") for s in sources]:
            scored = comparison_set(table, kind, source)
            if scored.empty:
                continue
            fig = plot_reliability(scored["label"].to_numpy(), scored["p_fake"].to_numpy(), labels=("bundle", ""))
            fig.axes[0].set_title(f"Reliability, {kind}s ({'pooled' if source is None else source + ', as scored'})")
            _save(fig, folder / name)
            written.append(folder / name)
    return written
