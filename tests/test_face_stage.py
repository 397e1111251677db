"""The face stage on real photos and on every awkward input of the data-layer issue."""

import numpy as np
import pytest

from dfd.data.prepare import prepare_dataset
from dfd.faces import (
    FaceCropper,
    FaceDetector,
    align_face,
    template_points,
    transform_points,
)
from dfd.io.images import load_image
from tests.corpus import make_image_corpus


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def test_a_small_face_is_aligned_from_part_of_the_frame_bit_for_bit():
    """align_face shrinks only the top-left part of a large frame the crop reads (a small face
    in a video frame); the crop and matrix are those of shrinking the whole frame, bit for
    bit, wherever the face is: inside, at the edges, partly outside (mirrored pixels)."""
    import cv2

    from dfd.faces.alignment import align_face, alignment_matrix, template_points

    def whole_frame(rgb, lm, size=128, margin=0.3):
        scale = float(np.sqrt(abs(np.linalg.det(alignment_matrix(lm, size, margin)[:, :2]))))
        assert scale < 0.5
        pre, (h, w) = scale * 1.5, rgb.shape[:2]
        src = cv2.resize(rgb, (max(1, round(w * pre)), max(1, round(h * pre))), interpolation=cv2.INTER_AREA)
        matrix = alignment_matrix(lm * pre, size, margin)
        crop = cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        return crop, matrix @ np.array([[pre, 0, 0], [0, pre, 0], [0, 0, 1]])

    rng = np.random.default_rng(3)
    template = template_points(128, 0.3)
    for t in range(120):
        h, w = [(720, 1280), (1080, 1920), (360, 640)][t % 3] if t % 2 else tuple(rng.integers(60, 1400, 2))
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        angle, size = rng.uniform(-0.5, 0.5), rng.uniform(2.1, 6.0)  # crop scale < 0.5: the shrink path
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = np.array([rng.uniform(-60, w + 60), rng.uniform(-60, h + 60)])
        lm = (template - 64) @ rot.T * size + centre + rng.normal(0, 1, (5, 2))
        crop, matrix = align_face(rgb, lm, 128, 0.3)
        ref_crop, ref_matrix = whole_frame(rgb, lm)
        assert np.array_equal(crop, ref_crop), (t, h, w, centre)
        np.testing.assert_array_equal(matrix, ref_matrix)


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


def _same_faces(a, b) -> bool:
    return len(a) == len(b) and all(
        f.box == g.box and f.score == g.score and np.array_equal(f.landmarks, g.landmarks) for f, g in zip(a, b))


def test_batched_and_single_calls_give_identical_faces(feat_data):
    from dfd.faces import INFERENCE, VIDEO

    rgb = load_image(feat_data / "single_face.jpg")
    group = load_image(feat_data / "multi_face.jpg")
    images = [rgb, rgb[:, ::-1].copy(), np.zeros_like(rgb), group, rgb, (rgb * 0.8).astype(np.uint8)]
    for preset in (INFERENCE, VIDEO):
        det = FaceDetector(preset)
        single = [det.detect(im) for im in images]
        assert [len(f) > 0 for f in single] == [True, True, False, True, True, True]
        for batch_size in (32, 2):  # one MTCNN call per shape, and chunks of two frames
            batched = det.detect_batch(images, batch_size=batch_size)
            assert all(_same_faces(a, b) for a, b in zip(batched, single)), (preset, batch_size)


def test_the_compiled_mtcnn_answers_exactly_as_mtcnn_does(feat_data):
    """dfd's MTCNN normalises a batch once as float32 (no float64 copies); its answers are
    MTCNN 1.0's own, to the last bit, for one image and for a batch of same-sized ones."""
    import cv2
    from mtcnn import MTCNN

    from dfd.faces.mtcnn_networks import compiled_mtcnn

    mtcnn = compiled_mtcnn()
    rgb = load_image(feat_data / "single_face.jpg")
    group = load_image(feat_data / "multi_face.jpg")
    frames = [cv2.resize(im, (384, 216), interpolation=cv2.INTER_AREA) for im in (rgb, group, np.zeros_like(rgb))]
    for image in (rgb, group, np.zeros_like(rgb), frames, frames[:1]):
        ours = mtcnn.detect_faces(image, min_face_size=12)
        assert ours == MTCNN.detect_faces(mtcnn, image, min_face_size=12)
    assert len(mtcnn.detect_faces(group, min_face_size=12)) >= 4
    assert [len(f) for f in mtcnn.detect_faces(frames, min_face_size=12)][::2] == [1, 0]


