"""The ``bundle.json`` manifest the desktop app loads: member files with their SHA-256, the
chosen ensemble and calibrators, the threshold and uncertain band, each member's out-of-domain
scorer, the check for faces softer than the validation faces, and the verdict rule.

JSON only (safe to load); pure numpy/scipy, so the app can combine member scores without
loading TensorFlow twice.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from dfd.errors import DfdError
from dfd.evaluation.calibration import TemperatureScaler
from dfd.evaluation.ensembles import _Ensemble, check_member_matrix, ensemble_from_dict
from dfd.evaluation.ood import OodScorer, uncertain_rows
from dfd.evaluation.score_range import ScoreRange
from dfd.evaluation.compression import COMPRESSION_REASON, CompressionCheck, jpeg_qualities
from dfd.evaluation.sharpness import SOFT_REASON, SharpnessCheck
from dfd.io.hashing import sha256_file

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT_VERSION = 2  # 2 added the optional "ood" scorers; version 1 bundles load unchanged
READABLE_FORMAT_VERSIONS = (1, 2)
OOD_REASON = "unlike the data these models were trained on"
# How a face's score is combined when members are out of domain for it: "ensemble" every column
# as is; "in_domain_mean" the mean calibrated score of the members in domain (always);
# "far_left_out" the ensemble, except for a face some member sees far out (ood_worst_ratio) or
# scores beyond its validation range (score_ranges): the ensemble of the others as fit on
# validation (subset_ensembles), or for bundles without them the mean calibrated score of the others.
# Measured (docs/experiments.md "Far members left out", "Scores beyond their validation range").
OOD_COMBINE_RULES = ("ensemble", "in_domain_mean", "far_left_out")
SAVED_OOD_COMBINE = "far_left_out"  # what the study saves new bundles with (older ones load as "ensemble")
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # bundle.json is small; refuse anything absurd


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
    ood: dict[str, OodScorer] = field(default_factory=dict)  # member name -> its fitted OOD scorer
    ood_combine: str = "ensemble"  # one of OOD_COMBINE_RULES
    # a face is also out of domain when one member's distance / threshold exceeds this
    # (dfd.evaluation.ood.fit_worst_ratio); None: only when every member is out (older bundles)
    ood_worst_ratio: float | None = None
    # member name -> the range of its raw scores on validation (dfd.evaluation.score_range);
    # "far_left_out" also leaves out a member whose score is beyond it (older bundles: none)
    score_ranges: dict[str, ScoreRange] = field(default_factory=dict)
    # the remaining members' names -> (kind, ensemble, calibrator) fit on validation for
    # them alone (dfd.evaluation.ensembles.fit_subset_ensembles): "far_left_out" scores a face
    # with members left out by these (older bundles: none, the others' mean)
    subset_ensembles: dict[tuple[str, ...], tuple] = field(default_factory=dict)
    # faces with less fine detail than the validation faces (dfd.evaluation.sharpness); when
    # its measured activation is on, their verdict is "uncertain" (older bundles: none)
    sharpness: SharpnessCheck | None = None
    # photos saved at a JPEG quality where the validation faces' verdicts broke down
    # (dfd.evaluation.compression): "uncertain" when it is active (older bundles: none)
    compression: CompressionCheck | None = None

    def __post_init__(self):
        names = [m.name for m in self.members]
        if not names or len(set(names)) != len(names):
            raise DfdError(f"bundle needs at least one member with unique names, got {names}")
        if self.ensemble.n_models_ != len(names):
            raise DfdError(f"ensemble expects {self.ensemble.n_models_} members, bundle lists {len(names)}")
        unknown = set(self.member_calibrators) - set(names)
        if unknown:
            raise DfdError(f"calibrators for unknown members: {sorted(unknown)}")
        if set(self.ood) - set(names):
            raise DfdError(f"OOD scorers for unknown members: {sorted(set(self.ood) - set(names))}")
        if self.subset_ensembles and len(self.subset_ensembles) != 2 ** len(names) - 2:
            raise DfdError(f"subset_ensembles must hold every proper subset of the {len(names)} members "
                           f"({2 ** len(names) - 2}), got {len(self.subset_ensembles)}")
        for sub, (_kind, ens, _cal) in self.subset_ensembles.items():
            if not sub or len(sub) >= len(names) or [n for n in names if n in sub] != list(sub) \
                    or ens.n_models_ != len(sub):
                raise DfdError(f"subset ensemble {'+'.join(sub)!r} is not a proper subset of {names} in member order")
        if set(self.score_ranges) - set(names):
            raise DfdError(f"score ranges for unknown members: {sorted(set(self.score_ranges) - set(names))}")
        if self.ood_combine not in OOD_COMBINE_RULES:
            raise DfdError(f"ood_combine must be one of {list(OOD_COMBINE_RULES)}, got {self.ood_combine!r}")
        if self.ood_worst_ratio is not None:
            if not (isinstance(self.ood_worst_ratio, (int, float)) and np.isfinite(self.ood_worst_ratio)
                    and self.ood_worst_ratio >= 1.0):
                raise DfdError(f"ood_worst_ratio must be a number >= 1, got {self.ood_worst_ratio!r}")
            self.ood_worst_ratio = float(self.ood_worst_ratio)
        lo, hi = (float(v) for v in self.uncertain_band)
        self.threshold = float(self.threshold)
        if not 0.0 <= lo <= self.threshold <= hi <= 1.0:
            raise DfdError(f"need 0 <= band low <= threshold <= band high <= 1, got {lo}, {self.threshold}, {hi}")
        self.uncertain_band = (lo, hi)

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def predict(self, P_members, out=None) -> np.ndarray:
        """Calibrated ensemble P(fake) for an ``(n, n_members)`` matrix (a 1-D vector is
        taken as one sample). ``out`` (same shape, bool: the members left out for that face,
        :meth:`left_out_matrix`) applies the ``ood_combine`` rule; a face with every member
        left out keeps the ensemble's score (its verdict is "uncertain" all the same)."""
        P = np.asarray(P_members, dtype=np.float64)
        if P.ndim == 1:
            P = P[None, :]
        p = self.calibrator.transform(self.ensemble.predict(P))
        if out is None or self.ood_combine == "ensemble":
            return p
        out = np.asarray(out, dtype=bool).reshape(P.shape)
        n_in = (~out).sum(axis=1)
        rescored = n_in > 0
        if self.ood_combine == "far_left_out":
            rescored &= out.any(axis=1)  # nobody far out: the ensemble as fit
            if self.subset_ensembles:  # the ensemble fit on the members left in
                p = p.copy()
                for row in np.unique(out[rescored], axis=0):  # each pattern of members left out
                    rows = rescored & (out == row).all(axis=1)
                    cols = np.flatnonzero(~row)
                    _kind, ens, subset_cal = self.subset_ensembles[tuple(self.member_names[c] for c in cols)]
                    p[rows] = subset_cal.transform(ens.predict(P[rows][:, cols]))
                return p
        # older bundles: the mean of the calibrated scores of the members left in
        cal = np.stack(list(self.member_probabilities(P).values()), axis=1)
        mean_in = np.where(out, 0.0, cal).sum(axis=1) / np.maximum(n_in, 1)
        return np.where(rescored, mean_in, p)

    def left_out_matrix(self, ood: Mapping[str, Mapping], n: int) -> np.ndarray | None:
        """What :meth:`predict` leaves out under ``ood_combine``: the members out of domain
        ("in_domain_mean"), far out or beyond their score range ("far_left_out"), or None
        ("ensemble")."""
        if self.ood_combine == "ensemble":
            return None
        if self.ood_combine == "far_left_out":
            return self.out_matrix(ood, n, "far") | self.out_matrix(ood, n, "beyond_range")
        return self.out_matrix(ood, n, "out")

    def ood_scores(self, features: Mapping[str, np.ndarray], P_members=None) -> dict[str, dict]:
        """Each member with an OOD scorer: ``{"distance": (n,), "threshold": float, "out":
        (n,) bool, "far": (n,) bool, "beyond_range": (n,) bool}`` for its features ``(n, d)``
        (``features``: member name -> features) and, given, the raw member scores ``(n,
        n_members)``; ``far``: distance / threshold above :attr:`ood_worst_ratio`;
        ``beyond_range``: its score outside its :attr:`score_ranges` entry."""
        P = None if P_members is None else np.atleast_2d(np.asarray(P_members, dtype=np.float64))
        out = {}
        for name, scorer in self.ood.items():
            d = scorer.score(features[name])
            ratio = scorer.ratio(d)
            far = ratio > self.ood_worst_ratio if self.ood_worst_ratio is not None else np.zeros(d.shape, bool)
            rng = self.score_ranges.get(name)
            beyond = (rng.beyond(P[:, self.member_names.index(name)]) if rng is not None and P is not None
                      else np.zeros(d.shape, bool))
            out[name] = {"distance": d, "threshold": scorer.threshold_, "out": d > scorer.threshold_, "far": far,
                         "beyond_range": beyond}
        return out

    def score_faces(self, P_members, features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, dict]]:
        """How the engine scores faces: their per-member OOD checks (:meth:`ood_scores`) and
        the calibrated P(fake) with the members they put out left out (:meth:`left_out_matrix`)."""
        P = np.atleast_2d(np.asarray(P_members, dtype=np.float64))
        ood = self.ood_scores(features, P)
        return self.predict(P, self.left_out_matrix(ood, len(P))), ood

    def in_domain_scores(self, P_members, ood: Mapping[str, Mapping]) -> np.ndarray:
        """Each face's calibrated P(fake) from the members in domain for it alone (those out,
        far out or beyond their score range left out, as :meth:`predict` leaves members out);
        NaN where no member is out (nothing to compare) or none is left in. The verdict rule
        compares it with the engine's score: a verdict that only stands with a member out of
        domain is not one to trust (measured: the faces140k bundle's cnn, out of domain for
        WebP re-saves, made 174 of 220 re-saved fakes "real"; docs/experiments.md, session 20)."""
        P = np.atleast_2d(np.asarray(P_members, dtype=np.float64))
        n = len(P)
        out = self.out_matrix(ood, n, "out")  # "far" is out too (ood_worst_ratio >= 1)
        left = out | self.out_matrix(ood, n, "beyond_range")
        compared = out.any(axis=1) & ~left.all(axis=1)
        if self.ood_combine != "far_left_out" or not compared.any():  # older bundles; most faces
            return np.full(n, np.nan)
        return np.where(compared, self.predict(P, left), np.nan)

    def out_matrix(self, ood: Mapping[str, Mapping], n: int, check: str = "out") -> np.ndarray:
        """``(n, n_members)`` bool from :meth:`ood_scores` (``check`` "out", "far" or
        "beyond_range"); a member without a scorer is in domain."""
        cols = [np.asarray(ood[m][check], bool).reshape(n) if m in ood else np.zeros(n, bool)
                for m in self.member_names]
        return np.stack(cols, axis=1)

    def all_out(self, members_out) -> bool:
        """Whether every member is among ``members_out``."""
        gone = set(members_out)
        return all(m in gone for m in self.member_names)

    def fine_detail(self, crops) -> np.ndarray | None:
        """Each face crop's fine detail (:func:`dfd.evaluation.sharpness.fine_detail` at the
        check's size), what :meth:`face_verdicts` and :meth:`uncertain_reason` take; None for a
        bundle without the check."""
        return None if self.sharpness is None else self.sharpness.measure(crops)

    def soft_reason(self, fine_detail) -> str | None:
        """Why a face whose ``fine_detail`` is under the check's threshold is "uncertain",
        when the check is active; otherwise None."""
        check = self.sharpness
        if check is None or not check.active_ or fine_detail is None or not check.is_soft(fine_detail):
            return None
        acc = check.soft_accuracy_ or {}
        measured = (f"; on blurred or downscaled copies of the validation faces these models' verdicts were right "
                    f"{acc['value']:.0%} of the time" if acc.get("value") is not None else "")
        return (f"{SOFT_REASON} (fine detail {float(fine_detail):.2f}, under {check.threshold_:.2f}: blurred, "
                f"downscaled or enlarged{measured})")

    def jpeg_quality(self, images) -> np.ndarray | None:
        """Each image's estimated JPEG quality (:func:`dfd.evaluation.compression.jpeg_quality`:
        a whole photo at inference, a compressed crop in the report), what :meth:`face_verdicts`
        and :meth:`uncertain_reason` take; None for a bundle without the check."""
        return None if self.compression is None else jpeg_qualities(images)

    def compression_reason(self, jpeg_quality) -> str | None:
        """Why an image whose estimated ``jpeg_quality`` the check flags is "uncertain", when the
        check is active; otherwise None."""
        check = self.compression
        if check is None or not check.active_ or jpeg_quality is None or not check.is_flagged(jpeg_quality):
            return None
        level = int(check.nearest_level(jpeg_quality))
        return (f"{COMPRESSION_REASON} (JPEG quality about {float(jpeg_quality):.0f}; on validation faces saved at "
                f"quality {level} these models' verdicts were right {check.level_accuracy_[level]['value']:.0%} "
                "of the time)")

    def uncertain_reason(self, members_out, members_far=(), p=None, p_in_domain=None,
                         fine_detail=None, jpeg_quality=None) -> str | None:
        """Why a face is "uncertain" for being out of domain: every member is out for it
        (``members_out``), or one is far out (``members_far``: beyond :attr:`ood_worst_ratio`),
        or its verdict rests on members out of domain: the score ``p`` decides it one way and
        ``p_in_domain`` (:meth:`in_domain_scores`, the members in domain alone) does not
        decide it so; or it is softer than the validation faces (``fine_detail``,
        :meth:`soft_reason`); or saved at a JPEG quality its verdicts do not hold on (``jpeg_quality``,
        :meth:`compression_reason`); otherwise None."""
        reason = self._ood_reason(members_out, members_far, p, p_in_domain) if self.ood else None
        return reason or self.soft_reason(fine_detail) or self.compression_reason(jpeg_quality)

    def _ood_reason(self, members_out, members_far, p, p_in_domain) -> str | None:
        out, far = set(members_out), set(members_far) if self.ood_worst_ratio is not None else set()
        if uncertain_rows([[m in out for m in self.member_names]], [[m in far for m in self.member_names]])[0]:
            if self.all_out(members_out):
                return f"{OOD_REASON} (out of domain for {', '.join(self.member_names)})"
            return f"{OOD_REASON} (far out of domain for {', '.join(m for m in self.member_names if m in far)})"
        if p is not None and p_in_domain is not None and np.isfinite(p_in_domain) and out:
            mine, theirs = self.verdict(float(p)), self.verdict(float(p_in_domain))
            if mine != "uncertain" and mine != theirs:
                return (f"{OOD_REASON} (the {mine!r} verdict rests on {', '.join(m for m in self.member_names if m in out)}, "
                        f"out of domain: the models in domain alone say {theirs!r})")
        return None

    def member_probabilities(self, P_members) -> dict[str, np.ndarray]:
        """Each member's own calibrated P(fake) (uncalibrated if it has no calibrator)."""
        P = check_member_matrix(np.atleast_2d(np.asarray(P_members, dtype=np.float64)), len(self.members))
        out = {}
        for j, name in enumerate(self.member_names):
            cal = self.member_calibrators.get(name)
            out[name] = cal.transform(P[:, j]) if cal is not None else P[:, j]
        return out

    def verdict(self, p, members_out=None, members_far=(), p_in_domain=None, fine_detail=None, jpeg_quality=None):
        """``"uncertain"`` if ``lo <= p <= hi``, else ``"fake"`` if ``p >= threshold``, else
        ``"real"``. A scalar gives a string, an array a list of strings. ``members_out``,
        ``members_far``, ``p_in_domain``, ``fine_detail`` and ``jpeg_quality`` (with one score: the
        members out / far out of domain for it, the score of the members in domain alone, the
        face's fine detail, the image's estimated JPEG quality) make the verdict ``"uncertain"``
        when :meth:`uncertain_reason` gives a reason."""
        arr = np.asarray(p, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("cannot give a verdict for a NaN/inf score")
        lo, hi = self.uncertain_band
        v = np.where((arr >= lo) & (arr <= hi), "uncertain", np.where(arr >= self.threshold, "fake", "real"))
        if members_out is not None or fine_detail is not None or jpeg_quality is not None:
            if v.ndim:
                raise ValueError("members_out, fine_detail and jpeg_quality go with one score, not with an array of them")
            if self.uncertain_reason(members_out or [], members_far, float(arr), p_in_domain, fine_detail, jpeg_quality):
                return "uncertain"
        return str(v) if v.ndim == 0 else v.tolist()

    def face_verdicts(self, P_members, features: Mapping[str, np.ndarray],
                      fine_detail=None, jpeg_quality=None) -> tuple[np.ndarray, list[str]]:
        """How the engine decides faces: their calibrated P(fake) (:meth:`score_faces`: members
        out left out) and each face's verdict by :meth:`verdict`, made ``"uncertain"`` where
        the out-of-domain rule puts the face out (:func:`dfd.evaluation.ood.uncertain_rows`:
        every member out, or one far out, or a verdict that the members in domain alone do not
        give: :meth:`uncertain_reason`) or where it is soft (``fine_detail``: :meth:`fine_detail`
        of the crops, needed when the bundle's check is active) or saved at such a JPEG quality
        (``jpeg_quality``: :meth:`jpeg_quality`, needed when that check is active), as it does
        for a file's deciding face."""
        if self.sharpness is not None and self.sharpness.active_ and fine_detail is None:
            raise ValueError("this bundle's sharpness check is active: pass each face's fine_detail "
                             "(EnsembleBundle.fine_detail of the crops)")
        if self.compression is not None and self.compression.active_ and jpeg_quality is None:
            raise ValueError("this bundle's compression check is active: pass each face's jpeg_quality "
                             "(EnsembleBundle.jpeg_quality of the images)")
        p, ood = self.score_faces(P_members, features)
        verdicts = np.asarray(self.verdict(p), dtype=object).reshape(-1)
        if self.ood:
            n = len(p)
            verdicts[uncertain_rows(self.out_matrix(ood, n, "out"), self.out_matrix(ood, n, "far"))] = "uncertain"
            p_in = self.in_domain_scores(P_members, ood)
            compared = np.flatnonzero(np.isfinite(p_in) & (verdicts != "uncertain"))
            if compared.size:
                verdicts[compared[np.asarray(self.verdict(p_in[compared]), dtype=object) != verdicts[compared]]] = "uncertain"
        if self.sharpness is not None and self.sharpness.active_:
            verdicts[self.sharpness.is_soft(np.asarray(fine_detail, dtype=np.float64).reshape(len(p)))] = "uncertain"
        if self.compression is not None and self.compression.active_:
            verdicts[self.compression.is_flagged(np.asarray(jpeg_quality, dtype=np.float64).reshape(len(p)))] = "uncertain"
        return p, verdicts.tolist()

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
            "ood": {k: sc.to_dict() for k, sc in self.ood.items()},
            "ood_combine": self.ood_combine,
            "ood_worst_ratio": self.ood_worst_ratio,
            "score_ranges": {k: r.to_dict() for k, r in self.score_ranges.items()},
            "subset_ensembles": {"+".join(sub): {"name": kind, "ensemble": ens.to_dict(), "calibrator": cal.to_dict()}
                                 for sub, (kind, ens, cal) in self.subset_ensembles.items()},
            "sharpness": None if self.sharpness is None else self.sharpness.to_dict(),
            "compression": None if self.compression is None else self.compression.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> EnsembleBundle:
        try:
            if d.get("format_version") not in READABLE_FORMAT_VERSIONS:
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
                ood={k: OodScorer.from_dict(o) for k, o in (d.get("ood") or {}).items()},
                ood_combine=str(d.get("ood_combine", "ensemble")),
                ood_worst_ratio=d.get("ood_worst_ratio"),
                score_ranges={k: ScoreRange.from_dict(r) for k, r in (d.get("score_ranges") or {}).items()},
                subset_ensembles={tuple(k.split("+")): (str(e["name"]), ensemble_from_dict(e["ensemble"]),
                                                        TemperatureScaler.from_dict(e["calibrator"]))
                                  for k, e in (d.get("subset_ensembles") or {}).items()},
                sharpness=None if d.get("sharpness") is None else SharpnessCheck.from_dict(d["sharpness"]),
                compression=None if d.get("compression") is None else CompressionCheck.from_dict(d["compression"]),
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
