"""Metrics of an external evaluation per kind (images, videos) and per source.

Images and videos are reported apart. For each kind there is a ``pooled`` row (every file of
that kind) and one row per source. The score metrics of a source are computed against the
files of the *other* class of the same kind: a fake source against every real file of its
kind (FF++ fakes against the FF++ real videos, generated portraits against the real photos),
a real source against every fake file of its kind. Files without a score (verdict
``no_face`` or ``error``) are counted in the verdict shares and left out of the score metrics.
The verdict shares (``fake`` / ``uncertain`` / ``real`` / ``no_face`` / ``error``) are those of
the group's own files, as the engine decided them (its threshold and uncertain band).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfd.metrics import compute_metrics
from dfd.inference.results import VERDICTS

SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "ece", "brier")
KIND_ORDER = ("video", "image", "other")


def comparison_set(table: pd.DataFrame, kind: str, source: str | None) -> pd.DataFrame:
    """The scored files a group's score metrics are computed on: every scored file of
    ``kind`` when ``source`` is None (pooled), else the source's scored files and the scored
    files of the other class of the same kind."""
    same_kind = table[(table["kind"] == kind) & table["p_fake"].notna()]
    if source is None:
        return same_kind
    mine = same_kind["source"] == source
    labels = set(same_kind.loc[mine, "label"])
    if len(labels) != 1:  # a source with both classes (or none scored): its own files only
        return same_kind[mine]
    return same_kind[mine | (same_kind["label"] != labels.pop())]


def group_row(table: pd.DataFrame, kind: str, source: str | None, threshold: float = 0.5,
              n_boot: int = 1000, seed: int = 0) -> dict:
    """One row of the report: counts, verdict shares, reals called fake, fakes called fake,
    seconds per file, and the score metrics with bootstrap 95% intervals."""
    own = table[(table["kind"] == kind) & ((table["source"] == source) if source is not None else True)]
    verdicts = own["verdict"].value_counts()
    real, fake = own[own["label"] == 0], own[own["label"] == 1]
    n = len(own)
    labels = sorted(set(own["label"]))
    row = {
        "kind": kind,
        "group": "pooled" if source is None else source,
        "label": "mixed" if len(labels) > 1 else ("real", "fake")[int(labels[0])] if labels else None,
        "n": n, "n_real": len(real), "n_fake": len(fake),
        "verdicts": {v: int(verdicts.get(v, 0)) for v in VERDICTS},
        "shares": {v: float(verdicts.get(v, 0) / n) if n else None for v in VERDICTS},
        "reals_called_fake": int((real["verdict"] == "fake").sum()),
        "share_reals_called_fake": float((real["verdict"] == "fake").mean()) if len(real) else None,
        "fakes_called_fake": int((fake["verdict"] == "fake").sum()),
        "share_fakes_called_fake": float((fake["verdict"] == "fake").mean()) if len(fake) else None,
        "seconds_mean": float(own["seconds"].mean()) if n else None,
        "seconds_median": float(own["seconds"].median()) if n else None,
    }
    scored = comparison_set(table, kind, source)
    row["scored_real"] = int((scored["label"] == 0).sum())
    row["scored_fake"] = int((scored["label"] == 1).sum())
    if len(scored):
        # the bootstrap resamples each class apart, which needs two files of each class present
        resampleable = min(n for n in (row["scored_real"], row["scored_fake"]) if n) >= 2
        m = compute_metrics(scored["label"].to_numpy(np.int64), scored["p_fake"].to_numpy(np.float64),
                            threshold=threshold, n_boot=n_boot if resampleable else 0, seed=seed)
        row["metrics"] = {k: m[k] for k in SCORE_METRICS}
    else:
        row["metrics"] = {k: {"value": None, "ci_low": None, "ci_high": None} for k in SCORE_METRICS}
    return row


def group_rows(table: pd.DataFrame, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Every row of the report: per kind (videos, images, then anything else), ``pooled``
    first, then the real sources, then the fake sources, each by name."""
    kinds = sorted(set(table["kind"]), key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    rows = []
    for kind in kinds:
        of_kind = table[table["kind"] == kind]
        rows.append(group_row(table, kind, None, threshold, n_boot, seed))
        sources = of_kind.groupby("source")["label"].max().sort_values(kind="stable")
        for source in sorted(sources.index, key=lambda s: (int(sources[s]), s)):
            rows.append(group_row(table, kind, source, threshold, n_boot, seed))
    return rows