def test_mtcnn_run_by_tensorflow_lite_finds_what_its_keras_networks_find(feat_data):
    """The shared MTCNN's networks run by TensorFlow Lite (dfd.lite); a plain mtcnn MTCNN
    (its Keras networks, eager) finds the same faces on photos and a 720p-like frame:
    boxes and landmarks within a hundredth of a pixel, confidences within 1e-5."""
    import cv2
    from mtcnn import MTCNN

    from dfd.faces.mtcnn_networks import compiled_mtcnn, runtime

    ours = compiled_mtcnn()
    assert runtime() == "TensorFlow Lite"
    plain = MTCNN(device="CPU:0")
    rgb = load_image(feat_data / "single_face.jpg")
    group = load_image(feat_data / "multi_face.jpg")
    frame = cv2.resize(group, (384, 216), interpolation=cv2.INTER_AREA)
    for image in (rgb, group, frame):
        a = ours.detect_faces(image, min_face_size=12)
        b = plain.detect_faces(image, min_face_size=12)
        assert len(a) == len(b) and len(a) >= 1
        for fa, fb in zip(sorted(a, key=lambda f: f["box"]), sorted(b, key=lambda f: f["box"])):
            np.testing.assert_allclose(fa["box"], fb["box"], atol=0.01)
            assert abs(fa["confidence"] - fb["confidence"]) <= 1e-5
            for name, point in fa["keypoints"].items():
                np.testing.assert_allclose(point, fb["keypoints"][name], atol=0.01)


class _RecordingMTCNN:
    """Stands in for the compiled MTCNN: records what it is asked, finds one face per image
    (box (10, 20, 30, 40) in the searched copy's pixels)."""

    def __init__(self):
        self.calls = []

    def detect_faces(self, image, **kwargs):
        images = image if isinstance(image, list) else [image]
        self.calls.append(([im.shape for im in images], kwargs))
        kp = {"left_eye": (15, 30), "right_eye": (25, 30), "nose": (20, 35), "mouth_left": (16, 40),
              "mouth_right": (24, 40)}
        found = [[{"box": [10, 20, 30, 40], "confidence": 0.99, "keypoints": kp}] for _ in images]
        return found if isinstance(image, list) else found[0]


def test_rule_pins_mtcnn_window_and_scale_follows_formula(monkeypatch):
    from dfd.faces import (
        DATA_PREP,
        DEFAULT_DATASET,
        INFERENCE,
        VIDEO,
        VIDEO_SOURCES,
    )

    fake = _RecordingMTCNN()
    monkeypatch.setattr("dfd.faces.mtcnn_networks._SHARED_MTCNN", fake)
    for preset in (INFERENCE, DATA_PREP, DEFAULT_DATASET, VIDEO, VIDEO_SOURCES):
        det = FaceDetector(preset)
        for h, w in ((100, 75), (190, 260), (480, 640), (562, 572), (720, 1280), (1080, 1920), (3322, 3322)):
            scale = min(1.0, preset.max_side / max(h, w), 12 / preset.min_face_size)
            assert det.scale(h, w) == scale <= 1.0  # never enlarged
            fake.calls.clear()
            faces = det.detect_batch([np.zeros((h, w, 3), np.uint8)] * 3)
            (shapes, kwargs), = fake.calls  # one MTCNN call for three same-sized images
            assert kwargs["min_face_size"] == 12
            sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
            assert shapes == [(sh, sw, 3)] * 3
            # boxes and landmarks come back in the original image's pixels
            assert faces[0][0].box == pytest.approx((10 * w / sw, 20 * h / sh, 30 * w / sw, 40 * h / sh))
            assert faces[0][0].landmarks[0] == pytest.approx((15 * w / sw, 30 * h / sh))
    # the smallest face looked for is min_face_size px of the original image (when max_side allows)
    assert 12 / FaceDetector(DATA_PREP).scale(480, 640) == pytest.approx(20)
    # too small for one 12 px window: no MTCNN call at all
    fake.calls.clear()
    assert FaceDetector(VIDEO).detect(np.zeros((11, 400, 3), np.uint8)) == []
    assert FaceDetector(VIDEO).detect(np.zeros((30, 4000, 3), np.uint8)) == []  # 30 * 192/4000 < 12
    assert fake.calls == []
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        FaceDetector(VIDEO).detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="max_side"):
        FaceDetector(VIDEO, max_side=8)


