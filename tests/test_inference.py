"""The inference engine (dfd.inference.engine) and Grad-CAM (dfd.inference.explain) with tiny real models."""

from __future__ import annotations

import json
import math
import shutil
import threading

import numpy as np
import pytest

from dfd.errors import DfdError
from dfd.io.images import load_image
from dfd.faces.detection import INFERENCE, FaceDetector
from dfd.inference import (
    AnalysisResult,
    Detector,
    Limits,
    default_models_dir,
    iter_media,
)
from tests.corpus import make_tiny_bundle


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle"))


@pytest.fixture(scope="module")
def detector(bundle_dir):
    return Detector.from_dir(bundle_dir)


def _json_roundtrip(result: AnalysisResult) -> dict:
    text = json.dumps(result.to_dict(), allow_nan=False)  # no arrays, no NaN
    return json.loads(text)


def test_from_dir_and_info(detector, bundle_dir):
    assert [m.name for m in detector.members] == ["cnn", "cnn_lstm", "resnext"]
    info = detector.info
    assert info["dataset"] == "tiny-test"
    assert set(info["cards"]) == {"cnn", "cnn_lstm", "resnext"}
    assert info["cards"]["cnn"]["face_stage"]["mode"] == "detect"
    assert info["cards"]["resnext"]["architecture"] == "resnext"
    for model_id, entry in zip(info["models"], info["members"]):
        name, digest = model_id.split("@")
        assert name == entry["name"] and entry["sha256"].startswith(digest) and len(digest) == 12
    assert "fitted_indices" not in json.dumps(info)  # summarised as counts
    json.dumps(info)


def test_single_face_photo(detector, feat_data):
    res = detector.analyze(feat_data / "single_face.jpg")
    assert res.error is None and res.kind == "image"
    assert res.verdict in ("real", "fake", "uncertain")
    assert res.verdict == detector.bundle.verdict(res.p_fake)
    assert 0.0 <= res.p_fake <= 1.0
    assert len(res.faces) == 1
    face = res.faces[0]
    assert face.crop.shape == (128, 128, 3) and face.crop.dtype == np.uint8
    w, h = res.image_size
    assert (w, h) == (572, 562)
    x, y, bw, bh = face.box
    assert 0 <= x < w and 0 <= y < h and 100 < bw < w and face.score > 0.9
    assert set(res.member_scores) == {"cnn", "cnn_lstm", "resnext"}
    assert face.heatmaps == {}  # only with explain=True
    assert set(res.timings) >= {"decode", "faces", "models", "explain", "total"}
    assert res.timings["total"] >= res.timings["models"] > 0
    assert res.threshold == detector.bundle.threshold
    assert tuple(res.uncertain_band) == tuple(detector.bundle.uncertain_band)
    d = _json_roundtrip(res)
    assert d["verdict"] == res.verdict and d["faces"][0]["member_scores"].keys() == res.member_scores.keys()
    assert d["models"] == detector.model_ids


def test_most_suspicious_face_decides(detector, feat_data):
    res = detector.analyze(feat_data / "multi_face.jpg")
    assert len(res.faces) >= 4
    # faces of a group photo are of comparable size: every one may decide (issue 16)
    assert all(f.decides for f in res.faces)
    worst = max(res.faces, key=lambda f: f.p_fake)
    assert res.p_fake == worst.p_fake and res.faces[res.decided_by] is worst
    assert res.member_scores == worst.member_scores
    # the ensemble and member scores are what the bundle makes of the raw member outputs
    assert len({round(f.p_fake, 6) for f in res.faces}) > 1


def test_no_face_photo(detector, feat_data):
    res = detector.analyze(feat_data / "free-mountain-vector-01.jpg")
    assert res.verdict == "no_face" and res.p_fake is None and res.faces == [] and res.error is None
    assert res.no_face_reason == "no face found" and res.decided_by is None


def test_analyze_array_matches_file(detector, feat_data):
    rgb = load_image(feat_data / "single_face.jpg")
    a = detector.analyze_array(rgb)
    b = detector.analyze(feat_data / "single_face.jpg")
    assert a.path == "<array>" and a.kind == "image"
    assert a.p_fake == pytest.approx(b.p_fake, abs=1e-6)
    assert detector.analyze_array(rgb[..., 0]).verdict == b.verdict  # grey arrays are accepted
    bad = detector.analyze_array(np.zeros((4, 4, 7)))
    assert bad.verdict == "error" and "HxWx3" in bad.error


