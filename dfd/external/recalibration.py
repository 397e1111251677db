"""An external run's per-file results re-scored under another ensemble or calibrator, without
running the models again (what the out-of-domain calibration study needs).

``per_file.csv`` holds each member's *calibrated* score, and a member's temperature scaler
can be inverted (``logit(raw) = T * logit(calibrated)``), so the raw member scores come
back and any ensemble fit on the same members combines them. For a photo (one scored face)
that is the engine's own answer, up to the clipping of logits at ±13.8; for a video the
member scores are already aggregated over its frames, so the result only approximates what
the engine would answer with that ensemble.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from dfd import LABEL_NAMES
from dfd.evaluation.calibration import to_logits
from dfd.external.groups import group_rows


def raw_member_scores(per_file: pd.DataFrame, bundle) -> np.ndarray:
    """``(n_files, n_members)`` raw member P(fake) in the bundle's member order, from the
    ``p_<member>`` columns of a per-file table; NaN rows for files without a score."""
    missing = [f"p_{m}" for m in bundle.member_names if f"p_{m}" not in per_file.columns]
    if missing:
        raise ValueError(f"the per-file table lacks the member column(s) {missing}")
    cols = []
    for name in bundle.member_names:
        p = per_file[f"p_{name}"].to_numpy(np.float64)
        cal = bundle.member_calibrators.get(name)
        scored = np.isfinite(p)
        raw = np.full_like(p, np.nan)
        raw[scored] = expit(to_logits(p[scored]) * cal.temperature) if cal is not None else p[scored]
        cols.append(raw)
    return np.column_stack(cols)


def recombine(per_file: pd.DataFrame, bundle, ensemble, calibrator) -> np.ndarray:
    """Each file's P(fake) under ``calibrator(ensemble(raw member scores))``; NaN where the
    run had no score."""
    P = raw_member_scores(per_file, bundle)
    scored = np.all(np.isfinite(P), axis=1)
    out = np.full(len(P), np.nan)
    if scored.any():
        out[scored] = calibrator.transform(ensemble.predict(P[scored]))
    return out


def rescored_rows(per_file: pd.DataFrame, p_fake, threshold: float = 0.5, n_boot: int = 0,
                  seed: int = 0) -> list[dict]:
    """The report's rows per kind and source (:func:`group_rows`) with ``p_fake`` in place of
    the run's scores. The verdict shares stay those of the run."""
    table = per_file.assign(p_fake=np.asarray(p_fake, np.float64))
    names = {v: k for k, v in LABEL_NAMES.items()}
    table["label"] = [names.get(v, v) for v in table["label"]]
    table["p_fake"] = table["p_fake"].where(np.isfinite(table["p_fake"]))
    return group_rows(table, threshold=threshold, n_boot=n_boot, seed=seed)
