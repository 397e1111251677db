"""Ensembles of member models, temperature scaling, the decision threshold / "uncertain"
band, and the ``bundle.json`` manifest the desktop app loads.

Pure numpy/scipy/scikit-learn: no deep-learning framework is imported here, so the app can
combine member scores without loading TensorFlow twice.

Data-leakage guard: everything that is *fit* (ensembles, calibrators) records the dataset
row ids it was fit on in ``fitted_indices_``; evaluation code calls
:func:`assert_no_leakage` with the test row ids before reporting a single number.

Inputs: ``P`` is an ``(n_samples, n_models)`` matrix of member probabilities P(fake), one
column per member in a fixed member order; ``y`` holds 0 = real, 1 = fake.
"""

from __future__ import annotations

import json
import math
import os
import string
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np
from scipy.special import expit, logit

from dfd.errors import DfdError
from dfd.io.hashing import sha256_file
from dfd.evaluation.metrics import check_scores, equal_error_rate, log_loss

# float32 sigmoid outputs saturate at exactly 0.0/1.0; clipping keeps logits finite (±13.8).
EPS = 1e-6
BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # bundle.json is small; refuse anything absurd


class LeakageError(DfdError):
    """Something was fit on rows that are also used for testing."""


def to_logits(p) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS))


def _check_matrix(P, n_models: int | None = None) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"P must be a non-empty (n_samples, n_models) matrix, got shape {P.shape}")
    if n_models is not None and P.shape[1] != n_models:
        raise ValueError(f"P has {P.shape[1]} member column(s) but the ensemble expects {n_models}")
    if not np.all(np.isfinite(P)):
        raise ValueError("P contains NaN/inf member probabilities")
    if P.min() < 0.0 or P.max() > 1.0:
        raise ValueError(f"member probabilities must be in [0, 1], got range [{P.min():g}, {P.max():g}]")
    return P