def test_explain_heatmaps(detector, feat_data):
    res = detector.analyze(feat_data / "single_face.jpg", explain=True)
    face = res.faces[0]
    assert set(face.heatmaps) == {"cnn", "cnn_lstm", "resnext"}
    for heat in face.heatmaps.values():
        assert heat.shape == face.crop.shape[:2] and heat.dtype == np.float32
        assert 0.0 <= heat.min() and heat.max() <= 1.0
    assert res.timings["explain"] > 0
    assert res.p_fake == pytest.approx(detector.analyze(feat_data / "single_face.jpg").p_fake)


def test_video_tracks_frames_and_suspicious_frames(detector, feat_data):
    res = detector.analyze(feat_data / "single_face.mp4", frames=8)
    assert res.kind == "video" and res.verdict in ("real", "fake", "uncertain"), res.error
    assert len(res.frames) == 8 and res.image_size == (640, 360)
    assert all(f.n_faces == 1 and f.p_fake is not None for f in res.frames)
    assert [f.time_s for f in res.frames] == sorted(f.time_s for f in res.frames)
    assert {f.track_id for f in res.faces} == {0}
    assert all(f.frame_index in {fr.index for fr in res.frames} for f in res.faces)
    # video score (deciding.VIDEO_RULE): the mean of the (only) person's frame scores; the
    # suspicious frames shown are the top quarter of them
    scores = sorted((f.p_fake for f in res.faces), reverse=True)
    k = math.ceil(len(scores) / 4)
    assert res.p_fake == pytest.approx(np.mean(scores))
    assert len(res.suspicious_frames) == k
    by_index = {f.index: f.p_fake for f in res.frames}
    susp = [by_index[i] for i in res.suspicious_frames]
    assert susp == sorted(susp, reverse=True) and susp[0] == max(by_index.values())
    assert res.verdict == detector.bundle.verdict(res.p_fake)
    d = _json_roundtrip(res)
    assert len(d["frames"]) == 8 and d["faces"][0]["frame_index"] is not None
    # the one person is listed as a track and decides (issue 16)
    (track,) = res.tracks
    assert track.frames_seen == 8 and track.share_of_frames == 1.0 and track.decides
    assert track.p_fake == res.p_fake and res.decided_by == track.track_id == 0
    assert track.face_px > 40 and track.face_share == pytest.approx(track.face_px / 360) and track.confidence > 0.9
    assert d["decided_by"] == 0 and d["tracks"][0]["frames_seen"] == 8 and d["no_face_reason"] is None


def test_video_without_faces(detector, feat_data):
    res = detector.analyze(feat_data / "no_face.mp4", frames=4)
    assert res.verdict == "no_face" and res.p_fake is None and res.error is None
    assert len(res.frames) == 4 and all(f.p_fake is None and f.n_faces == 0 for f in res.frames)
    assert res.no_face_reason == "no face found" and res.tracks == [] and res.decided_by is None


def test_video_with_face_in_part_of_it(detector, feat_data):
    res = detector.analyze(feat_data / "face_noface.mov", frames=8)
    assert res.verdict in ("real", "fake", "uncertain"), res.error
    with_face = [f for f in res.frames if f.n_faces]
    without = [f for f in res.frames if not f.n_faces]
    assert with_face and without
    assert all(f.p_fake is None for f in without)


def test_progress_and_cancel(detector, feat_data):
    seen = []
    res = detector.analyze(feat_data / "single_face.jpg", progress=seen.append)
    assert res.error is None and seen and seen == sorted(seen) and seen[-1] == 1.0

    cancel = threading.Event()
    cancel.set()
    res = detector.analyze(feat_data / "single_face.jpg", cancel=cancel)
    assert res.verdict == "error" and res.error == "cancelled"

    cancel = threading.Event()  # cancelled while running (from the progress callback)
    res = detector.analyze(feat_data / "single_face.mp4", frames=4, progress=lambda f: cancel.set(), cancel=cancel)
    assert res.verdict == "error" and res.error == "cancelled"