def test_finer_copy_shares_networks_and_changes_only_settings():
    from dfd.faces import VIDEO

    det = FaceDetector(VIDEO)
    finer = det.with_settings(max_side=2 * det.max_side)
    assert finer.networks is det.networks  # one compiled MTCNN per process
    assert all(getattr(stage._model, "_dfd_compiled", False) for stage in det.networks.stages)
    assert finer.settings == {**det.settings, "max_side": 2 * VIDEO.max_side}
    assert det.settings == VIDEO.to_dict() and det.config is VIDEO  # the original is untouched
    assert finer.scale(720, 1280) == 2 * det.scale(720, 1280)
    with pytest.raises(TypeError):
        det.with_settings(min_face=10)  # not a setting


def test_one_parser_handles_mirrored_landmark_order():
    from dfd.faces import LANDMARK_NAMES, faces_from_mtcnn

    kp = {"left_eye": (30, 10), "right_eye": (10, 10), "nose": (20, 15),  # eyes named from the other side
          "mouth_left": (28, 20), "mouth_right": (12, 20)}
    raw = [
        {"box": [0, 0, 40, 30], "confidence": 0.95, "keypoints": kp},
        {"box": [50, 0, 80, 60], "confidence": 0.99, "keypoints": {n: (60, 5) for n in LANDMARK_NAMES}},
        {"box": [0, 0, 400, 400], "confidence": 0.5, "keypoints": kp},  # not confident enough
        [],  # what mtcnn gives for an image without faces inside a batch
    ]
    faces = faces_from_mtcnn(raw, 0.5, 0.25, min_confidence=0.9)
    assert [f.score for f in faces] == pytest.approx([0.99, 0.95])  # largest first
    small = faces[1]
    assert small.box == pytest.approx((0, 0, 80, 120))  # back in the original image: x / 0.5, y / 0.25
    assert small.landmarks.tolist() == [[20, 40], [60, 40], [40, 60], [24, 80], [56, 80]]  # image-left first
    assert faces_from_mtcnn(None, 1.0, 1.0, 0.9) == [] and faces_from_mtcnn([], 1.0, 1.0, 0.9) == []


def test_tight_face_crops_are_found_by_the_padded_retry(feat_data):
    """A crop that is all face (no margin: UTKFace-like) escapes MTCNN searched for faces from
    40 px (a 0.3 search: its pyramid starts below the face); padded with grey and searched
    again, the face comes back, in the crop's own pixels."""
    from dfd.faces import INFERENCE

    rgb = load_image(feat_data / "single_face.jpg")
    x, y, w, h = (int(v) for v in FaceDetector(INFERENCE).detect(rgb)[0].box)
    coarse = FaceDetector(INFERENCE, min_face_size=40)
    for k in (0.0, 0.05):
        dx, dy = int(k * w), int(k * h)
        crop = rgb[y - dy : y + h + dy, x - dx : x + w + dx].copy()
        assert coarse.with_settings(retry=False).detect(crop) == []
        faces = coarse.detect(crop)
        assert len(faces) == 1 and faces[0].score >= INFERENCE.min_confidence
        fx, fy, fw, fh = faces[0].box
        ch, cw = crop.shape[:2]
        assert 0 <= fx + fw / 2 <= cw and 0 <= fy + fh / 2 <= ch
        assert fw > 0.8 * cw  # the face fills the crop
        eyes = faces[0].landmarks[:2]
        assert np.all((eyes >= 0) & (eyes < [cw, ch]))  # landmarks in the crop's pixels
        assert eyes[0, 0] < eyes[1, 0]


def test_small_faces_in_large_images_are_found_by_the_finer_retry(feat_data):
    """A 4000 px photo is searched at 384 px: a ~50 px face becomes ~5 px, under MTCNN's 12 px
    window; with none found, the search at twice the scale finds it."""
    import cv2

    from dfd.faces import INFERENCE

    rgb = load_image(feat_data / "single_face.jpg")
    face = cv2.resize(rgb, (150, 150), interpolation=cv2.INTER_AREA)  # the face is ~50 px wide now
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    canvas[1400:1550, 2100:2250] = face
    assert FaceDetector(INFERENCE, retry=False).detect(canvas) == []
    faces = FaceDetector(INFERENCE).detect(canvas)
    assert len(faces) == 1
    fx, fy, fw, fh = faces[0].box
    assert 2100 <= fx + fw / 2 <= 2250 and 1400 <= fy + fh / 2 <= 1550 and fw < 80
    assert INFERENCE.finer_scale(3000, 4000) == 2 * INFERENCE.scale(3000, 4000)
    assert INFERENCE.finer_scale(480, 640) is None  # searched at the min-face scale already