def _check_fit_data(P, y, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    P = _check_matrix(P)
    if np.shape(y) != (P.shape[0],):
        raise ValueError(f"P has {P.shape[0]} rows but y has shape {np.shape(y)}; need one label per row")
    y, _ = check_scores(y, P[:, 0])
    if np.unique(y).size < 2:
        raise ValueError("fitting needs both real (0) and fake (1) samples")
    return P, y, _check_indices(indices, P.shape[0])


def _check_indices(indices, n: int) -> np.ndarray | None:
    if indices is None:
        return None
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.shape[0] != n:
        raise ValueError(f"indices must be 1-D with one id per row ({n}), got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise ValueError("indices must be integer dataset row ids")
    return idx.astype(np.int64)


def _indices_to_json(idx: np.ndarray | None) -> list[int] | None:
    return None if idx is None else idx.tolist()


def _indices_from_json(obj) -> np.ndarray | None:
    return None if obj is None else np.asarray(obj, dtype=np.int64).reshape(-1)


def assert_no_leakage(test_indices, *fitted) -> None:
    """Raise :class:`LeakageError` unless no object in ``fitted`` (ensembles, calibrators,
    ``(ensemble, calibrator)`` pairs, the dict from :func:`fit_ensembles`, a loaded
    :class:`EnsembleBundle`) was fit on any
    of ``test_indices``. Objects fit without ``indices`` cannot be checked and also raise."""
    test = np.asarray(test_indices, dtype=np.int64).reshape(-1)
    stack = list(fitted)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Mapping):
            stack.extend(obj.values())
            continue
        if isinstance(obj, tuple | list):
            stack.extend(obj)
            continue
        if isinstance(obj, EnsembleBundle):
            stack.extend([obj.ensemble, obj.calibrator, *obj.member_calibrators.values()])
            continue
        idx = getattr(obj, "fitted_indices_", None)
        if idx is None:
            raise LeakageError(f"{type(obj).__name__} was fit without row indices; cannot rule out leakage")
        overlap = np.intersect1d(idx, test)
        if overlap.size:
            raise LeakageError(
                f"{type(obj).__name__} was fit on {overlap.size} test row(s), e.g. {overlap[:5].tolist()}"
            )


# --------------------------------------------------------------------------- calibration
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
        idx = _check_indices(indices, p.shape[0])
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
            "fitted_indices": _indices_to_json(self.fitted_indices_),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TemperatureScaler:
        if d.get("kind") != cls.kind:
            raise ValueError(f"not a temperature scaler: kind={d.get('kind')!r}")
        obj = cls(float(d["temperature"]))
        obj.nll_before_ = d.get("nll_before")
        obj.nll_after_ = d.get("nll_after")
        obj.fitted_indices_ = _indices_from_json(d.get("fitted_indices"))
        return obj

    def __repr__(self) -> str:
        return f"TemperatureScaler(temperature={self.temperature:.4g})"


# --------------------------------------------------------------------------- ensembles
class _Ensemble:
    """Common interface: ``fit(P, y, indices=None)``, ``predict(P)``, ``to_dict()``,
    ``from_dict()``; ``fitted_indices_`` holds the dataset row ids used by ``fit``."""

    kind = ""

    def __init__(self):
        self.n_models_: int | None = None
        self.fitted_indices_: np.ndarray | None = None

    def fit(self, P, y, indices=None):
        P, y, idx = _check_fit_data(P, y, indices)
        self.n_models_ = P.shape[1]
        self._fit(P, y)
        self.fitted_indices_ = idx
        return self

    def _fit(self, P: np.ndarray, y: np.ndarray) -> None:
        pass

    def predict(self, P) -> np.ndarray:
        if self.n_models_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return np.clip(self._predict(_check_matrix(P, self.n_models_)), 0.0, 1.0)

    def _predict(self, P: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict:
        return {}

    def _set_params(self, params: Mapping) -> None:
        pass

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "n_models": self.n_models_,
            "params": self._params(),
            "fitted_indices": _indices_to_json(self.fitted_indices_),
        }

    @classmethod
    def from_dict(cls, d: Mapping):
        if d.get("kind") != cls.kind:
            raise ValueError(f"expected ensemble kind {cls.kind!r}, got {d.get('kind')!r}")
        obj = cls.__new__(cls)
        _Ensemble.__init__(obj)
        obj.n_models_ = int(d["n_models"])
        obj._set_params(d.get("params", {}))
        obj.fitted_indices_ = _indices_from_json(d.get("fitted_indices"))
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"


class MemberEnsemble(_Ensemble):
    """A single member (column ``column``) behind the ensemble interface, so single models
    and ensembles can be calibrated, compared and bundled the same way."""

    kind = "member"

    def __init__(self, column: int = 0):
        super().__init__()
        self.column = int(column)

    def _fit(self, P, y):
        if not 0 <= self.column < P.shape[1]:
            raise ValueError(f"member column {self.column} out of range for {P.shape[1]} members")

    def _predict(self, P):
        return P[:, self.column]

    def _params(self):
        return {"column": self.column}

    def _set_params(self, params):
        self.column = int(params["column"])


class MeanEnsemble(_Ensemble):
    """Unweighted mean of member probabilities (nothing to fit; a robust baseline)."""

    kind = "mean"

    def _predict(self, P):
        return P.mean(axis=1)


class WeightedMeanEnsemble(_Ensemble):
    """``P @ w`` with ``w >= 0``, ``sum(w) = 1`` minimising validation log loss (SLSQP).
    Log loss of a convex mixture is convex in ``w``, so the optimum is global; weights can
    be exactly 0, which drops a useless member."""

    kind = "weighted_mean"

    def __init__(self):
        super().__init__()
        self.weights_: np.ndarray | None = None

    def _fit(self, P, y):
        m = P.shape[1]

        def nll_and_grad(w):
            q = np.clip(P @ w, EPS, 1.0 - EPS)
            loss = -np.mean(y * np.log(q) + (1 - y) * np.log1p(-q))
            dq = -(y / q - (1 - y) / (1.0 - q)) / P.shape[0]
            return loss, P.T @ dq

        from scipy import optimize

        res = optimize.minimize(
            nll_and_grad,
            np.full(m, 1.0 / m),
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * m,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(m)}],
            options={"ftol": 1e-10, "maxiter": 500},
        )
        # SLSQP sometimes reports failure right at the optimum, so judge the result by its
        # loss instead: keep it unless it is worse than (or as bad as) equal weights.
        uniform = np.full(m, 1.0 / m)
        w = np.clip(np.nan_to_num(res.x, nan=0.0), 0.0, None)
        w = w / w.sum() if w.sum() > 0 else uniform
        self.weights_ = w if nll_and_grad(w)[0] < nll_and_grad(uniform)[0] else uniform

    def _predict(self, P):
        return P @ self.weights_

    def _params(self):
        return {"weights": self.weights_.tolist() if self.weights_ is not None else None}

    def _set_params(self, params):
        w = np.asarray(params["weights"], dtype=np.float64)
        if w.ndim != 1 or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError("weights must be non-negative and sum to 1")
        self.weights_ = w


