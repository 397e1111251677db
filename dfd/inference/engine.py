"""The offline inference engine: files in, calibrated verdicts out.

    det = Detector.from_dir(default_models_dir())        # bundle.json + member .h5 files
    res = det.analyze("photo.jpg", explain=True)          # never raises for a bad file
    res.verdict, res.p_fake, res.faces[0].heatmaps

Pipeline per file: checks (regular file, size, kind by content and extension, pixel count
from the header) → decode → face detection (MTCNN on a down-scaled copy) → crops made
exactly as the members were trained (model card ``face_stage``) → one batched call of
each member's compiled predict function (P(fake) and the features its classifier reads) →
each member's out-of-domain check (the bundle's OOD scorers, when it has them) → ensemble +
calibration from the bundle → verdict (:meth:`Detector.verdict`, the bundle's rule:
"uncertain" when the deciding face is out of domain, or softer than the validation faces
where the bundle's sharpness check is active, :mod:`dfd.evaluation.sharpness`).

Images: every face is scored and the most suspicious face decides, except a face much
smaller than the main one (:mod:`dfd.inference.deciding`). Videos
(:mod:`dfd.inference.video`): evenly sampled frames; faces are followed over time (one
track per person); only tracks seen often enough and large enough may decide, and the
video's score is each frame's most suspicious of their faces, averaged over the frames
(``deciding.VIDEO_RULE``, the measured best).

Hostile files: every failure becomes verdict ``"error"`` with a sentence for people; size
and pixel limits are checked before anything is decoded, a per-file time budget between
stages, video containers are recognised by their magic bytes before FFmpeg sees them, and
FFmpeg is restricted to the ``file`` protocol. Nothing here opens a network connection.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

# FFmpeg (through OpenCV) may only read local files: no http/rtsp/hls fetches hidden in a
# crafted "video". Must be set before the first VideoCapture; setdefault keeps a caller's choice.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "protocol_whitelist;file")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dfd.errors import BadInputError, DfdError  # noqa: E402
from dfd.evaluation.bundle import EnsembleBundle  # noqa: E402
from dfd.evaluation.compression import jpeg_quality  # noqa: E402
from dfd.faces import INFERENCE, Face, FaceDetector, align_face, centre_square, choose_main_face  # noqa: E402
from dfd.faces.plausibility import implausible_because  # noqa: E402
from dfd.inference.deciding import deciding_faces, no_face_reason, scored_faces  # noqa: E402
from dfd.inference.limits import Limits, _Abort, _Clock  # noqa: E402
from dfd.inference.members import (  # noqa: E402
    _Candidate,
    _face_stage,
    _is_prealigned,
    _Member,
    _resize,
)
from dfd.inference.results import AnalysisResult, FaceResult, FrameScore, TrackResult, display_path  # noqa: E402
from dfd.inference.video import analyze_video  # noqa: E402
from dfd.io.images import check_regular_file, load_image  # noqa: E402
from dfd.io.media import file_kind, iter_media, sniff_kind  # noqa: E402

MAX_FACES_PER_IMAGE = 12
PREDICT_CHUNK = 64


def default_models_dir(dataset: str = "dfd-default") -> Path:
    """``models/<dataset>`` under the project root (``DFD_HOME`` overrides the root)."""
    from dfd.paths import models_dir

    return models_dir(dataset)


class Detector:
    """Loads a verified model bundle once and analyses files with it (thread-safe: one
    analysis at a time per Detector)."""

    def __init__(self, bundle: EnsembleBundle, members: list[_Member], folder: Path | None = None,
                 limits: Limits | None = None, face_detector: FaceDetector | None = None):
        self.bundle = bundle
        self.members = members
        self.folder = Path(folder) if folder is not None else None
        self.limits = limits or Limits()
        self.face_detector = face_detector or FaceDetector(INFERENCE)  # settings: dfd.faces.detection
        self._lock = threading.RLock()
        keys = []
        for m in members:
            if m.stage_key not in keys:
                keys.append(m.stage_key)
        self._stage_keys = keys  # the first one is the "primary" crop shown to people
        # the crop whose fine detail the bundle's sharpness check measures: the finest member's
        self._detail_key = max(members, key=lambda m: m.input_size[0]).stage_key if members else None
        self._warm = False

    @classmethod
    def from_dir(cls, models_dir=None, verify: bool = True, limits: Limits | None = None) -> "Detector":
        """Read ``bundle.json`` in ``models_dir`` (verifying every member file's SHA-256
        unless ``verify=False``) and load each member with :func:`dfd.models.load_model`,
        which refuses Lambda layers. Raises :class:`DfdError` with a message for people."""
        folder = Path(models_dir) if models_dir is not None else default_models_dir()
        if not folder.is_dir():
            raise DfdError(
                f"no models folder at {folder} — run `make reproduce` first (or pass the folder "
                "that holds bundle.json and the .h5 model files)"
            )
        if not (folder / "bundle.json").is_file():
            raise DfdError(
                f"no trained model bundle in {folder} (bundle.json is missing) — run `make reproduce` first"
            )
        bundle = EnsembleBundle.load(folder, verify=verify)
        from dfd.models import load_model  # TensorFlow is imported here, not at module import

        members = []
        for entry in bundle.members:
            model, card = load_model(folder / entry.file)
            shape = tuple(model.input_shape)
            if len(shape) != 4 or shape[-1] != 3:
                raise DfdError(
                    f"member {entry.name!r} ({entry.file}) takes input of shape {shape[1:]}; the "
                    "inference engine scores single face crops, (H, W, 3)"
                )
            members.append(_Member(entry.name, model, card, entry.sha256,
                                   (int(shape[1]), int(shape[2])), _face_stage(card)))
        return cls(bundle, members, folder, limits)

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.members]

    @functools.cached_property
    def bundle_id(self) -> str:
        """A short hash of the bundle's rules and fitted parts (ensemble, calibration, band,
        OOD scorers; not its creation time): results cached for one bundle are not reused for
        another whose members are the same files."""
        from dfd.io.hashing import sha256_text

        d = {k: v for k, v in self.bundle.to_dict().items() if k != "created"}
        return sha256_text(json.dumps(d, sort_keys=True, allow_nan=False))[:12]

    @property
    def info(self) -> dict:
        """The bundle's fields (fit row ids summarised as counts) and every member's card."""
        d = bundle_summary(self.bundle)
        d["folder"] = str(self.folder) if self.folder else None
        d["models"] = self.model_ids
        d["cards"] = {m.name: m.card for m in self.members}
        d["limits"] = asdict(self.limits)
        return d

    def verdict(self, p, members_out=None, members_far=(), p_in_domain=None, fine_detail=None,
                jpeg_quality=None) -> str:
        """The verdict for a calibrated P(fake) with the members out (and far out) of domain
        for it, the score of the members in domain alone, the face's fine detail and the
        photo's estimated JPEG quality: the bundle's rule (:meth:`EnsembleBundle.verdict`), the
        only one; no score (``None``) is ``"no_face"``."""
        if p is None:
            return "no_face"
        return self.bundle.verdict(p, members_out, members_far, p_in_domain, fine_detail, jpeg_quality)

    def decide(self, res: AnalysisResult, p: float, members_out: list[str], members_far: list[str] = (),
               members_beyond_range: list[str] = (), p_in_domain: float | None = None,
               fine_detail: float | None = None, jpeg_quality: float | None = None) -> None:
        """Set ``res``'s score, verdict, per-file OOD, sharpness and compression summaries and
        ``uncertain_reason`` from the deciding face (image) or track (video), the members out /
        far out of domain for it (and those whose score left its validation range: left out of
        ``p``, not a reason), the score of the members in domain alone (None when none is out),
        its fine detail (None without the bundle's sharpness check) and the photo's estimated JPEG
        quality (None for a video or without the bundle's compression check)."""
        res.p_fake = p
        res.verdict = self.verdict(p, members_out, members_far, p_in_domain, fine_detail, jpeg_quality)
        ood_reason = self.bundle.uncertain_reason(members_out, members_far, p, p_in_domain)
        if self.bundle.ood:
            res.ood = {"checked": sorted(self.bundle.ood), "members_out": list(members_out),
                       "members_far": list(members_far), "members_beyond_range": list(members_beyond_range),
                       "all_out": self.bundle.all_out(members_out), "p_fake_in_domain": p_in_domain,
                       "out_of_domain": ood_reason is not None}
        check = self.bundle.sharpness
        if check is not None and fine_detail is not None:
            res.sharpness = {"fine_detail": float(fine_detail), "threshold": check.threshold_,
                             "soft": bool(check.is_soft(fine_detail)), "active": check.active_}
        compression = self.bundle.compression
        if compression is not None and jpeg_quality is not None:
            res.compression = {"jpeg_quality": float(jpeg_quality), "failing_levels": list(compression.failing_levels_),
                               "flagged": bool(compression.is_flagged(jpeg_quality)), "active": compression.active_}
        res.uncertain_reason = (ood_reason or self.bundle.soft_reason(fine_detail)
                                or self.bundle.compression_reason(jpeg_quality))

    def warmup(self) -> None:
        """Trace the detector and model graphs now (the first analysis is otherwise ~1-2 s slower)."""
        with self._lock:
            if self._warm:
                return
            rng = np.random.default_rng(0)
            self.face_detector.detect(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
            for m in self.members:
                m.predict(np.zeros((1, *m.input_size, 3), np.float32))
            self._warm = True

    def analyze(self, path, explain: bool = False, frames: int = 32, progress=None, cancel=None) -> AnalysisResult:
        """Analyse one image or video file. Never raises for a bad file: ``verdict`` is
        ``"error"`` and ``error`` says why. ``progress(fraction)`` is called as stages
        finish; setting the ``cancel`` event stops the analysis with error ``"cancelled"``."""
        clock = _Clock(self.limits, cancel, progress)
        path_str = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        kind = None
        with self._lock:
            try:
                clock.check()
                check_regular_file(path_str, self.limits.max_bytes)
                kind = file_kind(path_str)
                if kind is None:
                    raise BadInputError("not an image or video file (unrecognised format)", path_str)
                if kind == "image":
                    result = self._analyze_image_file(path_str, explain, clock)
                else:
                    result = analyze_video(self, path_str, explain, max(1, int(frames)), clock)
            except _Abort as exc:
                result = self._error(path_str, kind, str(exc), clock)
            except BadInputError as exc:
                result = self._error(path_str, kind, exc.reason, clock)
            except DfdError as exc:
                result = self._error(path_str, kind, str(exc), clock)
            except MemoryError:
                result = self._error(path_str, kind, "out of memory while analysing this file", clock)
            except Exception as exc:  # noqa: BLE001 — the contract is: never raise for a file
                result = self._error(path_str, kind, f"internal error: {type(exc).__name__}: {exc}", clock)
        result.timings["total"] = time.perf_counter() - clock.start
        if result.verdict != "error":
            try:
                clock.report(1.0)
            except Exception:  # noqa: BLE001
                pass
        return result

    def analyze_array(self, rgb, explain: bool = False) -> AnalysisResult:
        """Analyse an in-memory ``HxWx3`` uint8 RGB image (``HxW`` grey and ``HxWx4`` RGBA
        are converted). Bad arrays give verdict ``"error"``."""
        clock = _Clock(self.limits, None, None)
        with self._lock:
            try:
                arr = np.asarray(rgb)
                if arr.ndim == 2:
                    arr = np.repeat(arr[..., None], 3, axis=2)
                if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < 1:
                    raise BadInputError(f"expected an HxWx3 RGB image array, got shape {arr.shape}")
                if arr.shape[0] * arr.shape[1] > self.limits.max_pixels:
                    raise BadInputError(f"image is {arr.shape[1]}x{arr.shape[0]} px, over the pixel limit")
                if arr.dtype != np.uint8:
                    if not np.issubdtype(arr.dtype, np.number):
                        raise BadInputError(f"image array has dtype {arr.dtype}, need numbers")
                    arr = np.clip(np.nan_to_num(arr.astype(np.float64)), 0, 255).astype(np.uint8)
                arr = np.ascontiguousarray(arr[..., :3])
                result = self._analyze_rgb("<array>", arr, explain, clock)
            except BadInputError as exc:
                result = self._error("<array>", "image", exc.reason, clock)
            except Exception as exc:  # noqa: BLE001
                result = self._error("<array>", "image", f"internal error: {type(exc).__name__}: {exc}", clock)
        result.timings["total"] = time.perf_counter() - clock.start
        return result

    def score_crops(self, crops) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Score face crops that are already aligned the way the members were trained
        (``(N, S, S, 3)`` uint8 RGB, any S: resized per member). Returns the calibrated
        ensemble P(fake) ``(N,)`` and each member's calibrated P(fake)."""
        arr = np.asarray(crops)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
            raise ValueError(f"expected (N, S, S, 3) RGB crops, got shape {arr.shape}")
        arr = arr.astype(np.uint8, copy=False)
        cands = [_Candidate(Face((0.0, 0.0, float(c.shape[1]), float(c.shape[0])), 1.0, np.zeros((5, 2))),
                            {key: c for key in self._stage_keys}) for c in arr]
        with self._lock:
            P, _, features = self._predict_members(cands, _Clock(self.limits, None, None))
        p, _ood = self.bundle.score_faces(P, features)
        return np.asarray(p, dtype=np.float64).reshape(-1), self.bundle.member_probabilities(P)

    def analyze_many(self, paths, **kw) -> Iterator[AnalysisResult]:
        """Analyse files and folders (walked recursively, images and videos, sorted)."""
        for p in iter_media(paths):
            yield self.analyze(p, **kw)

    def _base(self, path: str, kind: str | None, clock: _Clock) -> AnalysisResult:
        return AnalysisResult(
            path=path, kind=kind, verdict="error", p_fake=None, member_scores={}, faces=[], frames=[],
            suspicious_frames=[], timings=clock.timings, models=self.model_ids,
            threshold=self.bundle.threshold, uncertain_band=tuple(self.bundle.uncertain_band),
        )

    def _error(self, path: str, kind, message: str, clock: _Clock) -> AnalysisResult:
        res = self._base(path, kind, clock)
        res.error = message
        return res

    def _analyze_image_file(self, path: str, explain: bool, clock: _Clock) -> AnalysisResult:
        t = time.perf_counter()
        rgb = load_image(path, max_bytes=self.limits.max_bytes, max_pixels=self.limits.max_pixels)
        clock.add("decode", time.perf_counter() - t)
        clock.report(0.1)
        clock.check()
        return self._analyze_rgb(path, rgb, explain, clock)

    def _analyze_rgb(self, path: str, rgb: np.ndarray, explain: bool, clock: _Clock) -> AnalysisResult:
        res = self._base(path, "image", clock)
        res.image_size = (int(rgb.shape[1]), int(rgb.shape[0]))
        t = time.perf_counter()
        found = list(self.face_detector.detect(rgb))
        candidates = self._candidates(rgb, faces=scored_faces(found))
        clock.add("faces", time.perf_counter() - t)
        clock.report(0.5)
        clock.check()
        if not candidates:
            res.verdict = "no_face"
            res.no_face_reason = no_face_reason([found])
            return res
        faces = self._score(candidates, explain, clock)
        # a much smaller face is shown but does not outvote the main one (dfd.inference.deciding)
        may = deciding_faces([f.box for f in faces], [f.score for f in faces], rgb.shape,
                             plausible=[f.implausible is None for f in faces])
        for i, f in enumerate(faces):
            f.decides = i in may
        best = max(may, key=lambda i: faces[i].p_fake)  # the first on a tie
        res.faces = faces
        res.decided_by = best
        res.member_scores = dict(faces[best].member_scores)
        # the photo's JPEG history is read from the whole image, on the grid it was saved on
        quality = None
        if self.bundle.compression is not None:
            t = time.perf_counter()
            quality = jpeg_quality(rgb)
            clock.add("compression", time.perf_counter() - t)
        self.decide(res, faces[best].p_fake, faces[best].members_out, faces[best].members_far,
                    faces[best].members_beyond_range, faces[best].p_fake_in_domain, faces[best].fine_detail,
                    quality)
        return res

    def _candidates(self, rgb: np.ndarray, frame_index: int | None = None, faces=None,
                    main_only: bool = False) -> list[_Candidate]:
        """Faces of one image with their crops for every face-stage setting of the members."""
        if faces is None:
            faces = self.face_detector.detect(rgb)
        if not faces:
            return []
        main = choose_main_face(faces, rgb.shape)
        if main_only:
            faces = [main]
        if main not in faces[:MAX_FACES_PER_IMAGE]:
            faces = [main] + [f for f in faces if f is not main]
        faces = faces[:MAX_FACES_PER_IMAGE]
        prealigned = _is_prealigned(main, rgb.shape)
        out = []
        for face in faces:
            crops = {}
            for key in self._stage_keys:
                mode, margin, size = key
                if mode == "whole" and prealigned:
                    if face is not main:
                        continue  # a pre-aligned crop holds one face: the whole image
                    crops[key] = centre_square(rgb, size)
                else:
                    try:
                        crops[key], _ = align_face(rgb, face.landmarks, size, margin)
                    except BadInputError:
                        crops = {}
                        break
            if len(crops) == len(self._stage_keys):
                out.append(_Candidate(face, crops, frame_index))
        return out

    def _predict_members(self, candidates: list[_Candidate], clock: _Clock) -> tuple[np.ndarray, dict, dict]:
        """Raw member probabilities ``(n, n_members)``, the model inputs per member and the
        features per member ``(n, d)``."""
        n = len(candidates)
        P = np.zeros((n, len(self.members)), dtype=np.float64)
        inputs, features = {}, {}
        for j, m in enumerate(self.members):
            x = np.stack([_resize(c.crops[m.stage_key], m.input_size) for c in candidates]).astype(np.float32)
            inputs[m.name] = x
            preds, feats = [], []
            for s in range(0, n, PREDICT_CHUNK):
                p, f = m.predict_with_features(x[s : s + PREDICT_CHUNK])
                preds.append(p)
                feats.append(f)
                clock.check()
            P[:, j] = np.concatenate(preds)
            features[m.name] = np.concatenate(feats)
        if not np.all(np.isfinite(P)):
            raise DfdError("a model returned NaN/inf scores for this file")
        return np.clip(P, 0.0, 1.0), inputs, features

    def _score(self, candidates: list[_Candidate], explain: bool, clock: _Clock) -> list[FaceResult]:
        t = time.perf_counter()
        P, inputs, features = self._predict_members(candidates, clock)
        p_ens, ood = self.bundle.score_faces(P, features)
        p_ens = np.asarray(p_ens, dtype=np.float64).reshape(-1)
        p_in = self.bundle.in_domain_scores(P, ood)
        detail = (self.bundle.fine_detail(np.stack([c.crops[self._detail_key] for c in candidates]))
                  if self.bundle.sharpness is not None else None)
        per_member = self.bundle.member_probabilities(P)
        clock.add("models", time.perf_counter() - t)
        clock.report(0.8 if explain else 0.95)
        clock.check()
        heatmaps: dict[str, np.ndarray] = {}
        if explain:
            from dfd.inference.explain import gradcam

            t = time.perf_counter()
            primary = self._stage_keys[0][2]
            for m in self.members:
                maps = gradcam(m.model, inputs[m.name])
                if maps.shape[1:] != (primary, primary):
                    maps = np.stack([cv2.resize(h, (primary, primary), interpolation=cv2.INTER_LINEAR)
                                     for h in maps]).astype(np.float32)
                heatmaps[m.name] = np.clip(maps, 0.0, 1.0)
                clock.check()
            clock.add("explain", time.perf_counter() - t)
        out = []
        for i, c in enumerate(candidates):
            out.append(FaceResult(
                box=tuple(float(v) for v in c.face.box),
                score=float(c.face.score),
                p_fake=float(p_ens[i]),
                member_scores={name: float(v[i]) for name, v in per_member.items()},
                crop=c.crops[self._stage_keys[0]],
                heatmaps={name: h[i] for name, h in heatmaps.items()},
                frame_index=c.frame_index,
                track_id=c.track_id,
                ood={name: {"distance": float(o["distance"][i]), "threshold": float(o["threshold"]),
                            "out": bool(o["out"][i]), "far": bool(o["far"][i]),
                            "beyond_range": bool(o["beyond_range"][i])} for name, o in ood.items()},
                implausible=implausible_because(c.face),
                p_fake_in_domain=float(p_in[i]) if np.isfinite(p_in[i]) else None,
                fine_detail=None if detail is None else float(detail[i]),
            ))
        return out


def bundle_summary(bundle: EnsembleBundle) -> dict:
    """The bundle's fields as JSON-able data, each list of fit row ids (``fitted_indices``)
    replaced by its length (``n_fitted``): what ``dfd info`` and :attr:`Detector.info` show."""
    return _summarise_indices(bundle.to_dict())


def _summarise_indices(node):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "fitted_indices":
                out["n_fitted"] = None if v is None else len(v)
            else:
                out[k] = _summarise_indices(v)
        return out
    if isinstance(node, list):
        return [_summarise_indices(v) for v in node]
    return node


__all__ = [
    "AnalysisResult",
    "Detector",
    "FaceResult",
    "FrameScore",
    "Limits",
    "TrackResult",
    "bundle_summary",
    "default_models_dir",
    "display_path",
    "file_kind",
    "iter_media",
    "sniff_kind",
]
