"""Writing video: H.264 through the ffmpeg binary of imageio-ffmpeg (OpenCV's pip build cannot
encode H.264), and joining clips."""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np



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
