"""Out-of-domain (OOD) scores: how far a face's features lie from a member's training faces.

:class:`OodScorer` is fit on a member's penultimate features of its TRAINING faces
(:func:`dfd.models.features.feature_model`) and sets its threshold on the clean VALIDATION
faces: a face is out of domain when its distance exceeds the split-conformal ``quantile`` of
the validation distances (:func:`conformal_quantile`), so at most ``1 - quantile`` of new
clean in-domain faces are flagged, in expectation, however few validation faces there are.
:func:`fit_member_ood` does both for every member of a dataset (called when the study saves
the bundle). The method was chosen by measurement (``docs/experiments.md``, "OOD score"):
Mahalanobis with a Ledoit-Wolf covariance, or the standardised RMS for features too wide
for a d x d precision matrix in bundle.json (the multistream family's ~12k).

Scoring is numpy only (the app loads it with the bundle); fitting imports scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

METHODS = ("rms", "mahalanobis", "knn")
DEFAULT_METHOD = "mahalanobis"
MAX_MAHALANOBIS_FEATURES = 1024  # wider features use "rms": O(d) numbers in bundle.json, not d^2
DEFAULT_QUANTILE = 0.99
# A face is also out of domain when ONE member sees it far out, though others see it in: its
# worst ratio (distance / that member's threshold) beyond this quantile of the clean validation
# faces' worst ratios. Measured (docs/experiments.md "One member far out"): the faces140k bundle's
# multistream cnn sees every crossdomain_dev photo and video beyond the worst validation face
# while the stacker follows it to "fake" for all 24 real FF++ videos.
WORST_RATIO_QUANTILE = 0.995
# a feature (nearly) constant on the training faces gets this share of the median feature
# scale, so a foreign input that moves it counts a lot without dividing by zero
SCALE_FLOOR = 0.01


def conformal_quantile(values, quantile: float) -> float:
    """The split-conformal ``quantile`` of ``values``: their ``ceil((n + 1) * quantile)``-th
    smallest, the maximum where that rank passes ``n``. A new value exchangeable with the n
    given ones exceeds it with probability at most ``1 - quantile`` (for rank <= n). The
    interpolated empirical quantile sits lower, by about one order statistic at the 0.99 /
    0.995 tails of a few hundred validation faces: measured on faces140k (220 validation faces),
    it put 1.8% of the clean test faces out where 0.5% was meant (docs/experiments.md,
    session 16)."""
    v = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"expected finite values to take a quantile of, got {v.size} values")
    rank = int(np.ceil((v.size + 1) * float(quantile) - 1e-9))
    return float(v[min(max(rank, 1), v.size) - 1])


def _check_features(features, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(features, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"expected a (n_faces, n_features) feature matrix, got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"expected {n_features} features per face, got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise ValueError("features contain NaN or inf")
    return X


class OodScorer:
    """Distance of features from the training distribution, and the rule for "out".

    Every method first standardises each feature by its training mean and standard deviation:

    * ``"rms"``: root mean square of the standardised features (a diagonal Mahalanobis
      distance divided by the square root of the dimension; O(d) parameters, so it fits
      the multistream family's ~12k concatenated stream features too);
    * ``"mahalanobis"``: the Mahalanobis distance under a Ledoit-Wolf shrunk covariance of
      the standardised features, divided by the square root of the dimension;
    * ``"knn"``: the mean Euclidean distance to the ``n_neighbors`` nearest training faces
      (standardised), divided by the square root of the dimension (stores the training features).

    ``threshold_`` is the :func:`conformal_quantile` of the distances of the faces given to
    ``fit`` as ``valid_features`` (of the training faces themselves without them)."""

    def __init__(self, method: str = DEFAULT_METHOD, quantile: float = DEFAULT_QUANTILE, n_neighbors: int = 5):
        if method not in METHODS:
            raise ValueError(f"unknown OOD method {method!r}; one of {list(METHODS)}")
        if not 0.5 <= float(quantile) < 1.0:
            raise ValueError(f"quantile must be in [0.5, 1), got {quantile!r}")
        if int(n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors!r}")
        self.method = method
        self.quantile = float(quantile)
        self.n_neighbors = int(n_neighbors)

    def fit(self, features, valid_features=None) -> OodScorer:
        """Fit the training distribution on ``features`` (the member's training faces,
        ``(n, d)``) and set ``threshold_`` on ``valid_features`` (clean validation faces)."""
        X = _check_features(features)
        if X.shape[0] < 2:
            raise ValueError("an OOD scorer needs at least 2 training faces")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        positive = std[std > 0]
        floor = SCALE_FLOOR * (float(np.median(positive)) if positive.size else 1.0)
        self.scale_ = np.maximum(std, floor)
        Z = (X - self.mean_) / self.scale_
        self.precision_ = self.reference_ = None
        if self.method == "mahalanobis":
            from sklearn.covariance import LedoitWolf

            self.precision_ = LedoitWolf(assume_centered=True).fit(Z).precision_
        elif self.method == "knn":
            if X.shape[0] <= self.n_neighbors:
                raise ValueError(f"knn needs more than n_neighbors={self.n_neighbors} training faces")
            self.reference_ = Z.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        self.n_fit_ = X.shape[0]
        if valid_features is None:
            # without held-out faces: a training face is not its own neighbour
            d, self.n_threshold_ = self._distances(Z, exclude_self=True), X.shape[0]
        else:
            V = _check_features(valid_features, self.n_features_in_)
            d, self.n_threshold_ = self._distances((V - self.mean_) / self.scale_), V.shape[0]
        self.threshold_ = conformal_quantile(d, self.quantile)
        return self

    def _distances(self, Z: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        dim = Z.shape[1]
        if self.method == "rms":
            return np.sqrt(np.mean(Z**2, axis=1))
        if self.method == "mahalanobis":
            return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Z, self.precision_, Z), 0.0) / dim)
        ref = self.reference_.astype(np.float64)
        k = self.n_neighbors + int(exclude_self)
        out = np.empty(Z.shape[0])
        for s in range(0, Z.shape[0], 256):  # bounded memory: 256 x n_fit distances at a time
            z = Z[s : s + 256]
            sq = np.maximum((z**2).sum(1)[:, None] - 2 * z @ ref.T + (ref**2).sum(1)[None, :], 0.0)
            nearest = np.sort(np.partition(sq, k - 1, axis=1)[:, :k], axis=1)[:, int(exclude_self):]
            out[s : s + 256] = np.sqrt(nearest).mean(axis=1)
        return out / np.sqrt(dim)

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise ValueError("this OodScorer is not fitted yet: call fit(train_features, valid_features)")

    def score(self, features) -> np.ndarray:
        """The distance of each face's features ``(n, d)`` from the training faces, ``(n,)``."""
        self._check_fitted()
        Z = (_check_features(features, self.n_features_in_) - self.mean_) / self.scale_
        return self._distances(Z)

    def ratio(self, distances) -> np.ndarray:
        """Distances (from :meth:`score`) over ``threshold_``: above 1 is out of domain."""
        self._check_fitted()
        return np.asarray(distances, dtype=np.float64) / self.threshold_

    def is_out(self, features) -> np.ndarray:
        """True for each face whose distance is above ``threshold_``."""
        return self.score(features) > self.threshold_

    def to_dict(self) -> dict:
        self._check_fitted()
        d = {"kind": "ood", "method": self.method, "quantile": self.quantile, "n_neighbors": self.n_neighbors,
             "threshold": self.threshold_, "n_fit": self.n_fit_, "n_threshold": self.n_threshold_,
             "mean": self.mean_.tolist(), "scale": self.scale_.tolist()}
        if self.precision_ is not None:
            d["precision"] = self.precision_.tolist()
        if self.reference_ is not None:
            d["reference"] = self.reference_.tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> OodScorer:
        if d.get("kind") != "ood":
            raise ValueError(f"not an OOD scorer: kind {d.get('kind')!r}")
        self = cls(d["method"], d["quantile"], d.get("n_neighbors", 5))
        self.mean_ = np.asarray(d["mean"], dtype=np.float64)
        self.scale_ = np.asarray(d["scale"], dtype=np.float64)
        dim = self.mean_.shape[0]
        if self.mean_.ndim != 1 or self.scale_.shape != (dim,) or not np.all(self.scale_ > 0):
            raise ValueError("OOD scorer: mean and scale must be vectors of one length, scale positive")
        self.precision_ = self.reference_ = None
        if self.method == "mahalanobis":
            self.precision_ = np.asarray(d["precision"], dtype=np.float64)
            if self.precision_.shape != (dim, dim):
                raise ValueError(f"OOD scorer: precision must be {dim}x{dim}")
        elif self.method == "knn":
            self.reference_ = np.asarray(d["reference"], dtype=np.float32)
            if self.reference_.ndim != 2 or self.reference_.shape[1] != dim:
                raise ValueError(f"OOD scorer: reference must have {dim} columns")
        self.n_features_in_ = dim
        self.threshold_ = float(d["threshold"])
        self.n_fit_, self.n_threshold_ = int(d["n_fit"]), int(d["n_threshold"])
        return self


def member_features(model, images, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``model``'s raw P(fake) ``(n,)`` and its features ``(n, d)`` (see
    :func:`dfd.models.features.feature_model`) for float or uint8 crops ``(n, s, s, 3)``
    at the model's input size, from one forward pass per batch."""
    from dfd.models.features import feature_model

    both = feature_model(model)
    images = np.asarray(images)
    ps, fs = [], []
    for s in range(0, len(images), batch_size):
        p, f = both.predict_on_batch(images[s : s + batch_size].astype(np.float32))
        ps.append(np.asarray(p).reshape(-1))
        fs.append(np.asarray(f, dtype=np.float64))
    return np.concatenate(ps), np.concatenate(fs)


def distance_ratios(scorers: Mapping[str, OodScorer], features: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(n, n_scorers)``: each face's distance over each member's threshold (in the order of
    ``scorers``); above 1 is that member's "out"."""
    return np.stack([sc.ratio(sc.score(features[name])) for name, sc in scorers.items()], axis=1)


def uncertain_rows(out, far) -> np.ndarray:
    """The verdict rule's out-of-domain check, one owner: a face ``(n, n_members)`` bool
    matrices) is "uncertain" when every member is out for it, or any member is far out."""
    return np.asarray(out, bool).all(axis=1) | np.asarray(far, bool).any(axis=1)


def fit_worst_ratio(valid_ratios, quantile: float = WORST_RATIO_QUANTILE) -> float:
    """The worst-ratio threshold: the :func:`conformal_quantile` of the clean validation faces'
    largest :func:`distance_ratios` (at least 1, so it never flags what no member calls out)."""
    R = np.asarray(valid_ratios, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] == 0 or not np.all(np.isfinite(R)):
        raise ValueError(f"expected a finite (n_faces, n_members) ratio matrix, got shape {R.shape}")
    if not 0.5 <= float(quantile) <= 1.0:
        raise ValueError(f"quantile must be in [0.5, 1], got {quantile!r}")
    return max(1.0, conformal_quantile(R.max(axis=1), quantile))


def fit_member_ood(dataset: str, members, method: str | None = None,
                   quantile: float = DEFAULT_QUANTILE) -> tuple[dict[str, OodScorer], float]:
    """member name -> :class:`OodScorer` fit on that member's features of the training crops
    of ``dataset`` (``models/<dataset>/<name>.h5``), its threshold set on the validation crops;
    and the worst-ratio threshold fit on those validation crops (:func:`fit_worst_ratio`).
    ``method`` None: :data:`DEFAULT_METHOD`, or ``"rms"`` for features wider than
    :data:`MAX_MAHALANOBIS_FEATURES`."""
    from dfd.evaluation.scoring import load_members
    from dfd.evaluation.study import split_crops

    out, valid_features = {}, {}
    for name, (model, size) in load_members(dataset, list(members)).items():
        train = member_features(model, split_crops(dataset, "train", size)[0])[1]
        valid_features[name] = member_features(model, split_crops(dataset, "valid", size)[0])[1]
        chosen = method or (DEFAULT_METHOD if train.shape[1] <= MAX_MAHALANOBIS_FEATURES else "rms")
        out[name] = OodScorer(chosen, quantile).fit(train, valid_features[name])
    return out, fit_worst_ratio(distance_ratios(out, valid_features))


def cartoon_face(size: int, rng: np.random.Generator) -> np.ndarray:
    """A face drawn with OpenCV (flat skin ellipse, eyes, brows, nose, mouth): face-shaped
    but like no photograph, uint8 RGB ``(size, size, 3)``."""
    import cv2

    img = np.full((size, size, 3), rng.integers(120, 256, 3), np.uint8)
    c, s = size // 2, size / 96
    skin = tuple(int(v) for v in rng.integers(150, 256, 3))
    dark = tuple(int(v) for v in rng.integers(0, 80, 3))
    cv2.ellipse(img, (c, c), (int(30 * s), int(40 * s)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    for dx in (-1, 1):
        eye = (c + dx * int(12 * s), c - int(8 * s))
        cv2.circle(img, eye, int(6 * s), (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(img, eye, int(3 * s), dark, -1, cv2.LINE_AA)
        cv2.line(img, (eye[0] - int(7 * s), eye[1] - int(9 * s)), (eye[0] + int(7 * s), eye[1] - int(10 * s)),
                 dark, max(1, int(2 * s)), cv2.LINE_AA)
    cv2.line(img, (c, c - int(2 * s)), (c - int(3 * s), c + int(10 * s)), dark, max(1, int(2 * s)), cv2.LINE_AA)
    cv2.ellipse(img, (c, c + int(20 * s)), (int(12 * s), int(5 * s)), 0, 0, 180, (200, 40, 60),
                max(1, int(3 * s)), cv2.LINE_AA)
    return img


def foreign_inputs(size: int, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs no face detector was trained on, ``n`` of each kind, uint8 ``(n, size, size, 3)``:
    uniform noise, Gaussian noise around mid-grey, flat colours and drawn cartoon faces."""
    rng = np.random.default_rng(seed)
    shape = (n, size, size, 3)
    return {
        "uniform_noise": rng.integers(0, 256, shape, dtype=np.uint8),
        "gaussian_noise": np.clip(rng.normal(128, 50, shape), 0, 255).astype(np.uint8),
        "flat_colour": np.broadcast_to(rng.integers(0, 256, (n, 1, 1, 3)), shape).astype(np.uint8),
        "cartoon_face": np.stack([cartoon_face(size, rng) for _ in range(n)]),
    }


def ood_rates(models: dict, scorers: Mapping[str, OodScorer], images: np.ndarray, n_foreign: int = 16,
              seed: int = 0, worst_ratio: float | None = None):
    """How often each member's check flags an input as out of domain: the clean test crops
    ``images`` (uint8, any size), each corruption level of the robustness sweep, and
    :func:`foreign_inputs`. A DataFrame of member, input, level, share flagged and n; with
    every member scored, also the bundle's verdict rule as member ``"verdict rule"``: the
    share whose every member is out, or whose worst ratio exceeds ``worst_ratio`` (the
    bundle's :attr:`~dfd.evaluation.bundle.EnsembleBundle.ood_worst_ratio`; None: every member
    out only)."""
    import pandas as pd

    from dfd.evaluation.corruptions import sweep_inputs
    from dfd.evaluation.scoring import at_size

    sets = [("clean" if kind == "none" else kind, level, x) for kind, level, x in sweep_inputs(images, seed)]
    rows, ratios = [], {}
    for name, (model, size) in models.items():
        if name not in scorers:
            continue
        foreign = [(kind, 0, x) for kind, x in foreign_inputs(size, n=n_foreign, seed=seed).items()]
        for kind, level, x in sets + foreign:
            ratio = scorers[name].ratio(scorers[name].score(member_features(model, at_size(x, size))[1]))
            ratios.setdefault((kind, level), []).append(ratio)
            rows.append({"member": name, "input": kind, "level": level, "flagged": float(np.mean(ratio > 1.0)),
                         "n": int(len(x))})
    if models and all(name in scorers for name in models):
        for (kind, level), per_member in ratios.items():
            R = np.stack(per_member, axis=1)
            out = uncertain_rows(R > 1.0, R > worst_ratio if worst_ratio is not None else np.zeros(R.shape, bool))
            rows.append({"member": "verdict rule", "input": kind, "level": level, "flagged": float(np.mean(out)),
                         "n": int(len(R))})
    return pd.DataFrame(rows)
