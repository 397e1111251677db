"""Temperature scaling of P(fake) scores, and the clipped logit it works on.

Pure numpy/scipy: no deep-learning framework is imported here, so the app can calibrate
member scores without loading TensorFlow twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import expit, logit

from dfd.evaluation.leakage import check_indices, indices_from_json, indices_to_json
from dfd.metrics import check_scores

# float32 sigmoid outputs saturate at exactly 0.0/1.0; clipping keeps logits finite (±13.8).
EPS = 1e-6


def to_logits(p) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS))


class TemperatureScaler:
    """Temperature scaling: ``p' = sigmoid(logit(p) / T)`` with one ``T > 0`` fit by
    minimising validation NLL. ``T > 1`` softens over-confident scores, ``T < 1`` sharpens
    under-confident ones; the ranking (and so ROC-AUC) never changes."""

    kind = "temperature"

    def __init__(self, temperature: float = 1.0):
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
        self.temperature = float(temperature)
        self.fitted_indices_: np.ndarray | None = None
        self.nll_before_: float | None = None
        self.nll_after_: float | None = None

    @staticmethod
    def _nll(z: np.ndarray, sign: np.ndarray, log_t: float) -> float:
        # -log sigmoid(sign * z / T), written with logaddexp so large logits cannot overflow
        return float(np.mean(np.logaddexp(0.0, -sign * z * np.exp(-log_t))))

    def fit(self, p, y, indices=None) -> TemperatureScaler:
        y, p = check_scores(y, p)
        if np.unique(y).size < 2:
            raise ValueError("temperature scaling needs both real (0) and fake (1) samples")
        idx = check_indices(indices, p.shape[0])
        z, sign = to_logits(p), 2.0 * y - 1.0
        # NLL is convex in 1/T, hence unimodal in log T: bounded Brent finds the optimum.
        from scipy import optimize  # fitting only: not on the inference import path

        res = optimize.minimize_scalar(
            lambda lt: self._nll(z, sign, lt),
            bounds=(math.log(1e-2), math.log(1e2)),
            method="bounded",
            options={"xatol": 1e-6},
        )
        self.temperature = float(math.exp(res.x))
        self.fitted_indices_ = idx
        self.nll_before_ = self._nll(z, sign, 0.0)
        self.nll_after_ = self._nll(z, sign, float(res.x))
        return self

    def transform(self, p) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if not np.all(np.isfinite(p)) or (p.size and (p.min() < 0 or p.max() > 1)):
            raise ValueError("probabilities to calibrate must be finite and in [0, 1]")
        return expit(to_logits(p) / self.temperature)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "temperature": self.temperature,
            "nll_before": self.nll_before_,
            "nll_after": self.nll_after_,
            "fitted_indices": indices_to_json(self.fitted_indices_),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TemperatureScaler:
        if d.get("kind") != cls.kind:
            raise ValueError(f"not a temperature scaler: kind={d.get('kind')!r}")
        obj = cls(float(d["temperature"]))
        obj.nll_before_ = d.get("nll_before")
        obj.nll_after_ = d.get("nll_after")
        obj.fitted_indices_ = indices_from_json(d.get("fitted_indices"))
        return obj

    def __repr__(self) -> str:
        return f"TemperatureScaler(temperature={self.temperature:.4g})"

