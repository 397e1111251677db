"""Video input: probe and sample frames.

Reading uses OpenCV's FFmpeg backend (mp4/H.264, avi, mov/HEVC, mkv, webm/VP8/VP9, ...);
writing is :mod:`dfd.io.video_write`, following faces :mod:`dfd.faces.tracking`, clip scores
:mod:`dfd.evaluation.aggregation`. Everything here is model-free.

* :func:`probe` → :class:`VideoInfo` (frames, fps, duration, size) from the container
  header plus one decoded frame; a container that reports no frame count is counted by
  grabbing (bounded by :class:`VideoLimits`).
* :func:`read_frames` / :func:`sample_video` decode ``n`` evenly spaced frames (by index) or
  one frame every ``every_s`` seconds (by timestamp, so variable-frame-rate files are
  sampled in real time) as :class:`Frame` ``(index, time_s, rgb)``. Frames are skipped with
  ``grab()`` (no colour conversion) and far jumps use a seek when that is measured to be
  cheaper. A container whose frame count is wrong (too high: truncated or damaged file; too
  low) is detected while reading and sampled again over the frames that really exist.

Every bad input — missing, empty, not a video, zero frames, a frame size, duration or frame
count over the limits — raises :class:`~dfd.errors.BadInputError` with a readable reason;
decoding is bounded, so nothing hangs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from dfd.errors import BadInputError
from dfd.io.images import check_regular_file

__all__ = [
    "Frame",
    "VideoInfo",
    "VideoLimits",
    "VideoSample",
    "probe",
    "read_frames",
    "sample_frames",
    "sample_indices",
    "sample_video",
]




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
        """Frame numbers (in the video) of the sampled frames, in order."""
        return [index for index, _, _ in self.frames]

    @property
    def times(self) -> list[float]:
        """Their timestamps in seconds."""
        return [time_s for _, time_s, _ in self.frames]




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


