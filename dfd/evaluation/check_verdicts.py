"""The engine's verdicts on test faces with one of a bundle's input checks and without it: the
table notebook 05 shows for the sharpness check (:mod:`dfd.evaluation.sharpness`) and the
compression check (:mod:`dfd.evaluation.compression`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def verdicts_with_and_without(bundle, models: Mapping, inputs: Sequence[tuple[str, np.ndarray]], y,
                              check: str, flagged_column: str, flagged: Callable):
    """One row per input and rule (the bundle as saved, and without its ``check``: the field
    ``"sharpness"`` or ``"compression"``) with the share ``flagged(check, fine_detail,
    jpeg_quality)`` marks (column ``flagged_column``; None without the check), the share decided,
    the decided accuracy with its Wilson interval and the real faces called fake (a DataFrame).
    ``inputs``: (name, crops) pairs; ``models``: name -> (model, input size)."""
    import pandas as pd

    from dfd.evaluation.scoring import scores_and_features
    from dfd.metrics import accuracy_interval

    y = np.asarray(y, dtype=np.int64)
    checker = getattr(bundle, check)
    rules = {"without the check": dataclasses.replace(bundle, **{check: None})}
    if checker is not None:
        rules["with the check" + ("" if checker.active_ else " (inactive)")] = bundle
    rows = []
    for name, x in inputs:
        P, features = scores_and_features(models, x)
        detail, quality = bundle.fine_detail(x), bundle.jpeg_quality(x)
        share = None if checker is None else float(np.mean(flagged(checker, detail, quality)))
        for rule, b in rules.items():
            p, verdicts = b.face_verdicts(P, features, detail, quality)
            v = np.asarray(verdicts)
            decided = v != "uncertain"
            acc = accuracy_interval(y[decided], p[decided], bundle.threshold)
            rows.append({"input": name, "rule": rule, flagged_column: share,
                         "decided": float(decided.mean()), "accuracy_decided": acc["value"],
                         "ci_low": acc["ci_low"], "ci_high": acc["ci_high"], "n_decided": acc["n"],
                         "real_called_fake": int(((v == "fake") & (y == 0)).sum()), "n_real": int((y == 0).sum())})
    return pd.DataFrame(rows)