def test_time_budget(bundle_dir, feat_data):
    det = Detector.from_dir(bundle_dir, limits=Limits(time_budget_s=0.0))
    res = det.analyze(feat_data / "single_face.jpg")
    assert res.verdict == "error" and "time budget" in res.error


def test_analyze_many_and_iter_media(detector, feat_data, tmp_path):
    (tmp_path / "b" / "deeper").mkdir(parents=True)
    shutil.copy(feat_data / "single_face.jpg", tmp_path / "b" / "deeper" / "z.jpg")
    shutil.copy(feat_data / "free-mountain-vector-01.jpg", tmp_path / "a.JPG")
    shutil.copy(feat_data / "no_face.mp4", tmp_path / "b" / "clip.mp4")
    (tmp_path / "notes.txt").write_text("skipped")
    (tmp_path / "b" / "loop").symlink_to(tmp_path, target_is_directory=True)  # never followed
    files = iter_media([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a.JPG", "b/clip.mp4", "b/deeper/z.jpg"]
    assert iter_media([tmp_path / "missing.jpg"]) == [tmp_path / "missing.jpg"]  # kept: reported as an error
    results = list(detector.analyze_many([tmp_path, tmp_path / "missing.jpg"], frames=2))
    assert [r.verdict for r in results[:2]] == ["no_face", "no_face"]
    assert results[2].verdict in ("real", "fake", "uncertain")
    assert results[3].verdict == "error" and "not found" in results[3].error


def test_whole_mode_uses_prealigned_images_as_they_are(tmp_path_factory, feat_data):
    from dfd.faces import align_face

    folder = make_tiny_bundle(tmp_path_factory.mktemp("whole"), members=("cnn",),
                              face_stage={"mode": "whole", "margin": 0.3, "crop_size": 96})
    det = Detector.from_dir(folder)
    rgb = load_image(feat_data / "single_face.jpg")
    face = FaceDetector().detect(rgb)[0]
    aligned, _ = align_face(rgb, face.landmarks, 160, 0.3)  # like a pre-aligned dataset image
    res = det.analyze_array(aligned)
    assert len(res.faces) == 1 and res.faces[0].crop.shape == (96, 96, 3)
    import cv2

    expected = cv2.resize(aligned, (96, 96), interpolation=cv2.INTER_AREA)
    assert np.array_equal(res.faces[0].crop, expected)  # the whole image, not a re-warp
    group = det.analyze(feat_data / "multi_face.jpg")  # small faces in a big photo: aligned
    assert len(group.faces) >= 4 and all(f.crop.shape == (96, 96, 3) for f in group.faces)


def test_compiled_face_detector(feat_data):
    import cv2

    rgb = load_image(feat_data / "single_face.jpg")
    ref = FaceDetector().detect(rgb)[0]
    fast = FaceDetector(INFERENCE)
    for side in (200, 384, 572, 1024, 1500):  # mtcnn 1.0 loses the face at some sizes when misused
        scale = side / rgb.shape[1]
        img = cv2.resize(rgb, (side, round(rgb.shape[0] * scale)))
        faces = fast.detect(img)
        assert len(faces) == 1, side
        interocular = np.linalg.norm(ref.landmarks[0] - ref.landmarks[1]) * scale
        assert np.abs(faces[0].landmarks - ref.landmarks * scale).max() < 0.2 * interocular, side
    frames = [rgb, rgb[:, ::-1].copy(), np.zeros_like(rgb)]
    batch = fast.detect_batch(frames)
    assert [len(f) for f in batch] == [1, 1, 0]
    assert fast.detect(np.zeros((10, 10, 3), np.uint8)) == []


def test_missing_models_and_default_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    assert default_models_dir() == tmp_path.resolve() / "models" / "dfd-default"
    assert default_models_dir("faces140k") == tmp_path.resolve() / "models" / "faces140k"
    with pytest.raises(DfdError, match="make reproduce"):
        Detector.from_dir(default_models_dir())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DfdError, match="make reproduce"):
        Detector.from_dir(tmp_path / "empty")


def test_gradcam_concentrates_on_the_evidence():
    """A tiny detector trained to call images with a bright square "fake": its Grad-CAM
    mass must sit on the square."""
    import keras

    from dfd.inference.explain import gradcam
    from dfd.models import build_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size, side = 48, 12

    def batch(n):
        x = rng.uniform(60, 120, (n, size, size, 3)).astype("float32")
        y = (np.arange(n) % 2).astype("float32")
        corners = rng.integers(0, size - side, (n, 2))
        for i in np.flatnonzero(y):
            r, c = corners[i]
            x[i, r : r + side, c : c + side] = 250.0
        return x, y[:, None], corners

    model = build_model("cnn", size, widths=[8, 16], convs_per_stage=[1, 1], dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    for _ in range(60):
        model.train_on_batch(*batch(32)[:2])
    x, y, corners = batch(16)
    p = np.asarray(model.predict_on_batch(x)).ravel()
    assert ((p > 0.5) == (y.ravel() > 0.5)).mean() >= 0.9  # it did learn the square

    heat = gradcam(model, x)
    assert heat.shape == (16, size, size) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    for i in np.flatnonzero(y.ravel()):
        r, c = corners[i]
        inside = np.zeros((size, size), bool)
        inside[r : r + side, c : c + side] = True
        assert heat[i].std() > 0.01  # not constant
        assert heat[i][inside].mean() > 3 * heat[i][~inside].mean()
        assert heat[i][inside].sum() / heat[i].sum() > 2 * inside.mean()  # mass concentrates there
    again = gradcam(model, x[:2])  # cached gradient model, same numbers
    np.testing.assert_allclose(again, heat[:2], atol=1e-5)
    with pytest.raises(ValueError, match="takes"):
        gradcam(model, np.zeros((1, 32, 32, 3), np.float32))


def test_video_rule_has_one_owner(detector, feat_data):
    """The engine's video score is the study's rule of the same name
    (:data:`dfd.inference.deciding.VIDEO_RULE` in :mod:`dfd.evaluation.video_rules`): each
    frame's most suspicious deciding face, averaged over frames; the top-k count (the
    suspicious frames shown) is the study's :func:`top_k_count`."""
    from dfd.evaluation.aggregation import aggregate, top_k_count
    from dfd.evaluation.video_rules import video_score
    from dfd.inference.deciding import VIDEO_RULE
    from dfd.inference.results import FaceResult
    from dfd.inference.video import track_score, video_decision

    assert VIDEO_RULE == "frame_max_mean"
    assert [top_k_count(n) for n in range(1, 10)] == [1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert top_k_count(3, 5) == 3 and top_k_count(10, 2) == 2
    with pytest.raises(ValueError):
        top_k_count(0)

    def face(p, frame, track, decides=True):
        return FaceResult((0, 0, 1, 1), 1.0, float(p), {}, None, {}, frame_index=frame, track_id=track,
                          decides=decides)

    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 9, 33):
        p = rng.uniform(0, 1, n)
        faces = [face(v, i, 7) for i, v in enumerate(p)]
        score, decided_by, top = video_decision(faces)
        assert score == aggregate(p, "mean") == track_score(faces)  # one person: the mean of its frames
        assert decided_by == 7 and [f.frame_index for f in top] == list(range(n))
    # two people in the same frames: per frame the more suspicious face, then the mean
    calm = [face(v, i, 0) for i, v in enumerate([0.1, 0.2, 0.1])]
    odd = [face(v, i, 1) for i, v in enumerate([0.3, 0.9, 0.05])]
    score, decided_by, top = video_decision(calm + odd)
    assert score == pytest.approx((0.3 + 0.9 + 0.1) / 3)
    assert score == video_score([{"frame": f.frame_index, "track": f.track_id, "p": f.p_fake} for f in calm + odd],
                                "frame_max_mean")
    assert decided_by == 1 and [f.track_id for f in top] == [1, 1, 0]  # the most often most suspicious
    # a face that may not decide is left out of the score and cannot decide
    score, decided_by, _ = video_decision(calm + [face(0.99, 1, 2, decides=False)])
    assert score == pytest.approx(np.mean([0.1, 0.2, 0.1])) and decided_by == 0
    # on a real video, through Detector.analyze
    res = detector.analyze(feat_data / "single_face.mp4", frames=8)
    per_frame = {}
    for f in res.faces:
        per_frame[f.frame_index] = max(per_frame.get(f.frame_index, 0.0), f.p_fake)
    assert res.p_fake == pytest.approx(np.mean(list(per_frame.values())), abs=1e-12)
    assert len(res.suspicious_frames) == top_k_count(len(per_frame))


def test_detector_verdict_is_the_bundle_rule(detector):
    b = detector.bundle
    lo, hi = b.uncertain_band
    edges = [0.0, 1.0, lo, hi, b.threshold]
    probes = edges + [np.nextafter(v, d) for v in edges for d in (0.0, 1.0)]
    for p in probes:
        assert detector.verdict(p) == b.verdict(p), p
    assert detector.verdict(lo) == detector.verdict(hi) == "uncertain"  # the band is closed
    below, above = np.nextafter(lo, 0.0), np.nextafter(hi, 1.0)
    assert detector.verdict(below) == ("fake" if below >= b.threshold else "real")
    assert detector.verdict(above) == ("fake" if above >= b.threshold else "real")
    assert detector.verdict(None) == "no_face"
    with pytest.raises(ValueError):
        detector.verdict(float("nan"))


def test_scoring_faces_in_batches_is_exact_and_never_retraces(bundle_dir, feat_data):
    """Each member's TensorFlow graph (``compiled_predict``, the fallback) gives
    predict_on_batch's scores bit for bit at every batch size, and no batch size (nor
    Grad-CAM) retraces it; the TensorFlow Lite predictor the engine uses is within float32
    rounding of them (XNNPACK kernels). Scored one by one, faces get the same scores as in
    one batch up to float32 rounding only: TensorFlow's CPU kernels sum in an order that
    depends on the batch size (measured: |diff| <= ~2e-7, the same with predict_on_batch,
    with and without oneDNN), so padding batches to fixed sizes would change the scores and
    is not used."""
    import logging

    from dfd.inference.explain import gradcam
    from dfd.inference.members import compiled_predict

    det = Detector.from_dir(bundle_dir)  # fresh models: nothing traced yet
    rng = np.random.default_rng(0)
    sizes = (1, 2, 3, 5, 12, 4, 1)
    inputs = {m.name: rng.integers(0, 256, (12, *m.input_size, 3)).astype(np.float32) for m in det.members}
    # today's reference (it retraces; not part of what is checked for warnings below)
    expected = {(m.name, n): np.asarray(m.model.predict_on_batch(inputs[m.name][:n])).reshape(-1)
                for m in det.members for n in sizes}
    messages = []

    class Catch(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Catch()
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        for m in det.members:
            x = inputs[m.name]
            graph = compiled_predict(m.model, m.input_size)
            one_by_one = np.concatenate([graph(x[i : i + 1])[0] for i in range(len(x))])
            for n in sizes:
                at_once = graph(x[:n])[0]
                assert at_once.dtype == np.float32 and at_once.shape == (n,)
                assert np.array_equal(at_once, expected[m.name, n]), (m.name, n)
                np.testing.assert_allclose(at_once, one_by_one[:n], rtol=0, atol=1e-6)
                engine = m.predict(x[:n])
                assert engine.dtype == np.float32 and engine.shape == (n,)
                np.testing.assert_allclose(engine, expected[m.name, n], rtol=0, atol=1e-5)
            assert m.runtime == "TensorFlow Lite", m.name  # every family converts, the LSTM's too
            for n in (1, 3, 2, 5):
                gradcam(m.model, x[:n])
        crops = np.stack([load_image(feat_data / "single_face.jpg")[40:168, 60:188]] * 3)
        p_batch, per_member = det.score_crops(crops)
        p_single = np.concatenate([det.score_crops(c)[0] for c in crops])
        np.testing.assert_allclose(p_batch, p_single, rtol=0, atol=1e-6)
        assert set(per_member) == {"cnn", "cnn_lstm", "resnext"}
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [msg for msg in messages if "retracing" in msg], messages
