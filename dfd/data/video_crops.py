"""Face crops of clips: sample frames, follow the main face, align every sampled frame on it.

:func:`crop_clip` samples frames, follows the main face (:func:`dfd.faces.tracking.track_faces`),
aligns every sampled frame on it (:func:`dfd.faces.alignment.align_roi`; landmarks are
interpolated along the track for frames where the detector missed) and caches the crops
as ``.npy`` keyed by the file's hash and the parameters."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dfd.errors import BadInputError
from dfd.faces.alignment import align_roi
from dfd.faces.detection import VIDEO, FaceDetector
from dfd.faces.tracking import track_faces
from dfd.io.hashing import sha256_file
from dfd.io.video import VideoLimits, sample_video

CROP_VERSION = 3  # 3: the one graph-compiled detector (dfd.faces.detection), MTCNN pinned to 12 px
MARGIN = 0.3  # the face stage's margin (dfd.faces.crops.FaceCropper): crops match the image models'


@dataclass
class ClipCrops:
    """The face crops of one video's sampled frames."""

    path: str
    status: str  # "ok" | "no_face" | "error"
    reason: str = ""
    crops: np.ndarray | None = field(default=None, repr=False)  # (n, S, S, 3) uint8, one per sampled frame
    indices: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)  # the main face was detected (not interpolated)
    n_tracks: int = 0
    frames_without_face: int = 0
    video_frames: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def face_crops(self) -> np.ndarray:
        """Crops of the frames where the face was detected (what per-frame scoring uses)."""
        if self.crops is None:
            return np.zeros((0, 1, 1, 3), np.uint8)
        return self.crops[np.asarray(self.detected, bool)]

    def face_times(self) -> list[float]:
        return [t for t, d in zip(self.times, self.detected) if d]

    def meta(self) -> dict:
        d = asdict(self)
        d.pop("crops")
        return d


def _crop_key(sha: str, params: dict) -> str:
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return f"{sha[:32]}_{tag}"


def crop_clip(
    path: str | os.PathLike,
    n_frames: int,
    size: int,
    detector=None,
    cache_dir: str | os.PathLike | None = None,
    margin: float = MARGIN,
    limits: VideoLimits | None = None,
) -> ClipCrops:
    """Face crops of ``n_frames`` evenly sampled frames of a video (cached when ``cache_dir``
    is given). Never raises for a bad file: the reason is in the result."""
    t0 = time.perf_counter()
    path = str(path)
    detector = detector or FaceDetector(VIDEO)
    params = {"v": CROP_VERSION, "n": int(n_frames), "size": int(size), "margin": float(margin),
              "detector": getattr(detector, "cache_tag", None) or [
                  getattr(detector, "max_side", None), getattr(detector, "min_face_size", None),
                  getattr(detector, "min_confidence", None)], "iou": 0.3}
    key = meta_path = npy_path = None
    if cache_dir is not None:
        try:
            key = _crop_key(sha256_file(path), params)
        except OSError as exc:
            return ClipCrops(path, "error", f"cannot read file: {exc.strerror or exc}")
        cache_dir = Path(cache_dir)
        meta_path, npy_path = cache_dir / f"{key}.json", cache_dir / f"{key}.npy"
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                crops = np.load(npy_path) if meta["status"] == "ok" else None
                meta.update(path=path, crops=crops)
                return ClipCrops(**meta)
            except (OSError, ValueError, TypeError, KeyError):
                pass  # damaged cache entry: redo it
    try:
        sample = sample_video(path, n=n_frames, limits=limits)
    except BadInputError as exc:
        result = ClipCrops(path, "error", exc.reason)
    else:
        frames = sample.frames
        tracks = track_faces(frames, detector)  # frames without a face are searched again by the detector
        base = dict(indices=[f.index for f in frames], times=[round(f.time_s, 4) for f in frames],
                    n_tracks=len(tracks), frames_without_face=tracks.frames_without_face,
                    video_frames=sample.info.frame_count, notes=list(sample.notes))
        main = tracks.main()
        if main is None:
            result = ClipCrops(path, "no_face", "no face found", detected=[False] * len(frames), **base)
        else:
            crops = np.stack([align_roi(f.rgb, main.landmarks_at(pos), size, margin) for pos, f in enumerate(frames)])
            detected = [main.at(pos) is not None for pos in range(len(frames))]
            result = ClipCrops(path, "ok", "", crops, detected=detected, **base)
    result.seconds = round(time.perf_counter() - t0, 3)
    if meta_path is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if result.crops is not None:
            np.save(npy_path, result.crops)
        meta_path.write_text(json.dumps(result.meta()))
    return result


def crop_clips(items, n_frames: int, size: int, cache_dir=None, detector=None, progress: bool = True) -> list[ClipCrops]:
    """:func:`crop_clip` for every item (MediaItem or path)."""
    from tqdm.auto import tqdm

    detector = detector or FaceDetector(VIDEO)
    out = []
    for it in tqdm(list(items), desc=f"face crops ({n_frames} frames)", disable=not progress):
        out.append(crop_clip(getattr(it, "path", it), n_frames, size, detector, cache_dir))
    return out


def temporal_input(clip: ClipCrops, frames: int) -> np.ndarray:
    """``frames`` crops for the temporal model: evenly spaced over the frames where the face
    was detected (repeated when there are fewer; all crops when none is marked)."""
    crops = clip.crops
    det = np.flatnonzero(np.asarray(clip.detected, bool))
    pool = det if det.size else np.arange(len(crops))
    pick = pool[np.round(np.linspace(0, len(pool) - 1, frames)).astype(int)]
    return crops[pick]
