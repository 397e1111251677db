"""Ensembles of member models, and choosing among them.

Inputs: ``P`` is an ``(n_samples, n_models)`` matrix of member probabilities P(fake), one
column per member in a fixed member order; ``y`` holds 0 = real, 1 = fake. Every fit
records its dataset row ids in ``fitted_indices_`` (see :mod:`dfd.evaluation.leakage`).

Pure numpy/scipy/scikit-learn: no deep-learning framework is imported here, so the app can
combine member scores without loading TensorFlow twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import expit

from dfd.evaluation.calibration import EPS, TemperatureScaler, to_logits
from dfd.evaluation.leakage import check_indices, indices_from_json, indices_to_json
from dfd.metrics import check_scores, log_loss


def check_member_matrix(P, n_models: int | None = None) -> np.ndarray:
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
    P = check_member_matrix(P)
    if np.shape(y) != (P.shape[0],):
        raise ValueError(f"P has {P.shape[0]} rows but y has shape {np.shape(y)}; need one label per row")
    y, _ = check_scores(y, P[:, 0])
    if np.unique(y).size < 2:
        raise ValueError("fitting needs both real (0) and fake (1) samples")
    return P, y, check_indices(indices, P.shape[0])


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
        return np.clip(self._predict(check_member_matrix(P, self.n_models_)), 0.0, 1.0)

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
            "fitted_indices": indices_to_json(self.fitted_indices_),
        }

    @classmethod
    def from_dict(cls, d: Mapping):
        if d.get("kind") != cls.kind:
            raise ValueError(f"expected ensemble kind {cls.kind!r}, got {d.get('kind')!r}")
        obj = cls.__new__(cls)
        _Ensemble.__init__(obj)
        obj.n_models_ = int(d["n_models"])
        obj._set_params(d.get("params", {}))
        obj.fitted_indices_ = indices_from_json(d.get("fitted_indices"))
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


def fit_subset_ensembles(
    P_valid, y_valid, valid_indices, member_names: Sequence[str]
) -> dict[tuple[str, ...], tuple[str, _Ensemble, TemperatureScaler]]:
    """For every proper, non-empty subset of the members (in member order): the ensemble
    with the lowest calibrated validation log loss among those :func:`fit_ensembles` fits on
    that subset's columns (a single member competes for a one-member subset), as
    ``(kind name, ensemble, calibrator)``. What scores a face some members are left out for
    (:meth:`dfd.evaluation.bundle.EnsembleBundle.predict`): the remaining members as they
    would have been combined had they been the only ones; on dfd-default's corrupted test
    copies this holds the stacking weights the plain mean of the others threw away
    (docs/experiments.md, "Scores beyond their validation range")."""
    P, y, idx = _check_fit_data(P_valid, y_valid, valid_indices)
    names = [str(n) for n in member_names]
    out = {}
    for k in range(1, len(names)):
        for cols in itertools.combinations(range(len(names)), k):
            sub = [names[c] for c in cols]
            fitted = fit_ensembles(P[:, list(cols)], y, idx, sub)
            best, _ = choose_best(fitted, P[:, list(cols)], y, include_members=k == 1)
            out[tuple(sub)] = (best, *fitted[best])
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