class StackingEnsemble(_Ensemble):
    """Logistic regression on member logits (scikit-learn, L2 with strength ``1/C``).

    Fit only on validation predictions: fitting it on the members' own training rows would
    reward whichever member over-fit most. Prediction uses the stored coefficients, so a
    loaded bundle needs no pickled sklearn object."""

    kind = "stacking"

    def __init__(self, C: float = 1.0):
        super().__init__()
        self.C = float(C)
        self.coef_: np.ndarray | None = None
        self.intercept_: float | None = None

    def _fit(self, P, y):
        from sklearn.linear_model import LogisticRegression  # fitting only

        lr = LogisticRegression(C=self.C, max_iter=1000).fit(to_logits(P), y)
        self.coef_ = lr.coef_.ravel().astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])

    def _predict(self, P):
        return expit(to_logits(P) @ self.coef_ + self.intercept_)

    def _params(self):
        return {
            "C": self.C,
            "coef": self.coef_.tolist() if self.coef_ is not None else None,
            "intercept": self.intercept_,
        }

    def _set_params(self, params):
        self.C = float(params.get("C", 1.0))
        self.coef_ = np.asarray(params["coef"], dtype=np.float64).reshape(-1)
        self.intercept_ = float(params["intercept"])


ENSEMBLE_KINDS: dict[str, type[_Ensemble]] = {
    cls.kind: cls for cls in (MemberEnsemble, MeanEnsemble, WeightedMeanEnsemble, StackingEnsemble)
}


def ensemble_from_dict(d: Mapping) -> _Ensemble:
    kind = d.get("kind")
    if kind not in ENSEMBLE_KINDS:
        raise ValueError(f"unknown ensemble kind {kind!r}; known: {sorted(ENSEMBLE_KINDS)}")
    ens = ENSEMBLE_KINDS[kind].from_dict(d)
    if isinstance(ens, MemberEnsemble) and not 0 <= ens.column < ens.n_models_:
        raise ValueError(f"member column {ens.column} out of range for {ens.n_models_} members")
    if isinstance(ens, WeightedMeanEnsemble | StackingEnsemble):
        params = ens.weights_ if isinstance(ens, WeightedMeanEnsemble) else ens.coef_
        if params.shape[0] != ens.n_models_:
            raise ValueError(f"{kind} has {params.shape[0]} parameters for {ens.n_models_} members")
    return ens


def fit_ensembles(
    P_valid, y_valid, valid_indices, member_names: Sequence[str]
) -> dict[str, tuple[_Ensemble, TemperatureScaler]]:
    """Fit every ensemble kind and every single member, each followed by its own
    temperature scaler, all on the validation rows ``valid_indices`` only.

    Keys: ``"mean"``, ``"weighted_mean"``, ``"stacking"``, then one key per member name
    (a :class:`MemberEnsemble` with that member's own calibrator).

    The calibrator is fit on the same validation rows as its ensemble. That is acceptable
    here because both have very few parameters (≤ n_models + 1, and one temperature), so
    the optimism it adds to validation NLL is small; test rows stay untouched either way.
    """
    P, y, idx = _check_fit_data(P_valid, y_valid, valid_indices)
    if idx is None:
        raise ValueError("valid_indices are required (they make leakage checks possible)")
    names = [str(n) for n in member_names]
    if len(names) != P.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"need {P.shape[1]} unique member names, got {names}")
    builders = {"mean": MeanEnsemble, "weighted_mean": WeightedMeanEnsemble, "stacking": StackingEnsemble}
    clash = set(names) & set(builders)
    if clash:
        raise ValueError(f"member names {sorted(clash)} clash with ensemble names")
    out: dict[str, tuple[_Ensemble, TemperatureScaler]] = {}
    candidates = [(k, b()) for k, b in builders.items()]
    candidates += [(name, MemberEnsemble(j)) for j, name in enumerate(names)]
    for key, ens in candidates:
        ens.fit(P, y, idx)
        cal = TemperatureScaler().fit(ens.predict(P), y, idx)
        out[key] = (ens, cal)
    return out


