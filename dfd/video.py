"""Video input: probe, sample frames, follow faces, aggregate per-frame scores, write clips.

Reading uses OpenCV's FFmpeg backend (mp4/H.264, avi, mov/HEVC, mkv, webm/VP8/VP9, ...);
writing H.264 uses the ffmpeg binary of imageio-ffmpeg (OpenCV's pip build cannot encode
H.264). Everything here is model-free; scoring lives in :mod:`dfd.video_train`.

* :func:`probe` → :class:`VideoInfo` (frames, fps, duration, size) from the container
  header plus one decoded frame; a container that reports no frame count is counted by
  grabbing (bounded by :class:`VideoLimits`).
* :func:`read_frames` / :func:`sample_video` decode ``n`` evenly spaced frames (by index) or
  one frame every ``every_s`` seconds (by timestamp, so variable-frame-rate files are
  sampled in real time) as :class:`Frame` ``(index, time_s, rgb)``. Frames are skipped with
  ``grab()`` (no colour conversion) and far jumps use a seek when that is measured to be
  cheaper. A container whose frame count is wrong (too high: truncated or damaged file; too
  low) is detected while reading and sampled again over the frames that really exist.
* :func:`track_faces` detects faces on the sampled frames (one batched MTCNN call for a
  :class:`~dfd.data.faces.FaceDetector`) and links them by IoU into :class:`Track` s, one per
  person. The result also counts frames without a face; no face at all gives an empty list
  (``.no_face`` is True), never a guess.
* :func:`aggregate` turns per-frame P(fake) into one clip score (mean, median, top-k mean,
  confident frames).

Every bad input — missing, empty, not a video, zero frames, a frame size, duration or frame
count over the limits — raises :class:`~dfd.errors.BadInputError` with a readable reason;
decoding is bounded, so nothing hangs.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .errors import BadInputError
from .imaging import check_regular_file

__all__ = [
    "AGGREGATIONS",
    "Detection",
    "Frame",
    "Track",
    "Tracks",
    "VideoInfo",
    "VideoLimits",
    "VideoSample",
    "aggregate",
    "box_iou",
    "concat_videos",
    "detect_faces_batch",
    "probe",
    "read_frames",
    "sample_frames",
    "sample_indices",
    "sample_video",
    "track_faces",
    "video_detector",
    "write_video",
]


# ----------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class VideoLimits:
    """Bounds on the work one video may cause. Exceeding one raises BadInputError."""

    max_frames: int = 20_000  # frames decoded (grabbed) by one call
    max_duration_s: float = 3600.0  # one hour
    max_pixels: int = 3840 * 2160  # per frame (4K UHD)
    max_bytes: int = 4 * 1024**3  # file size
    timeout_ms: int = 20_000  # FFmpeg open / read timeout (a stuck demuxer is interrupted)


DEFAULT_LIMITS = VideoLimits()
DEFAULT_N = 16  # frames sampled when neither n nor every_s is given
SEEK_GAP = 250  # a gap this long (x264's default key-frame interval) is first tried with a seek


# ------------------------------------------------------------------------------- types


class Frame(NamedTuple):
    """One decoded frame: its 0-based index in the stream, its timestamp and RGB pixels."""

    index: int
    time_s: float
    rgb: np.ndarray


@dataclass
class VideoInfo:
    path: str
    frame_count: int  # best knowledge: the container's count, or counted / corrected while reading
    fps: float  # the container's average rate (0 if unknown)
    duration_s: float
    width: int
    height: int
    codec: str = ""
    reported_frames: int = 0  # what the container claimed (0 = nothing)
    counted: bool = False  # frame_count was established by decoding every frame

    @property
    def pixels(self) -> int:
        return int(self.width) * int(self.height)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VideoSample:
    """What :func:`sample_video` decoded: the frames, the (possibly corrected) info and
    notes on anything unusual (wrong frame count, clip shorter than asked, ...)."""

    info: VideoInfo
    frames: list[Frame]
    notes: list[str] = field(default_factory=list)
    decoded: int = 0  # frames grabbed (decoded) to get them
    seconds: float = 0.0

    @property
    def indices(self) -> list[int]:
        return [f.index for f in self.frames]

    @property
    def times(self) -> list[float]:
        return [f.time_s for f in self.frames]


# ----------------------------------------------------------------------------- reading


def _open(path, limits: VideoLimits) -> cv2.VideoCapture:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(limits.timeout_ms), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(limits.timeout_ms)]
    name = os.path.abspath(path)  # FFmpeg must never read a "proto:..." file name as a URL
    try:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG, params)
    except cv2.error:  # very old builds without the params overload
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise BadInputError(
            "not a readable video: unknown container or codec, or a damaged / truncated file", str(path)
        )
    return cap


def _fourcc(cap) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else ""


class _Reader:
    """Sequential reader over one open capture that knows its position and counts work."""

    def __init__(self, path, limits: VideoLimits, fps: float):
        self.path = str(path)
        self.limits = limits
        self.fps = fps
        self.cap = _open(path, limits)
        self.pos = 0  # index of the next frame grab() returns
        self.decoded = 0
        self.grab_s = 0.0  # running mean seconds per grab
        self.seek_s: float | None = None  # running mean seconds per seek (None = never tried)

    def close(self) -> None:
        self.cap.release()

    def _count(self) -> None:
        self.decoded += 1
        if self.decoded > self.limits.max_frames:
            raise BadInputError(
                f"stopped after decoding {self.limits.max_frames} frames (limit); the video is too long "
                "for this analysis — sample fewer frames or cut it", self.path)

    def grab(self) -> bool:
        t0 = time.perf_counter()
        ok = self.cap.grab()
        if ok:
            self.pos += 1
            self._count()
            dt = time.perf_counter() - t0
            self.grab_s = dt if self.decoded == 1 else 0.9 * self.grab_s + 0.1 * dt
        return ok

    def time_s(self, index: int) -> float:
        """Timestamp of the frame just grabbed (its presentation time)."""
        ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        if ms is not None and math.isfinite(ms) and (ms > 0 or index == 0):
            return float(ms) / 1000.0
        return index / self.fps if self.fps > 0 else 0.0

    def retrieve(self) -> np.ndarray | None:
        ok, bgr = self.cap.retrieve()
        if not ok or bgr is None or bgr.size == 0:
            return None
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _worth_seeking(self, gap: int) -> bool:
        if gap < 8:
            return False
        if self.seek_s is None:
            return gap >= SEEK_GAP
        return self.seek_s < gap * max(self.grab_s, 1e-5)

    def goto(self, target: int) -> bool:
        """Position so that the next grab() returns frame ``target``. False = end of stream."""
        gap = target - self.pos
        if gap < 0:  # backwards: reopen (rare: only the second pass of a corrected count)
            self.cap.release()
            self.cap = _open(self.path, self.limits)
            self.pos, gap = 0, target
        if self._worth_seeking(gap):
            t0 = time.perf_counter()
            ok = bool(self.cap.set(cv2.CAP_PROP_POS_FRAMES, float(target)))
            where = int(round(self.cap.get(cv2.CAP_PROP_POS_FRAMES) or -1))
            dt = time.perf_counter() - t0
            self.seek_s = dt if self.seek_s is None else 0.7 * self.seek_s + 0.3 * dt
            if ok and where == target:
                self.pos = target
                return True
            # the demuxer could not seek there: start over and grab
            self.cap.release()
            self.cap = _open(self.path, self.limits)
            self.pos = 0
            self.seek_s = float("inf")
        while self.pos < target:
            if not self.grab():
                return False
        return True


def probe(path: str | os.PathLike, limits: VideoLimits | None = None, count: bool = False) -> VideoInfo:
    """Read a video's header and its first frame; ``count=True`` (or a container that does
    not report its length) counts frames by grabbing, up to ``limits.max_frames``."""
    limits = limits or DEFAULT_LIMITS
    check_regular_file(path, max_bytes=limits.max_bytes)
    cap = _open(path, limits)
    try:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 0.0
        reported = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        reported = int(reported) if reported is not None and math.isfinite(reported) and reported > 0 else 0
        codec = _fourcc(cap)
        if width * height > limits.max_pixels:
            raise BadInputError(
                f"frames are {width}x{height} ({width * height / 1e6:.1f} MP), over the "
                f"{limits.max_pixels / 1e6:.1f} MP per-frame limit", str(path))
        if not cap.grab():
            raise BadInputError("the video has no decodable frame (zero frames, or a damaged / truncated file)", str(path))
        ok, bgr = cap.retrieve()
        if not ok or bgr is None or bgr.size == 0:
            raise BadInputError("the first frame cannot be decoded (unsupported codec or damaged file)", str(path))
        if width <= 0 or height <= 0:
            height, width = bgr.shape[:2]
        if width * height > limits.max_pixels:
            raise BadInputError(
                f"frames are {width}x{height} ({width * height / 1e6:.1f} MP), over the "
                f"{limits.max_pixels / 1e6:.1f} MP per-frame limit", str(path))
        if min(width, height) < 16:
            raise BadInputError(f"frames are only {width}x{height} px; too small to analyse", str(path))
        counted = False
        total = reported
        if fps > 0 and reported and reported / fps > limits.max_duration_s:
            raise BadInputError(_too_long(reported / fps, limits), str(path))
        if count or reported <= 0:
            n = 1
            while cap.grab():
                n += 1
                if n > limits.max_frames:
                    raise BadInputError(
                        f"the container does not report its length and it has more than {limits.max_frames} "
                        "frames (limit)", str(path))
            total, counted = n, True
        duration = total / fps if fps > 0 else 0.0
        if duration > limits.max_duration_s:
            raise BadInputError(_too_long(duration, limits), str(path))
        return VideoInfo(str(path), int(total), fps, float(duration), int(width), int(height), codec, reported, counted)
    finally:
        cap.release()


def _too_long(seconds: float, limits: VideoLimits) -> str:
    return (f"the video is {seconds / 60:.1f} min long, over the {limits.max_duration_s / 60:.0f} min limit; "
            "cut it into shorter parts")


def sample_indices(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``n_total`` frames (all of them if fewer)."""
    if n_total <= 0 or n <= 0:
        return []
    if n >= n_total:
        return list(range(n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def _read_indices(reader: _Reader, wanted: Sequence[int], limits: VideoLimits) -> tuple[dict[int, Frame], bool]:
    """Decode the (sorted) ``wanted`` frames; returns (frames by index, reached_end)."""
    got: dict[int, Frame] = {}
    for target in wanted:
        if not reader.goto(target):
            return got, True
        if not reader.grab():
            return got, True
        t = reader.time_s(target)
        if t > limits.max_duration_s:
            raise BadInputError(_too_long(t, limits), reader.path)
        rgb = reader.retrieve()
        if rgb is not None:
            got[target] = Frame(target, t, rgb)
    return got, False


def _count_rest(reader: _Reader) -> int:
    """Grab to the end; the number of frames in the stream."""
    while reader.grab():
        pass
    return reader.pos


def sample_video(
    path: str | os.PathLike,
    n: int | None = None,
    every_s: float | None = None,
    limits: VideoLimits | None = None,
    info: VideoInfo | None = None,
) -> VideoSample:
    """Decode ``n`` evenly spaced frames (by index), or — with ``every_s`` — the first frame
    at or after every multiple of ``every_s`` seconds (by timestamp; ``n`` then caps how many).
    ``n`` defaults to 16 frames without ``every_s`` and to no cap with it.

    A clip shorter than ``n`` frames gives all its frames (a note says so). The returned
    info has the true frame count when the container's was found wrong while reading."""
    limits = limits or DEFAULT_LIMITS
    t0 = time.perf_counter()
    if every_s is None and n is None:
        n = DEFAULT_N
    if n is not None and int(n) <= 0:
        raise ValueError(f"n must be a positive number of frames, got {n!r}")
    if every_s is not None and not (math.isfinite(every_s) and every_s > 0):
        raise ValueError(f"every_s must be a positive number of seconds, got {every_s!r}")
    info = info or probe(path, limits)
    notes: list[str] = []
    reader = _Reader(path, limits, info.fps)
    try:
        if every_s is not None:
            frames = _read_every(reader, float(every_s), n, limits)
            if reader.pos != info.frame_count and not info.counted and reader.pos > 0 and (n is None or len(frames) < n):
                notes.append(f"the container reported {info.frame_count} frames; {reader.pos} were decoded")
                info.frame_count, info.counted = reader.pos, True
                if info.fps > 0:
                    info.duration_s = reader.pos / info.fps
        else:
            n = int(n)
            wanted = sample_indices(info.frame_count, n)
            got, ended = _read_indices(reader, wanted, limits)
            true_total = None
            if ended:  # the container promised more frames than there are
                true_total = reader.pos
            elif wanted and wanted[-1] == info.frame_count - 1 and not info.counted:
                if reader.grab():  # ... or fewer: count the rest (bounded) and sample again
                    true_total = _count_rest(reader)
            if true_total is not None and true_total != info.frame_count:
                if true_total == 0:
                    raise BadInputError("no frame could be decoded (damaged or truncated video)", str(path))
                notes.append(f"the container reported {info.frame_count} frames but {true_total} could be "
                             f"decoded{' (truncated or damaged file?)' if true_total < info.frame_count else ''}")
                info.frame_count, info.counted = true_total, True
                if info.fps > 0:
                    info.duration_s = true_total / info.fps
                wanted = sample_indices(true_total, n)
                missing = [i for i in wanted if i not in got]
                if missing:
                    more, _ = _read_indices(reader, missing, limits)
                    got.update(more)
            frames = [got[i] for i in wanted if i in got]
            lost = len(wanted) - len(frames)
            if lost:
                notes.append(f"{lost} sampled frame(s) could not be decoded")
            if info.frame_count < n:
                notes.append(f"the video has only {info.frame_count} frame(s); all of them are used instead of {n}")
    finally:
        reader.close()
    if not frames:
        raise BadInputError("no frame could be decoded (zero-frame, damaged or truncated video)", str(path))
    return VideoSample(info, frames, notes, reader.decoded, time.perf_counter() - t0)


def _read_every(reader: _Reader, every_s: float, n: int | None, limits: VideoLimits) -> list[Frame]:
    frames: list[Frame] = []
    next_t = 0.0
    eps = 1e-3
    index = 0
    while n is None or len(frames) < int(n):
        if not reader.grab():
            break
        t = reader.time_s(index)
        if t > limits.max_duration_s:
            raise BadInputError(_too_long(t, limits), reader.path)
        if t + eps >= next_t:
            rgb = reader.retrieve()
            if rgb is not None:
                frames.append(Frame(index, t, rgb))
            next_t = (math.floor((t + eps) / every_s) + 1) * every_s
        index += 1
    return frames


def read_frames(
    path: str | os.PathLike,
    n: int | None = None,
    every_s: float | None = None,
    limits: VideoLimits | None = None,
) -> list[Frame]:
    """:func:`sample_video`'s frames only: ``[Frame(index, time_s, rgb), ...]``."""
    return sample_video(path, n=n, every_s=every_s, limits=limits).frames


def sample_frames(path: str | os.PathLike, n: int) -> list[tuple[int, np.ndarray]]:
    """``n`` evenly spaced frames as ``[(index, rgb), ...]`` (the data-preparation API)."""
    return [(f.index, f.rgb) for f in read_frames(path, n=n)]


# ------------------------------------------------------------------------------ faces


def video_detector(max_side: int = 320, min_face_size: int = 20, min_confidence: float = 0.9):
    """A :class:`VideoFaceDetector`: detection on a copy at most ``max_side`` px (faces in
    video usually fill a good part of the frame; boxes and landmarks are scaled back), where
    ``min_face_size`` counts pixels of that copy, so the MTCNN pyramid never up-samples."""
    return _video_detector_class()(min_confidence=min_confidence, max_side=max_side, min_face_size=min_face_size)


_VIDEO_DETECTOR_CLASS = None


def _video_detector_class():
    global _VIDEO_DETECTOR_CLASS
    if _VIDEO_DETECTOR_CLASS is None:
        from .data.faces import FaceDetector

        class VideoFaceDetector(FaceDetector):
            """FaceDetector whose ``min_face_size`` is measured on the downscaled detection
            image (at most ``max_side`` px), for speed on video frames."""

            def detect(self, rgb: np.ndarray) -> list:
                return detect_faces_batch([rgb], self)[0]

        _VIDEO_DETECTOR_CLASS = VideoFaceDetector
    return _VIDEO_DETECTOR_CLASS


def _mtcnn_min_face(detector, scale: float) -> int:
    # mtcnn 1.0 finds nothing at all once min_face_size reaches 24: stay below it
    if _VIDEO_DETECTOR_CLASS is not None and isinstance(detector, _VIDEO_DETECTOR_CLASS):
        return int(min(22, max(8, detector.min_face_size)))
    return int(min(22, max(8, round(detector.min_face_size * scale))))


def detect_faces_batch(images: Sequence[np.ndarray], detector, batch_size: int = 32) -> list[list]:
    """Faces in each image. A :class:`~dfd.data.faces.FaceDetector` on same-sized frames runs
    MTCNN once per batch (several times faster than one call per frame on CPU, with the
    detector's own size cap, confidence threshold and landmark order); any other object
    with ``detect(rgb) -> list[Face]`` is called per image."""
    from .data.faces import FaceDetector, faces_from_mtcnn

    images = list(images)
    if not images:
        return []
    same = len({im.shape for im in images}) == 1
    if not (isinstance(detector, FaceDetector) and same and hasattr(detector, "_model")):
        return [list(detector.detect(im)) for im in images]
    h, w = images[0].shape[:2]
    if min(h, w) < 12:
        return [[] for _ in images]
    scale = min(1.0, detector.max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out: list[list] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        small = [np.ascontiguousarray(cv2.resize(im, size, interpolation=cv2.INTER_AREA) if scale < 1 else im)
                 for im in chunk]
        with detector._lock:
            raw = detector._model().detect_faces(small, min_face_size=_mtcnn_min_face(detector, scale))
        if len(chunk) == 1 and raw and isinstance(raw[0], dict):  # mtcnn unwraps 1-image results sometimes
            raw = [raw]
        if len(raw) != len(chunk):
            raw = list(raw) + [[] for _ in range(len(chunk) - len(raw))]
        out.extend(faces_from_mtcnn(r, scale, detector.min_confidence) for r in raw)
    return out


def box_iou(a, b) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Detection:
    position: int  # position in the sampled frame list
    index: int  # frame index in the video
    time_s: float
    face: object  # dfd.data.faces.Face


@dataclass
class Track:
    """One person followed over the sampled frames."""

    track_id: int
    detections: list[Detection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.detections)

    @property
    def positions(self) -> list[int]:
        return [d.position for d in self.detections]

    @property
    def indices(self) -> list[int]:
        return [d.index for d in self.detections]

    @property
    def mean_score(self) -> float:
        return float(np.mean([d.face.score for d in self.detections])) if self.detections else 0.0

    @property
    def mean_area(self) -> float:
        return float(np.mean([d.face.area for d in self.detections])) if self.detections else 0.0

    def at(self, position: int) -> Detection | None:
        for d in self.detections:
            if d.position == position:
                return d
        return None

    def predicted_box(self, position: int) -> tuple:
        """The box expected at ``position``: the last one moved on at the recent velocity."""
        last = self.detections[-1]
        box = np.asarray(last.face.box, dtype=float)
        if len(self.detections) >= 2:
            prev = self.detections[-2]
            step = last.position - prev.position
            if step > 0:
                vel = (box - np.asarray(prev.face.box, dtype=float)) / step
                box = box + vel * (position - last.position)
        return tuple(box)

    def landmarks_at(self, position: int) -> np.ndarray:
        """Landmarks at ``position``: detected, else interpolated between the neighbouring
        detections, else those of the nearest one (before the first / after the last)."""
        pos = np.array(self.positions)
        pts = np.stack([np.asarray(d.face.landmarks, float) for d in self.detections])
        if position <= pos[0]:
            return pts[0].copy()
        if position >= pos[-1]:
            return pts[-1].copy()
        j = int(np.searchsorted(pos, position))
        if pos[j] == position:
            return pts[j].copy()
        w = (position - pos[j - 1]) / (pos[j] - pos[j - 1])
        return (1 - w) * pts[j - 1] + w * pts[j]

    def to_dict(self) -> dict:
        return {"track_id": self.track_id, "length": len(self), "indices": self.indices,
                "mean_score": round(self.mean_score, 4), "mean_area": round(self.mean_area, 1)}


class Tracks(list):
    """``list[Track]`` (longest, most prominent first) plus the frame counts of the run."""

    def __init__(self, tracks: Iterable[Track] = (), n_frames: int = 0, frames_without_face: int = 0,
                 frame_shape: tuple = ()):
        super().__init__(tracks)
        self.n_frames = int(n_frames)
        self.frames_without_face = int(frames_without_face)
        self.frame_shape = tuple(frame_shape)

    @property
    def frames_with_face(self) -> int:
        return self.n_frames - self.frames_without_face

    @property
    def no_face(self) -> bool:
        """True when no sampled frame had a face: say "no face found", never real/fake."""
        return len(self) == 0

    def main(self) -> Track | None:
        """The track a person would call "the" face: seen often, large, confident, central."""
        if not self:
            return None
        h, w = self.frame_shape[:2] if self.frame_shape else (1, 1)
        diag = float(np.hypot(w, h)) or 1.0

        def weight(track: Track) -> float:
            total = 0.0
            for d in track.detections:
                x, y, bw, bh = d.face.box
                off = np.hypot(x + bw / 2 - w / 2, y + bh / 2 - h / 2) / diag if self.frame_shape else 0.0
                total += d.face.area * d.face.score * (1.0 - 0.5 * off)
            return total

        return max(self, key=weight)

    def summary(self) -> dict:
        return {"frames": self.n_frames, "frames_with_face": self.frames_with_face,
                "frames_without_face": self.frames_without_face, "tracks": len(self),
                "no_face": self.no_face}


def _as_frames(frames) -> list[Frame]:
    out = []
    for pos, fr in enumerate(frames):
        if isinstance(fr, Frame):
            out.append(fr)
        elif isinstance(fr, np.ndarray):
            out.append(Frame(pos, float(pos), fr))
        elif len(fr) == 3:
            out.append(Frame(int(fr[0]), float(fr[1]), fr[2]))
        elif len(fr) == 2:
            out.append(Frame(int(fr[0]), float(fr[0]), fr[1]))
        else:
            raise TypeError("frames must be Frame, (index, time_s, rgb), (index, rgb) or RGB arrays")
    return out


def track_faces(frames, detector, iou_threshold: float = 0.3, max_gap: int | None = None,
                faces: list[list] | None = None) -> Tracks:
    """Detect faces on the sampled ``frames`` and link them into one :class:`Track` per person.

    Each frame's faces are matched to the open tracks by IoU with the box each track is
    expected at (its last box moved on at its recent velocity — or the last box itself,
    whichever overlaps more) with an optimal one-to-one assignment; a pair needs IoU >=
    ``iou_threshold``; an unmatched face starts a new track. A track not seen for more than
    ``max_gap`` sampled frames (default: never closed) is closed. Frames without a face are
    skipped and counted. ``faces`` (one list per frame) skips detection, e.g. when cached."""
    from scipy.optimize import linear_sum_assignment

    frames = _as_frames(frames)
    if faces is None:
        faces = detect_faces_batch([f.rgb for f in frames], detector)
    if len(faces) != len(frames):
        raise ValueError(f"got {len(faces)} face lists for {len(frames)} frames")
    tracks: list[Track] = []
    without = 0
    for pos, (frame, found) in enumerate(zip(frames, faces)):
        if not found:
            without += 1
            continue
        open_tracks = [t for t in tracks if max_gap is None or pos - t.detections[-1].position <= max_gap + 1]
        matched: set[int] = set()
        if open_tracks:
            iou = np.zeros((len(open_tracks), len(found)))
            for i, t in enumerate(open_tracks):
                last, pred = t.detections[-1].face.box, t.predicted_box(pos)
                for j, face in enumerate(found):
                    iou[i, j] = max(box_iou(last, face.box), box_iou(pred, face.box))
            rows, cols = linear_sum_assignment(-iou)
            for i, j in zip(rows, cols):
                if iou[i, j] >= iou_threshold:
                    open_tracks[i].detections.append(Detection(pos, frame.index, frame.time_s, found[j]))
                    matched.add(j)
        for j, face in enumerate(found):
            if j not in matched:
                tracks.append(Track(len(tracks), [Detection(pos, frame.index, frame.time_s, face)]))
    shape = frames[0].rgb.shape if frames else ()
    result = Tracks(tracks, len(frames), without, shape)
    main = result.main()
    result.sort(key=lambda t: (t is not main, -len(t), -t.mean_area))
    return result


# -------------------------------------------------------------------------- aggregation

AGGREGATIONS = ("mean", "median", "topk", "confident")
_ALIASES = {"top-k": "topk", "top_k": "topk", "topk_mean": "topk", "confident_frames": "confident", "conf": "confident"}


def aggregate(scores, method: str = "mean", k: int | float = 0.25, margin: float = 0.3) -> float:
    """One clip score from per-frame P(fake).

    * ``mean``, ``median``;
    * ``topk``: mean of the ``k`` highest scores (``k`` < 1 is a fraction of the frames,
      rounded up; a few manipulated frames are enough to call a clip fake);
    * ``confident``: mean of the frames the model is sure about, ``|p - 0.5| > margin``,
      falling back to the mean when there is none.

    Empty scores raise ValueError: with no face there is no score to give."""
    p = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("no frame scores to aggregate (no face found?)")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("frame scores must be probabilities in [0, 1]")
    method = _ALIASES.get(method, method)
    if method == "mean":
        return float(p.mean())
    if method == "median":
        return float(np.median(p))
    if method == "topk":
        kk = int(math.ceil(k * p.size)) if 0 < k < 1 else int(k)
        if kk < 1:
            raise ValueError(f"k must be >= 1 frame or a fraction in (0, 1), got {k!r}")
        return float(np.sort(p)[::-1][: min(kk, p.size)].mean())
    if method == "confident":
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
        sure = p[np.abs(p - 0.5) > margin]
        return float(sure.mean() if sure.size else p.mean())
    raise ValueError(f"unknown aggregation {method!r}; choose from {', '.join(AGGREGATIONS)}")


# ------------------------------------------------------------------------------ writing


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    crf: int = 20,
    preset: str = "veryfast",
    codec: str | None = None,
    faststart: bool = True,
    gop: int | None = None,
) -> Path:
    """Encode RGB ``uint8`` frames (all the same size) to ``path`` with the ffmpeg of
    imageio-ffmpeg: H.264 (yuv420p, ``crf``) by default, VP9 for ``.webm``. Odd sizes are
    padded by one edge pixel (4:2:0 needs even ones). ``gop`` sets the key-frame interval.
    Returns the path; raises ValueError for no frames or mixed sizes."""
    import imageio_ffmpeg

    path = Path(path)
    it = iter(frames)
    try:
        first = np.asarray(next(it))
    except StopIteration:
        raise ValueError("write_video needs at least one frame") from None
    if first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"frames must be HxWx3 RGB, got shape {first.shape}")
    h, w = first.shape[:2]
    H, W = h + h % 2, w + w % 2
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be positive, got {fps!r}")
    if codec is None:
        codec = "libvpx-vp9" if path.suffix.lower() == ".webm" else "libx264"
    out_params = ["-crf", str(int(crf))]
    if codec.startswith("libx26"):
        out_params += ["-preset", preset]
    if codec == "libvpx-vp9":
        out_params += ["-b:v", "0", "-deadline", "realtime", "-cpu-used", "8"]
    if gop:
        out_params += ["-g", str(int(gop))]
    if path.suffix.lower() in (".mp4", ".mov", ".m4v"):
        # one time scale for every file, so parts of different rates concatenate cleanly
        out_params += ["-video_track_timescale", "90000"]
        if faststart:
            out_params += ["-movflags", "+faststart"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (W, H), fps=float(fps), codec=codec, quality=None, pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
        macro_block_size=1, ffmpeg_log_level="error", output_params=out_params,
    )
    writer.send(None)
    try:
        writer.send(_even(first, H, W))
        for frame in it:
            frame = np.asarray(frame)
            if frame.shape[:2] != (h, w) or frame.ndim != 3:
                raise ValueError(f"all frames must be {w}x{h} RGB; got shape {frame.shape}")
            writer.send(_even(frame, H, W))
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 — already failing; keep the first error
            pass
        tmp.unlink(missing_ok=True)
        raise
    return path


def _even(frame: np.ndarray, H: int, W: int) -> np.ndarray:
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.shape[:2] != (H, W):
        frame = cv2.copyMakeBorder(frame, 0, H - frame.shape[0], 0, W - frame.shape[1], cv2.BORDER_REPLICATE)
    return frame


def concat_videos(paths: Sequence[str | os.PathLike], out: str | os.PathLike, timeout_s: float = 60.0) -> Path:
    """Join videos of the same codec and size without re-encoding (ffmpeg concat demuxer).
    Parts with different frame rates give a variable-frame-rate file."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "parts.txt"
        listing.write_text("".join(f"file '{Path(p).resolve().as_posix()}'\n" for p in paths))
        cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
               "-i", str(listing), "-c", "copy", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"ffmpeg concat failed: {proc.stderr.strip()[-500:]}")
    return out
