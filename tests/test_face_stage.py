"""The face stage on real photos and on every awkward input of the data-layer issue."""

import numpy as np
import pytest

from dfd.faces.stage import FaceCropper, FaceDetector, align_face, template_points, transform_points
from dfd.data.prepare import prepare_dataset
from dfd.io.images import load_image
from tests.corpus import make_image_corpus


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def test_alignment_puts_landmarks_on_template(feat_data, detector):
    rgb = load_image(feat_data / "single_face.jpg")
    faces = detector.detect(rgb)
    assert len(faces) == 1
    crop, matrix = align_face(rgb, faces[0].landmarks, size=128, margin=0.3)
    assert crop.shape == (128, 128, 3)
    moved = transform_points(faces[0].landmarks, matrix)
    # a similarity transform cannot fit 5 points exactly; a few pixels is a good alignment
    assert np.abs(moved - template_points(128, 0.3)).max() < 8
    again = detector.detect(crop)
    assert len(again) == 1 and again[0].score > 0.95  # the crop still is a face


def test_several_faces_main_face_is_largest_central(feat_data, detector):
    rgb = load_image(feat_data / "multi_face.jpg")
    faces = detector.detect(rgb)
    assert len(faces) >= 4


def test_bad_inputs_get_reasons_and_build_goes_on(feat_data, tmp_path):
    corpus = make_image_corpus(
        tmp_path / "ds" / "real", feat_data / "single_face.jpg", feat_data / "multi_face.jpg",
        feat_data / "free-mountain-vector-01.jpg",
    )
    prepared = prepare_dataset("folder", tmp_path / "ds", image_size=96, out_dir=tmp_path / "out", progress=False)
    report = prepared.report.set_index(prepared.report.source_path.map(lambda p: p.split("/")[-1]))
    assert set(report.index) == set(corpus)
    for name, (_path, expected) in corpus.items():
        row = report.loc[name]
        assert row.status == expected, f"{name}: {row.status} ({row.reason})"
        if expected != "ok":
            assert len(row.reason) > 5, f"{name} has no readable reason"
    assert "truncated" in report.loc["truncated.jpg"].reason
    assert "empty" in report.loc["empty.jpg"].reason
    assert "not an image" in report.loc["text_named.jpg"].reason
    assert "too small" in report.loc["one_pixel.png"].reason
    assert report.loc["no_face.jpg"].reason == "no face found"
    assert report.loc["several_faces.jpg"].n_faces >= 4
    ok = [n for n, (_, s) in corpus.items() if s == "ok"]
    assert len(prepared.manifest) == len(ok)
    crops = {p.split("/")[-1]: load_image(c)
             for p, c in zip(prepared.manifest.source_path, prepared.manifest.path)}
    assert all(c.shape == (96, 96, 3) for c in crops.values())
    # the EXIF-rotated photo was turned upright before cropping: same face, same crop (JPEG noise aside)
    diff = np.abs(crops["exif_rotated.jpg"].astype(int) - crops["visage_été_顔.jpg"].astype(int)).mean()
    assert diff < 12


class _MustNotRun(FaceDetector):  # same settings as the default detector, so the same cache key
    def detect(self, rgb):
        raise AssertionError("the cache should have answered without running detection")


def test_cache_answers_rerun_without_detection(feat_data, tmp_path):
    first = FaceCropper(tmp_path / "cache", size=64).process(feat_data / "single_face.jpg")
    second = FaceCropper(tmp_path / "cache", size=64, detector=_MustNotRun()).process(feat_data / "single_face.jpg")
    assert first.status == second.status == "ok" and first.crop_path == second.crop_path
    other = FaceCropper(tmp_path / "cache", size=80).process(feat_data / "single_face.jpg")
    assert other.crop_path != first.crop_path  # parameters are part of the key


def test_whole_mode_keeps_prealigned_pixels(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "a.png")
    rec = FaceCropper(tmp_path / "c", size=64, mode="whole").process(tmp_path / "a.png")
    assert rec.status == "ok"
    np.testing.assert_array_equal(load_image(rec.crop_path), rgb)


def test_cache_key_changes_with_every_crop_setting(tmp_path):
    """A crop made with other settings (detector included) is never served from the cache."""
    sha = "ab" * 32
    base = FaceCropper(tmp_path, detector=FaceDetector())._key(sha)
    variants = [
        FaceCropper(tmp_path, size=96, detector=FaceDetector()),
        FaceCropper(tmp_path, margin=0.2, detector=FaceDetector()),
        FaceCropper(tmp_path, detector=FaceDetector(min_face_size=40)),
        FaceCropper(tmp_path, detector=FaceDetector(min_confidence=0.8)),
        FaceCropper(tmp_path, detector=FaceDetector(max_side=320)),
        FaceCropper(tmp_path, mode="whole"),
    ]
    keys = [c._key(sha) for c in variants]
    assert base not in keys and len(set(keys)) == len(keys)
    assert FaceCropper(tmp_path, detector=FaceDetector())._key(sha) == base  # stable
