"""The video dataset's sources, read once and cached by file hash: the main face of each
still photo, the per-frame main-track faces of each source video (short detector misses
interpolated), the windows of frames that all show the face, and a window's frames."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from dfd.io.hashing import sha256_file
from dfd.io.images import load_image

MAX_FILL = 3  # source-video frames without a detection that may be interpolated inside a clip


def _photo_face(path: Path, detector, cache: Path):
    """Main face of a photo (cached by file hash): Face or None."""
    from dfd.faces import Face, choose_main_face

    sha = sha256_file(path)
    entry = cache / f"{sha[:32]}_{detector.cache_tag}.json"  # detections depend on the detector
    if entry.exists():
        d = json.loads(entry.read_text())
        return Face.from_dict(d) if d else None
    rgb = load_image(path)
    main = choose_main_face(detector.detect(rgb), rgb.shape)
    cache.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps(main.to_dict() if main else None))
    return main


def _video_faces(path: Path, detector, cache: Path, max_frames: int | None, build_version: int) -> dict:
    """Per-frame main-track faces of a source video: {"n": frames read, "fps": .., "faces":
    [Face dict or None per frame]}; cached by file hash, frame cap and ``build_version``."""
    from dfd.faces import Face
    from dfd.faces.tracking import track_faces
    from dfd.io.video import DEFAULT_LIMITS, Frame, _Reader, probe

    sha = sha256_file(path)
    tag = hashlib.sha1(json.dumps([build_version, max_frames, detector.max_side, detector.min_face_size,
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
                faces += detector.detect_batch(chunk)
                chunk = []
        faces += detector.detect_batch(chunk)
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
