"""Phone photos and other containers: HEIC / HEIF and AVIF decode upright, MPEG-TS and the other
containers FFmpeg reads are recognised by content and analysed, and a folder scan names every
file it leaves out (generated files only)."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from dfd.errors import BadInputError
from dfd.inference import Detector, SkippedFile, scan_paths
from dfd.io.images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, load_image
from dfd.io.media import file_kind, is_video_file, iter_media, sniff_kind
from dfd.io.video import probe, sample_video
from dfd.io.video_write import _ffmpeg
from tests.corpus import _face, make_tiny_bundle
from tests.media_corpus import ANALYSED, SKIPPED, make_phone_folder, save_heic

GOOD = ("real", "fake", "uncertain")


@pytest.fixture(scope="module")
def phone(tmp_path_factory, feat_data):
    folder = tmp_path_factory.mktemp("phone") / "DCIM"
    make_phone_folder(folder, feat_data / "single_face.jpg", feat_data / "single_face.mp4")
    return folder


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return Detector.from_dir(make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle")))


def _sideways_with_exif(face: Image.Image) -> tuple[Image.Image, bytes]:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return face.transpose(Image.Transpose.ROTATE_90), exif.tobytes()


def test_heic_and_avif_decode_like_the_jpeg(phone, feat_data):
    upright = np.asarray(_face(feat_data / "single_face.jpg", 480), dtype=np.float64)
    for name in ("IMG_0001.heic", "IMG_0002.avif"):
        rgb = load_image(phone / name)
        assert rgb.dtype == np.uint8 and rgb.shape == upright.shape, name
        assert np.abs(rgb - upright).mean() < 8, name  # lossy, but the same picture


def test_heic_exif_orientation_is_honoured(tmp_path, feat_data):
    face = _face(feat_data / "single_face.jpg", 320)
    sideways, exif = _sideways_with_exif(face)
    save_heic(sideways, tmp_path / "rotated.heic", exif=exif)
    sideways.save(tmp_path / "rotated.avif", "AVIF", quality=80, exif=exif)
    upright = np.asarray(face, dtype=np.float64)
    for name in ("rotated.heic", "rotated.avif"):
        rgb = load_image(tmp_path / name)
        assert rgb.shape == upright.shape, name  # turned upright once, not twice or never
        assert np.abs(rgb - upright).mean() < 8, name


def test_heic_size_limits_are_checked_before_decoding(monkeypatch, phone):
    import pillow_heif.as_plugin
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("pixels decoded before the size checks")

    monkeypatch.setattr(pillow_heif.as_plugin._LibHeifImageFile, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for name in ("IMG_0001.heic", "IMG_0002.avif"):
        with pytest.raises(BadInputError, match="megapixel limit"):
            load_image(phone / name, max_pixels=10_000)
        with pytest.raises(BadInputError, match="too small"):
            load_image(phone / name, min_side=10_000)


def test_heic_is_an_image_and_mp4_a_video_by_content(phone, feat_data, tmp_path):
    mp4 = feat_data / "single_face.mp4"
    assert sniff_kind(phone / "IMG_0001.heic") == "image" and sniff_kind(phone / "IMG_0002.avif") == "image"
    assert sniff_kind(mp4) == "video" and sniff_kind(phone / "clip.ts") == "video"
    shutil.copyfile(phone / "IMG_0001.heic", tmp_path / "photo.mp4")  # content wins over the extension
    shutil.copyfile(mp4, tmp_path / "clip.heic")
    assert file_kind(tmp_path / "photo.mp4") == "image" and file_kind(tmp_path / "clip.heic") == "video"
    assert load_image(tmp_path / "photo.mp4").shape == load_image(phone / "IMG_0001.heic").shape


# the containers FFmpeg writes here, with the muxer options that make each one what its name says
CONTAINERS = {
    "clip.ts": ["-c:v", "libx264"],
    "clip.mts": ["-c:v", "libx264"],
    "clip.m2ts": ["-c:v", "libx264", "-mpegts_m2ts_mode", "1"],  # Blu-ray / AVCHD: 192-byte packets
    "clip.3gp": ["-c:v", "libx264"],
    "clip.flv": ["-c:v", "libx264"],
    "clip.ogv": ["-c:v", "libtheora"],
    "clip.vob": ["-c:v", "mpeg2video", "-f", "vob"],
    "clip.mxf": ["-c:v", "mpeg2video"],
    "clip.asf": ["-c:v", "wmv2"],
}


def test_other_ffmpeg_containers_are_recognised_and_read(detector, feat_data, tmp_path):
    for name, args in CONTAINERS.items():
        out = tmp_path / name
        proc = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i",
                               str(feat_data / "single_face.mp4"), "-frames:v", "12", "-an", *args, str(out)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-300:]}"
        assert out.suffix in VIDEO_EXTENSIONS, name
        assert sniff_kind(out) == "video" and is_video_file(out), name
        info = probe(out, count=True)
        assert info.frame_count == 12 and (info.width, info.height) == (640, 360), name
        assert len(sample_video(out, n=4, info=info).frames) == 4, name
        res = detector.analyze(out, frames=2)  # the engine's own container check lets it through
        assert res.kind == "video" and res.verdict in GOOD and len(res.frames) == 2, f"{name}: {res.error}"
    assert iter_media([tmp_path]) == sorted(tmp_path / n for n in CONTAINERS)


def test_image_extensions_include_phone_formats():
    assert {".heic", ".heif", ".avif"} <= IMAGE_EXTENSIONS
    assert {".ts", ".mts", ".m2ts", ".3gp", ".flv", ".ogv", ".vob"} <= VIDEO_EXTENSIONS


def test_scan_paths_accounts_for_every_file(phone):
    found = scan_paths([phone])
    assert [p.name for p in found.files] == sorted(ANALYSED)
    assert {s.path.name: s.reason for s in found.skipped} == SKIPPED
    assert all(isinstance(s, SkippedFile) for s in found.skipped)
    assert found.skipped[0].to_dict() == {"path": str(phone / ".hidden.jpg"), "reason": "hidden file"}
    assert iter_media([phone]) == found.files
    # named explicitly, a hidden or unsupported file is kept: it gets its own result or error
    explicit = scan_paths([phone / ".hidden.jpg", phone / "notes.txt"])
    assert explicit.files == [phone / ".hidden.jpg", phone / "notes.txt"] and explicit.skipped == []


def test_scan_paths_reasons_for_folders_links_and_limits(tmp_path):
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 5000)
    (tmp_path / "small.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.symlink("real", tmp_path / "link")
    os.symlink("nowhere.jpg", tmp_path / "dangling.jpg")
    os.mkfifo(tmp_path / "pipe.mp4")
    found = scan_paths(tmp_path, max_bytes=1000)
    assert [p.relative_to(tmp_path).as_posix() for p in found.files] == ["real/y.png", "small.jpg"]
    assert {s.path.name: s.reason for s in found.skipped} == {
        ".cache": "hidden folder", "big.jpg": "too large", "dangling.jpg": "unreadable",
        "link": "linked folder, not followed", "pipe.mp4": "not a regular file"}
    assert [p.name for p in scan_paths(tmp_path).files] == ["big.jpg", "y.png", "small.jpg"]  # no size limit


def test_detector_analyses_heic_avif_and_ts(detector, phone):
    results = {p.name: detector.analyze(p, frames=4) for p in scan_paths([phone]).files}
    assert set(results) == set(ANALYSED)
    for name, res in results.items():
        assert res.verdict in GOOD, f"{name}: {res.verdict} ({res.error})"
        assert res.faces and 0.0 <= res.p_fake <= 1.0, name
    assert results["IMG_0001.heic"].kind == "image" and results["IMG_0002.avif"].kind == "image"
    assert results["clip.ts"].kind == "video" and len(results["clip.ts"].frames) == 4


def test_short_files_are_not_taken_for_m2ts(tmp_path):
    (tmp_path / "note.txt").write_bytes(b"abcdG and a few words")  # a sync byte where M2TS has one
    assert sniff_kind(tmp_path / "note.txt") is None
    assert not is_video_file(tmp_path / "note.txt") and not is_video_file(tmp_path / "missing.ts")