def choose_best(
    fitted: Mapping[str, tuple[_Ensemble, TemperatureScaler]],
    P_valid,
    y_valid,
    include_members: bool = False,
) -> tuple[str, dict[str, float]]:
    """Name of the candidate with the lowest *calibrated* validation log loss, and every
    candidate's loss. Only ensembles compete unless ``include_members``; ties go to the
    earlier (simpler) entry. The losses are on the rows the candidates were fit on, which
    slightly favours the candidates with more parameters (stacking)."""
    losses = {}
    for key, (ens, cal) in fitted.items():
        if ens.kind == "member" and not include_members:
            continue
        losses[key] = log_loss(y_valid, cal.transform(ens.predict(P_valid)))
    if not losses:
        raise ValueError("no candidates to choose from")
    best = min(losses, key=losses.__getitem__)  # min() keeps the first of equal values
    return best, losses


# --------------------------------------------------------------------------- operating point
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


# --------------------------------------------------------------------------- bundle
def _safe_relative(file: str) -> str:
    """Member files must live inside the bundle folder: no absolute paths, no '..'."""
    if not isinstance(file, str) or not file or "\\" in file:
        raise DfdError(f"bundle member file name {file!r} is not a plain relative path")
    pp = PurePosixPath(file)
    if pp.is_absolute() or ".." in pp.parts or ":" in pp.parts[0]:
        raise DfdError(f"bundle member file {file!r} points outside the models folder")
    return pp.as_posix()


