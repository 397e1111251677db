"""A member's score range: where its raw logit lay on the clean validation faces.

A member whose score leaves that range has met something it was not fit on, even when its
features stay in range for the distance check (:mod:`dfd.evaluation.ood`): the faces140k
multistream member at JPEG quality 50 keeps its features in range but pushes every face's
P(fake) to 1, which ties the stacking ensemble's output and drops its AUC to chance while
the other members still rank at 0.81-0.84. :class:`ScoreRange` marks such a score as
``beyond`` its range, and the bundle's ``"far_left_out"`` rule leaves that member out of the
face's score (:meth:`dfd.evaluation.bundle.EnsembleBundle.left_out_matrix`). It does not make
a verdict uncertain by itself: the other members still speak.

The range is the validation logits' [min, max] widened by :data:`WIDENING` of its width on
each side; measured on faces140k and dfd-default test faces (docs/experiments.md,
"Scores beyond their validation range"): no widening flags 5% of clean test faces, 0.25 none,
0.5 lets JPEG 50 through again.
"""

from __future__ import annotations

import numpy as np

from dfd.evaluation.calibration import to_logits

WIDENING = 0.25


class ScoreRange:
    """fit(valid_scores) on one member's raw P(fake) of the clean validation faces;
    ``beyond(scores)`` for new ones. Fitted attributes: ``low_``, ``high_`` (logits)."""

    def __init__(self, widening: float = WIDENING):
        self.widening = float(widening)

    def fit(self, valid_scores) -> ScoreRange:
        z = to_logits(np.asarray(valid_scores, dtype=np.float64).reshape(-1))
        if z.size < 2 or not np.all(np.isfinite(z)):
            raise ValueError(f"need at least two finite validation scores, got {z.size}")
        if not 0.0 <= self.widening <= 10.0:
            raise ValueError(f"widening must be in [0, 10], got {self.widening!r}")
        lo, hi = float(z.min()), float(z.max())
        pad = self.widening * (hi - lo)
        self.low_, self.high_ = lo - pad, hi + pad
        return self

    def beyond(self, scores) -> np.ndarray:
        """True for each raw P(fake) whose logit lies outside ``[low_, high_]``."""
        if not hasattr(self, "low_"):
            raise ValueError("this ScoreRange is not fitted yet: call fit(valid_scores)")
        z = to_logits(np.asarray(scores, dtype=np.float64).reshape(-1))
        return (z < self.low_) | (z > self.high_)

    def to_dict(self) -> dict:
        return {"kind": "score_range", "widening": self.widening, "low": self.low_, "high": self.high_}

    @classmethod
    def from_dict(cls, d) -> ScoreRange:
        if d.get("kind") != "score_range":
            raise ValueError(f"not a score range: kind {d.get('kind')!r}")
        out = cls(float(d["widening"]))
        out.low_, out.high_ = float(d["low"]), float(d["high"])
        if not (np.isfinite(out.low_) and np.isfinite(out.high_) and out.low_ <= out.high_):
            raise ValueError(f"score range needs finite low <= high, got {out.low_}, {out.high_}")
        return out


def fit_score_ranges(P_valid, names, widening: float = WIDENING) -> dict[str, ScoreRange]:
    """member name -> its :class:`ScoreRange` from the ``(n, n_members)`` raw validation scores."""
    P = np.asarray(P_valid, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != len(names):
        raise ValueError(f"expected an (n, {len(names)}) score matrix, got shape {P.shape}")
    return {name: ScoreRange(widening).fit(P[:, j]) for j, name in enumerate(names)}
