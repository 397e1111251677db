"""The offline inference engine: files in, calibrated verdicts out.

    det = Detector.from_dir(default_models_dir())        # bundle.json + member .h5 files
    res = det.analyze("photo.jpg", explain=True)          # never raises for a bad file
    res.verdict, res.p_fake, res.faces[0].heatmaps

Pipeline per file: checks (regular file, size, kind by content and extension, pixel count
from the header) → decode → face detection (MTCNN on a down-scaled copy) → crops made
exactly as the members were trained (model card ``face_stage``) → one batched
``predict_on_batch`` per member → ensemble + calibration from the bundle → verdict.

Images: every face is scored and the most suspicious face decides. Videos: evenly sampled
frames; faces are followed over time (tracks) when :mod:`dfd.io.video` offers tracking, else
the main face of each frame forms one track; a track's score is the mean of its top-k frame
scores and the most suspicious track decides.

Hostile files: every failure becomes verdict ``"error"`` with a sentence for people; size
and pixel limits are checked before anything is decoded, a per-file time budget between
stages, video containers are recognised by their magic bytes before FFmpeg sees them, and
FFmpeg is restricted to the ``file`` protocol. Nothing here opens a network connection.
"""

from __future__ import annotations

import math
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
from dfd.evaluation.ensemble import EnsembleBundle  # noqa: E402
from dfd.faces.detection import CompiledFaceDetector  # noqa: E402
from dfd.faces.stage import Face, FaceDetector, align_face, choose_main_face  # noqa: E402
from dfd.inference.limits import Limits, _Abort, _Clock  # noqa: E402
from dfd.inference.members import (  # noqa: E402
    _Candidate,
    _centre_square,
    _face_stage,
    _is_prealigned,
    _Member,
    _resize,
)
from dfd.inference.results import AnalysisResult, FaceResult, FrameScore, display_path  # noqa: E402
from dfd.io.images import check_regular_file, load_image  # noqa: E402
from dfd.io.media import _is_video_header, file_kind, iter_media, sniff_kind  # noqa: E402

# Face detection (CompiledFaceDetector) runs on a copy shrunk so that a DETECT_MIN_FACE px
# face becomes MTCNN's 12 px window (and the longer side is at most DETECT_MAX_SIDE): a
# 1024 px photo is searched at 307 px, which keeps every face >= 40 px. On the 2-core dev
# CPU that takes ~60 ms (unloaded) for a 1024 px photo vs ~500 ms for plain MTCNN at full
# size (scripts/bench_inference.py); landmarks stay within ~5% of the inter-ocular
# distance of a full-resolution detection, ~1.5 px in a 128 px crop.
DETECT_MAX_SIDE = 384
DETECT_MIN_FACE = 40  # px in the analysed image
MAX_FACES_PER_IMAGE = 12
TOPK_FRACTION = 0.25  # video: a person's score is the mean of their top quarter of frame scores
PREDICT_CHUNK = 64


def default_models_dir(dataset: str = "dfd-default") -> Path:
    """``models/<dataset>`` under the project root (``DFD_HOME`` overrides the root)."""
    from dfd.paths import models_dir

    return models_dir(dataset)