@dataclass
class MemberEntry:
    name: str
    file: str  # relative to the bundle folder, '/'-separated
    sha256: str
    input_size: tuple[int, int]  # (height, width) in pixels

    def __post_init__(self):
        self.file = _safe_relative(self.file)
        size = (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size
        self.input_size = tuple(int(s) for s in size)
        if len(self.input_size) != 2 or min(self.input_size) <= 0:
            raise DfdError(f"member {self.name!r}: input_size must be (height, width), got {size!r}")
        if not (isinstance(self.sha256, str) and len(self.sha256) == 64
                and all(c in string.hexdigits for c in self.sha256)):
            raise DfdError(f"member {self.name!r}: sha256 must be 64 hex characters")
        self.sha256 = self.sha256.lower()

    @classmethod
    def from_file(cls, folder, name: str, file: str, input_size) -> MemberEntry:
        """Entry for ``folder/file`` with its SHA-256 computed now."""
        return cls(name, file, sha256_file(Path(folder) / _safe_relative(file)), input_size)

    def to_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "sha256": self.sha256,
                "input_size": list(self.input_size)}


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class EnsembleBundle:
    """Everything the app needs to turn member scores into a verdict, saved as
    ``bundle.json`` next to the member model files (JSON only: safe to load).

    ``predict`` expects member probabilities in the order of ``members``."""

    members: list[MemberEntry]
    ensemble: _Ensemble
    calibrator: TemperatureScaler
    member_calibrators: dict[str, TemperatureScaler]
    threshold: float
    uncertain_band: tuple[float, float]
    dataset: str
    ensemble_name: str = ""
    created: str = field(default_factory=_utc_now)
    extra: dict = field(default_factory=dict)  # free-form JSON metadata (metrics, notes)

    def __post_init__(self):
        names = [m.name for m in self.members]
        if not names or len(set(names)) != len(names):
            raise DfdError(f"bundle needs at least one member with unique names, got {names}")
        if self.ensemble.n_models_ != len(names):
            raise DfdError(f"ensemble expects {self.ensemble.n_models_} members, bundle lists {len(names)}")
        unknown = set(self.member_calibrators) - set(names)
        if unknown:
            raise DfdError(f"calibrators for unknown members: {sorted(unknown)}")
        lo, hi = (float(v) for v in self.uncertain_band)
        self.threshold = float(self.threshold)
        if not 0.0 <= lo <= self.threshold <= hi <= 1.0:
            raise DfdError(f"need 0 <= band low <= threshold <= band high <= 1, got {lo}, {self.threshold}, {hi}")
        self.uncertain_band = (lo, hi)

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def predict(self, P_members) -> np.ndarray:
        """Calibrated ensemble P(fake) for an ``(n, n_members)`` matrix (a 1-D vector is
        taken as one sample)."""
        P = np.asarray(P_members, dtype=np.float64)
        if P.ndim == 1:
            P = P[None, :]
        return self.calibrator.transform(self.ensemble.predict(P))

    def member_probabilities(self, P_members) -> dict[str, np.ndarray]:
        """Each member's own calibrated P(fake) (uncalibrated if it has no calibrator)."""
        P = _check_matrix(np.atleast_2d(np.asarray(P_members, dtype=np.float64)), len(self.members))
        out = {}
        for j, name in enumerate(self.member_names):
            cal = self.member_calibrators.get(name)
            out[name] = cal.transform(P[:, j]) if cal is not None else P[:, j]
        return out

    def verdict(self, p):
        """``"uncertain"`` if ``lo <= p <= hi``, else ``"fake"`` if ``p >= threshold``, else
        ``"real"``. A scalar gives a string, an array a list of strings."""
        arr = np.asarray(p, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("cannot give a verdict for a NaN/inf score")
        lo, hi = self.uncertain_band
        v = np.where((arr >= lo) & (arr <= hi), "uncertain", np.where(arr >= self.threshold, "fake", "real"))
        return str(v) if v.ndim == 0 else v.tolist()

    # ---- persistence
    def to_dict(self) -> dict:
        return {
            "format_version": BUNDLE_FORMAT_VERSION,
            "created": self.created,
            "dataset": self.dataset,
            "members": [m.to_dict() for m in self.members],
            "ensemble_name": self.ensemble_name,
            "ensemble": self.ensemble.to_dict(),
            "calibrator": self.calibrator.to_dict(),
            "member_calibrators": {k: c.to_dict() for k, c in self.member_calibrators.items()},
            "threshold": self.threshold,
            "uncertain_band": list(self.uncertain_band),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> EnsembleBundle:
        try:
            if d.get("format_version") != BUNDLE_FORMAT_VERSION:
                raise DfdError(f"unsupported bundle format_version {d.get('format_version')!r}")
            return cls(
                members=[MemberEntry(m["name"], m["file"], m["sha256"], m["input_size"]) for m in d["members"]],
                ensemble=ensemble_from_dict(d["ensemble"]),
                calibrator=TemperatureScaler.from_dict(d["calibrator"]),
                member_calibrators={k: TemperatureScaler.from_dict(c) for k, c in d.get("member_calibrators", {}).items()},
                threshold=d["threshold"],
                uncertain_band=tuple(d["uncertain_band"]),
                dataset=str(d.get("dataset", "")),
                ensemble_name=str(d.get("ensemble_name", "")),
                created=str(d.get("created", "")),
                extra=dict(d.get("extra") or {}),
            )
        except DfdError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DfdError(f"bundle.json is malformed: {type(exc).__name__}: {exc}") from exc

    def verify_members(self, folder) -> None:
        """Raise :class:`DfdError` unless every member file exists and matches its SHA-256."""
        folder = Path(folder)
        for m in self.members:
            path = folder / m.file
            if not path.is_file():
                raise DfdError(
                    f"model file {m.file} does not match the bundle manifest (file is missing from {folder})"
                )
            digest = sha256_file(path)
            if digest != m.sha256:
                raise DfdError(
                    f"model file {m.file} does not match the bundle manifest (SHA-256 mismatch): "
                    f"expected {m.sha256[:12]}…, found {digest[:12]}…. It was changed or replaced "
                    "after the bundle was made; restore the original file or rebuild the bundle."
                )

    def save(self, folder, verify: bool = True) -> Path:
        """Write ``folder/bundle.json`` atomically; with ``verify`` first check that the member
        files in ``folder`` match the manifest, so a stale manifest is never written."""
        folder = Path(folder)
        if verify:
            self.verify_members(folder)
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bundle-", suffix=".json.tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, folder / BUNDLE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return folder / BUNDLE_FILE

    @classmethod
    def load(cls, folder, verify: bool = True) -> EnsembleBundle:
        """Read ``folder/bundle.json``; with ``verify`` (default) recompute every member
        file's SHA-256 and refuse the bundle on a mismatch or a missing file."""
        path = Path(folder) / BUNDLE_FILE
        if not path.is_file():
            raise DfdError(f"no {BUNDLE_FILE} in {folder}")
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise DfdError(f"{path} is too large to be a bundle manifest")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DfdError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DfdError(f"{path} is malformed: top level is not an object")
        bundle = cls.from_dict(data)
        if verify:
            bundle.verify_members(folder)
        return bundle