@pytest.mark.parametrize("k", [1, 3])
def test_photos_turned_a_quarter_are_found_by_the_rotated_retry_and_crop_upright(feat_data, k):
    """A portrait whose orientation was lost (turned 90 degrees either way) escapes MTCNN; turned
    back and searched, the face returns in the turned photo's pixels with the upright face's
    landmark order, so its aligned crop is the upright photo's crop."""
    from dfd.faces import INFERENCE

    rgb = load_image(feat_data / "single_face.jpg")
    upright = FaceDetector(INFERENCE).detect(rgb)[0]
    turned = np.ascontiguousarray(np.rot90(rgb, k))
    assert FaceDetector(INFERENCE, retry_rotated=False).detect(turned) == []
    faces = FaceDetector(INFERENCE).detect(turned)
    assert len(faces) == 1
    h, w = rgb.shape[:2]
    # where the upright landmarks lie in the turned photo (np.rot90 counter-clockwise k times)
    x, y = upright.landmarks[:, 0], upright.landmarks[:, 1]
    expected = np.stack([y, w - x], 1) if k == 1 else np.stack([h - y, x], 1)
    assert np.abs(faces[0].landmarks - expected).max() < 4.0
    bx, by, bw, bh = faces[0].box
    assert 0 <= bx and bx + bw <= turned.shape[1] + 1 and 0 <= by and by + bh <= turned.shape[0] + 1
    crop_turned, _ = align_face(turned, faces[0].landmarks, size=96)
    crop_upright, _ = align_face(rgb, upright.landmarks, size=96)
    assert np.abs(crop_turned.astype(int) - crop_upright).mean() < 12  # same face, upright


def test_video_frames_are_not_searched_turned(feat_data):
    """Frames are decoded upright: detect_frames (every video path) never searches them turned,
    even with the engine's photo detector, which does find the same image as a photo."""
    from dfd.faces import INFERENCE, VIDEO, detect_frames

    assert INFERENCE.retry_rotated and not VIDEO.retry_rotated
    turned = np.ascontiguousarray(np.rot90(load_image(feat_data / "single_face.jpg"), 1))
    photo_detector = FaceDetector(INFERENCE)
    assert len(photo_detector.detect(turned)) == 1
    assert detect_frames(photo_detector, [turned, turned]) == [[], []]


def test_a_turned_search_keeps_only_confident_face_shaped_finds(feat_data, monkeypatch):
    """Three more searches of a photo with no upright face also find patterns (a dress print at
    0.95 in an SDFD portrait): a face found turned must score >= 0.99 and have a face's landmarks."""
    from dfd.faces import INFERENCE
    from dfd.faces.types import LANDMARK_NAMES

    rgb = load_image(feat_data / "single_face.jpg")
    real = FaceDetector(INFERENCE).detect(rgb)[0]
    blank = np.full((300, 400, 3), 100, np.uint8)
    s = INFERENCE.scale(400, 300)
    turned_copy = (round(400 * s), round(300 * s))  # a quarter turn of 300 x 400, searched at INFERENCE's scale
    fit = 80 / max(rgb.shape[:2])  # the real face's geometry, shrunk into that copy

    class Stub:
        def __init__(self, confidence, landmarks):
            self.confidence, self.landmarks = confidence, landmarks

        def detect_faces(self, image, **kwargs):
            images = image if isinstance(image, list) else [image]
            out = []
            for im in images:
                if im.shape[:2] != turned_copy:
                    out.append([])
                    continue
                x, y, w, h = (v * fit for v in real.box)
                out.append([{"box": [x, y, w, h], "confidence": self.confidence,
                             "keypoints": {n: tuple(p * fit) for n, p in zip(LANDMARK_NAMES, self.landmarks)}}])
            return out if isinstance(image, list) else out[0]

    squeezed = real.landmarks.copy()  # the eyes 3 px apart in a face-sized box: no face
    squeezed[1] = squeezed[0] + [3.0 / fit, 0.0]
    for confidence, landmarks, found in [(0.95, real.landmarks, 0), (0.999, real.landmarks, 1),
                                         (0.999, squeezed, 0)]:
        monkeypatch.setattr("dfd.faces.mtcnn_networks._SHARED_MTCNN", Stub(confidence, landmarks))
        assert len(FaceDetector(INFERENCE).detect(blank)) == found, (confidence, found)