# --------------------------------------------------------------------------- detector
class Detector:
    """Loads a verified model bundle once and analyses files with it (thread-safe: one
    analysis at a time per Detector)."""

    def __init__(self, bundle: EnsembleBundle, members: list[_Member], folder: Path | None = None,
                 limits: Limits | None = None, face_detector: FaceDetector | None = None):
        self.bundle = bundle
        self.members = members
        self.folder = Path(folder) if folder is not None else None
        self.limits = limits or Limits()
        self.face_detector = face_detector or CompiledFaceDetector(
            max_side=DETECT_MAX_SIDE, min_face_size=DETECT_MIN_FACE
        )
        self._lock = threading.RLock()
        keys = []
        for m in members:
            if m.stage_key not in keys:
                keys.append(m.stage_key)
        self._stage_keys = keys  # the first one is the "primary" crop shown to people
        self._warm = False

    # ---- construction
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

    # ---- facts
    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.members]

    @property
    def info(self) -> dict:
        """The bundle's fields (fit row ids summarised as counts) and every member's card."""
        d = _summarise_indices(self.bundle.to_dict())
        d["folder"] = str(self.folder) if self.folder else None
        d["models"] = self.model_ids
        d["cards"] = {m.name: m.card for m in self.members}
        d["limits"] = asdict(self.limits)
        return d

    def warmup(self) -> None:
        """Trace the detector and model graphs now (the first analysis is otherwise ~1-2 s slower)."""
        with self._lock:
            if self._warm:
                return
            rng = np.random.default_rng(0)
            self.face_detector.detect(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
            for m in self.members:
                for n in (1, 2):
                    m.model.predict_on_batch(np.zeros((n, *m.input_size, 3), np.float32))
            self._warm = True

    # ---- analysis
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
                    result = self._analyze_video(path_str, explain, max(1, int(frames)), clock)
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
            P, _ = self._predict_members(cands, _Clock(self.limits, None, None))
        return np.asarray(self.bundle.predict(P), dtype=np.float64).reshape(-1), self.bundle.member_probabilities(P)

    def analyze_many(self, paths, **kw) -> Iterator[AnalysisResult]:
        """Analyse files and folders (walked recursively, images and videos, sorted)."""
        for p in iter_media(paths):
            yield self.analyze(p, **kw)

    # ---- internals
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
        candidates = self._candidates(rgb)
        clock.add("faces", time.perf_counter() - t)
        clock.report(0.5)
        clock.check()
        if not candidates:
            res.verdict = "no_face"
            return res
        faces = self._score(candidates, explain, clock)
        best = max(faces, key=lambda f: f.p_fake)
        res.faces = faces
        res.p_fake = best.p_fake
        res.member_scores = dict(best.member_scores)
        res.verdict = self.bundle.verdict(best.p_fake)
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
                    crops[key] = _centre_square(rgb, size)
                else:
                    try:
                        crops[key], _ = align_face(rgb, face.landmarks, size, margin)
                    except BadInputError:
                        crops = {}
                        break
            if len(crops) == len(self._stage_keys):
                out.append(_Candidate(face, crops, frame_index))
        return out

    def _predict_members(self, candidates: list[_Candidate], clock: _Clock) -> tuple[np.ndarray, dict]:
        """Raw member probabilities ``(n, n_members)`` and the model inputs per member."""
        n = len(candidates)
        P = np.zeros((n, len(self.members)), dtype=np.float64)
        inputs = {}
        for j, m in enumerate(self.members):
            x = np.stack([_resize(c.crops[m.stage_key], m.input_size) for c in candidates]).astype(np.float32)
            inputs[m.name] = x
            preds = []
            for s in range(0, n, PREDICT_CHUNK):
                preds.append(np.asarray(m.model.predict_on_batch(x[s : s + PREDICT_CHUNK])).reshape(-1))
                clock.check()
            P[:, j] = np.concatenate(preds)
        if not np.all(np.isfinite(P)):
            raise DfdError("a model returned NaN/inf scores for this file")
        return np.clip(P, 0.0, 1.0), inputs

    def _score(self, candidates: list[_Candidate], explain: bool, clock: _Clock) -> list[FaceResult]:
        t = time.perf_counter()
        P, inputs = self._predict_members(candidates, clock)
        p_ens = np.asarray(self.bundle.predict(P), dtype=np.float64).reshape(-1)
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
            ))
        return out

    # ---- video
    def _video_limits(self):
        from dfd.io.video import VideoLimits

        lim = self.limits
        return VideoLimits(max_frames=int(lim.max_frames), max_duration_s=float(lim.max_duration_s),
                           max_pixels=int(lim.max_frame_pixels), max_bytes=int(lim.max_bytes))

    def _analyze_video(self, path: str, explain: bool, n_frames: int, clock: _Clock) -> AnalysisResult:
        from dfd.faces.tracking import track_faces
        from dfd.io import video as video_mod

        res = self._base(path, "video", clock)
        abspath = os.path.abspath(path)  # FFmpeg must never read a "proto:..." name as a URL
        with open(abspath, "rb") as fh:
            head = fh.read(64)
            fh.seek(188)
            ts_second = fh.read(1)
        if not _is_video_header(head, ts_second):
            raise BadInputError("not a video file (unrecognised or corrupt container)", path)

        t = time.perf_counter()
        limits = self._video_limits()
        info = video_mod.probe(abspath, limits)
        clock.check()
        sample = video_mod.sample_video(abspath, n=n_frames, limits=limits, info=info)
        frames = sample.frames  # [Frame(index, time_s, rgb)]
        clock.add("decode", time.perf_counter() - t)
        clock.report(0.25)
        clock.check()
        if not frames:
            raise BadInputError("video has no decodable frames", path)
        h0, w0 = frames[0].rgb.shape[:2]
        res.image_size = (int(w0), int(h0))

        t = time.perf_counter()
        if isinstance(self.face_detector, CompiledFaceDetector):
            found = self.face_detector.detect_batch([f.rgb for f in frames])
        else:
            found = [self.face_detector.detect(f.rgb) for f in frames]
        clock.check()
        tracks = track_faces(frames, self.face_detector, faces=found)
        candidates: list[_Candidate] = []
        n_faces = {f.index: 0 for f in frames}
        for track in tracks:
            for det in track.detections:
                frame = frames[det.position]
                for c in self._candidates(frame.rgb, frame.index, faces=[det.face]):
                    c.track_id = int(track.track_id)
                    candidates.append(c)
                    n_faces[frame.index] += 1
        clock.add("faces", time.perf_counter() - t)
        clock.report(0.6)
        clock.check()

        if not candidates:
            res.verdict = "no_face"
            res.frames = [FrameScore(f.index, float(f.time_s), None, 0) for f in frames]
            return res
        faces = self._score(candidates, explain, clock)
        res.faces = faces
        frame_p: dict[int, float] = {}
        for f in faces:
            frame_p[f.frame_index] = max(frame_p.get(f.frame_index, 0.0), f.p_fake)
        res.frames = [FrameScore(f.index, float(f.time_s), frame_p.get(f.index), n_faces[f.index]) for f in frames]

        # each person (track): mean of its top-k frame scores; the most suspicious one decides
        by_track: dict[int, list[FaceResult]] = {}
        for f in faces:
            by_track.setdefault(f.track_id, []).append(f)
        best_score, best_top = -1.0, []
        for faces_of_track in by_track.values():
            top = sorted(faces_of_track, key=lambda f: -f.p_fake)[: _top_k(len(faces_of_track))]
            score = float(np.mean([f.p_fake for f in top]))
            if score > best_score:
                best_score, best_top = score, top
        res.p_fake = best_score
        res.member_scores = {m.name: float(np.mean([f.member_scores[m.name] for f in best_top]))
                             for m in self.members}
        res.suspicious_frames = [f.frame_index for f in best_top]
        res.verdict = self.bundle.verdict(best_score)
        return res


def _top_k(n: int) -> int:
    """How many of a track's frames its score averages: the top quarter (rounded up, as
    :func:`dfd.evaluation.aggregation.aggregate` with ``"topk"``), at least 1."""
    return max(1, math.ceil(n * TOPK_FRACTION))


def _summarise_indices(node):
    """Copy of a bundle dict with ``fitted_indices`` lists replaced by their length."""
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
    "CompiledFaceDetector",
    "Detector",
    "FaceResult",
    "FrameScore",
    "Limits",
    "default_models_dir",
    "display_path",
    "file_kind",
    "iter_media",
    "sniff_kind",
]
