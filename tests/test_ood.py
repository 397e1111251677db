"""Out-of-domain scores (dfd.evaluation.ood), the bundle's rule for them and the fields they
add to the engine's results, the CLI's JSON / CSV and the app's exports."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from dfd.errors import DfdError
from dfd.evaluation.bundle import OOD_REASON, EnsembleBundle
from dfd.evaluation.ood import METHODS, OodScorer, cartoon_face, conformal_quantile, foreign_inputs
from dfd.inference import Detector
from dfd.io.images import load_image
from tests.corpus import make_tiny_bundle

TRAINING_PHOTOS = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg",
                   "BWPictureHuman.jpg", "multi_face.jpg", "single_face.jpg")
# cnn and resnext: their features are pooled conv maps. The tiny cnn_lstm's are a tanh-bounded
# LSTM state that noise stays inside, trained or not (as the real one's mostly does on
# dfd-default, docs/experiments.md), so it would keep noise "in domain" for the whole file.
OOD_MEMBERS = ("cnn", "resnext")


def _gaussian(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(0, 1, (d, d)) / np.sqrt(d) + np.eye(d)
    return rng.normal(0, 1, (n, d)) @ mix + shift


@pytest.mark.parametrize("method", METHODS)
def test_scorer_fit_score_and_round_trip(method):
    train, valid, test = _gaussian(400, 12, 0), _gaussian(200, 12, 1), _gaussian(200, 12, 2)
    far = _gaussian(50, 12, 3, shift=6.0)
    sc = OodScorer(method, quantile=0.98).fit(train, valid)
    assert sc.threshold_ == pytest.approx(np.sort(sc.score(valid))[196])  # ceil(201 * 0.98) = 197th
    assert sc.is_out(valid).mean() == pytest.approx(3 / 200)  # the quantile rule, by construction
    assert sc.is_out(test).mean() < 0.1 and sc.is_out(far).all()
    assert sc.score(far).min() > sc.score(test).max()
    again = OodScorer.from_dict(json.loads(json.dumps(sc.to_dict(), allow_nan=False)))
    np.testing.assert_allclose(again.score(test), sc.score(test), rtol=1e-6)
    assert (again.method, again.quantile, again.threshold_, again.n_fit_) == (method, 0.98, sc.threshold_, 400)
    one = sc.score(test[0])  # one face as a vector
    assert one.shape == (1,) and one[0] == pytest.approx(sc.score(test[:1])[0])


def test_scorer_refuses_bad_input():
    with pytest.raises(ValueError, match="method"):
        OodScorer("cosine")
    with pytest.raises(ValueError, match="quantile"):
        OodScorer(quantile=1.0)
    with pytest.raises(ValueError, match="not fitted"):
        OodScorer().score(np.zeros((2, 3)))
    sc = OodScorer().fit(_gaussian(50, 4, 0))  # without validation faces: the training ones
    assert sc.n_threshold_ == 50
    with pytest.raises(ValueError, match="4 features"):
        sc.score(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        sc.score(np.full((1, 4), np.nan))
    with pytest.raises(ValueError, match="kind"):
        OodScorer.from_dict({"method": "rms"})


def test_constant_training_feature_counts_when_it_moves():
    """A feature that never moved on the training faces (a dead ReLU) moving now is evidence
    of a foreign input, not a division by zero."""
    train = _gaussian(100, 5, 0)
    train[:, 0] = 0.0
    sc = OodScorer("rms").fit(train, _gaussian(50, 5, 1) * [0, 1, 1, 1, 1])
    moved = np.zeros((1, 5))
    moved[0, 0] = 1.0
    assert np.isfinite(sc.score(moved)).all() and sc.is_out(moved).all()


def _aligned_faces(photo, size=128):
    from dfd.faces import FaceDetector, align_face

    rgb = load_image(photo)
    return [align_face(rgb, f.landmarks, size, 0.3)[0] for f in FaceDetector().detect(rgb)]


def _jitter(faces, copies, rng):
    """In-domain variety: flips, small shifts, brightness and mild JPEG, as training augments."""
    out = []
    for _ in range(copies):
        for face in faces:
            img = face[:, ::-1] if rng.random() < 0.5 else face
            dx, dy = rng.integers(-4, 5, 2)
            img = cv2.warpAffine(np.ascontiguousarray(img), np.float32([[1, 0, dx], [0, 1, dy]]), img.shape[1::-1],
                                 borderMode=cv2.BORDER_REFLECT)
            img = np.clip(img * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
            _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
            out.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    return np.stack(out)


@pytest.fixture(scope="module")
def ood_bundle_dir(tmp_path_factory, feat_data):
    faces = [f for name in TRAINING_PHOTOS for f in _aligned_faces(feat_data / name)]
    rng = np.random.default_rng(0)
    crops = (_jitter(faces, 8, rng), _jitter(faces, 4, rng))
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny_ood"), members=OOD_MEMBERS, ood_crops=crops)


@pytest.fixture(scope="module")
def ood_detector(ood_bundle_dir):
    return Detector.from_dir(ood_bundle_dir)


def _members_out(detector, crops, check: str = "out") -> np.ndarray:
    """(n, n_members) bool: each member's check on crops ("out", or "far" out), through the
    engine's compiled functions."""
    features = {}
    for m in detector.members:
        x = np.stack([cv2.resize(c, m.input_size[::-1], interpolation=cv2.INTER_AREA) for c in crops])
        features[m.name] = m.predict_with_features(x.astype(np.float32))[1]
    ood = detector.bundle.ood_scores(features)
    if check == "far":
        return np.stack([ood[m]["far"] for m in detector.bundle.member_names], axis=1)
    return detector.bundle.out_matrix(ood, len(crops))


def test_trained_tiny_bundle_flags_foreign_inputs_not_in_domain_faces(ood_detector, feat_data):
    bundle = ood_detector.bundle
    assert set(bundle.ood) == set(bundle.member_names)
    face = _aligned_faces(feat_data / "single_face.jpg")[0]
    fresh = _jitter([f for name in TRAINING_PHOTOS for f in _aligned_faces(feat_data / name)], 1,
                    np.random.default_rng(99))  # new copies of the training kind: in domain
    in_domain = _members_out(ood_detector, fresh)
    # each member flags at most about 1 - quantile of in-domain faces by construction; none flags them all
    assert in_domain.mean(axis=0).max() <= 0.2 and not in_domain.all(axis=1).any()
    foreign = foreign_inputs(128, n=4)
    _ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 3])
    heavy_jpeg = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)[None]
    for name, crops in [("uniform_noise", foreign["uniform_noise"]), ("cartoon_face", foreign["cartoon_face"]),
                        ("heavy_jpeg", heavy_jpeg)]:
        out = _members_out(ood_detector, crops)
        assert out.all(axis=1).all(), (name, out)
        assert _members_out(ood_detector, crops, "far").any(axis=1).all(), name  # far beyond any validation face
        assert bundle.verdict(0.999, [m for m, o in zip(bundle.member_names, out[0]) if o]) == "uncertain"

    # through Detector.analyze: an in-domain photo keeps its score's verdict and says why not
    res = ood_detector.analyze(feat_data / "single_face.jpg")
    assert res.verdict == bundle.verdict(res.p_fake) and res.uncertain_reason is None
    assert res.ood == {"checked": sorted(bundle.member_names), "members_out": [], "members_far": [], "members_beyond_range": [],
                       "all_out": False, "out_of_domain": False, "p_fake_in_domain": None}
    face = res.faces[0]
    assert set(face.ood) == set(bundle.member_names) and not face.members_out
    for name, o in face.ood.items():
        assert o["threshold"] == bundle.ood[name].threshold_ and 0 <= o["distance"] <= o["threshold"]


def test_cartoon_face_is_drawn_deterministically():
    a, b = cartoon_face(96, np.random.default_rng(1)), cartoon_face(96, np.random.default_rng(1))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 5  # skin, eyes, mouth, background


def _every_face_out(src, dst):
    """A copy of the bundle whose OOD thresholds put every face out of domain."""
    shutil.copytree(src, dst)
    data = json.loads((dst / "bundle.json").read_text())
    for o in data["ood"].values():
        o["threshold"] = -1.0
    (dst / "bundle.json").write_text(json.dumps(data))
    return dst


@pytest.fixture(scope="module")
def all_out_dir(ood_bundle_dir, tmp_path_factory):
    return _every_face_out(ood_bundle_dir, tmp_path_factory.mktemp("all_out") / "models")


def test_every_member_out_makes_the_verdict_uncertain(all_out_dir, feat_data):
    det = Detector.from_dir(all_out_dir)
    names = det.bundle.member_names
    res = det.analyze(feat_data / "single_face.jpg")
    assert res.verdict == "uncertain" and res.p_fake is not None  # the score is still shown
    assert res.uncertain_reason == f"{OOD_REASON} (out of domain for {', '.join(names)})"
    # (a negative threshold puts every face out; "far" is a ratio to it, so none is far)
    assert res.ood == {"checked": sorted(names), "members_out": names, "members_far": [], "members_beyond_range": [],
                       "all_out": True, "out_of_domain": True, "p_fake_in_domain": None}
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["ood"]["members_out"] == names and d["uncertain_reason"] == res.uncertain_reason
    assert all(o["out"] and o["threshold"] == -1.0 for o in d["faces"][0]["ood"].values())
    video = det.analyze(feat_data / "single_face.mp4", frames=4)  # most frames of the track out
    assert video.verdict == "uncertain" and video.ood["all_out"] and video.uncertain_reason == res.uncertain_reason


def test_one_member_far_out_makes_the_verdict_uncertain(ood_bundle_dir, feat_data, tmp_path):
    """The faces140k case: one member sees a foreign source far beyond every validation face
    while the others see it in domain; the verdict is uncertain and names that member."""
    data = json.loads((ood_bundle_dir / "bundle.json").read_text())
    first, second = list(data["ood"])
    data["ood"][first]["threshold"] = 1e-9  # the first member: every face far out
    data["ood"][second]["threshold"] = 1e9  # the second: every face in domain
    dst = shutil.copytree(ood_bundle_dir, tmp_path / "one_far")
    (dst / "bundle.json").write_text(json.dumps(data))
    det = Detector.from_dir(dst)
    res = det.analyze(feat_data / "single_face.jpg")
    assert res.verdict == "uncertain" and res.p_fake is not None
    assert res.uncertain_reason == f"{OOD_REASON} (far out of domain for {first})"
    assert res.ood == {"checked": sorted([first, second]), "members_out": [first], "members_far": [first],
                       "members_beyond_range": [], "all_out": False, "out_of_domain": True,
                       "p_fake_in_domain": res.faces[0].p_fake_in_domain}
    assert res.faces[0].p_fake_in_domain is not None  # the second member alone
    assert json.loads(json.dumps(res.to_dict()))["faces"][0]["ood"][first]["far"] is True
    from gui.formatting import out_of_domain_text

    assert f"far out of domain for: {first}" in out_of_domain_text(res)
    video = det.analyze(feat_data / "single_face.mp4", frames=4)
    assert video.verdict == "uncertain" and video.ood["members_far"] == [first]
    # a bundle from before the rule (no worst ratio): one member out is not enough
    data["ood_worst_ratio"] = None
    (dst / "bundle.json").write_text(json.dumps(data))
    older = Detector.from_dir(dst).analyze(feat_data / "single_face.jpg")
    assert older.uncertain_reason is None and older.verdict == det.bundle.verdict(older.p_fake)
    assert older.ood["members_out"] == [first] and older.ood["members_far"] == []


def test_a_verdict_resting_on_a_member_out_of_domain_is_uncertain(ood_bundle_dir, feat_data, tmp_path):
    """The faces140k WebP case: one member is out of domain (not far) and steers the score; where
    the members in domain alone would not give the same verdict, the verdict is "uncertain"."""
    bundle = EnsembleBundle.load(ood_bundle_dir)
    first, second = bundle.member_names
    bundle.uncertain_band = (0.5, 0.5)  # every score decides: only the rule under test makes uncertain
    grid = np.linspace(0.01, 0.99, 15)
    P = np.array([(a, b) for a in grid for b in grid])
    n = len(P)
    ood = {first: {"distance": np.full(n, 2.0), "threshold": 1.0, "out": np.ones(n, bool), "far": np.zeros(n, bool),
                   "beyond_range": np.zeros(n, bool)},
           second: {"distance": np.zeros(n), "threshold": 1.0, "out": np.zeros(n, bool), "far": np.zeros(n, bool),
                    "beyond_range": np.zeros(n, bool)}}
    p = bundle.predict(P, bundle.left_out_matrix(ood, n))
    p_in = bundle.in_domain_scores(P, ood)
    # the second member alone: the ensemble fit on validation for it
    np.testing.assert_allclose(p_in, bundle.predict(P, np.tile([True, False], (n, 1))))
    own = np.asarray(bundle.verdict(p))
    rests_on_first = (own != np.asarray(bundle.verdict(p_in))) & (own != "uncertain")  # the band's uncertain stays
    assert rests_on_first.any() and not rests_on_first.all()
    for i in range(n):
        reason = bundle.uncertain_reason([first], [], float(p[i]), float(p_in[i]))
        assert (reason is not None) == rests_on_first[i]
        assert bundle.verdict(float(p[i]), [first], [], float(p_in[i])) == ("uncertain" if rests_on_first[i]
                                                                           else bundle.verdict(float(p[i])))
        if reason:
            assert reason.startswith(OOD_REASON) and f"rests on {first}, out of domain" in reason
    # nobody out: nothing to compare (NaN), and older bundles keep their verdicts
    ood[first]["out"] = np.zeros(n, bool)
    assert np.isnan(bundle.in_domain_scores(P, ood)).all()
    assert bundle.uncertain_reason([], [], 0.9, float("nan")) is None
    # through the engine: the first member out for every face (not far), its in-domain score reported
    data = json.loads((ood_bundle_dir / "bundle.json").read_text())
    data["ood"][first]["threshold"] = 1e-9
    data["ood"][second]["threshold"] = 1e9
    data["ood_worst_ratio"] = 1e30
    dst = shutil.copytree(ood_bundle_dir, tmp_path / "one_out")
    (dst / "bundle.json").write_text(json.dumps(data))
    det = Detector.from_dir(dst)
    res = det.analyze(feat_data / "single_face.jpg")
    face = res.faces[res.decided_by]
    assert res.ood["members_out"] == [first] and res.ood["members_far"] == []
    assert face.p_fake_in_domain is not None and res.ood["p_fake_in_domain"] == face.p_fake_in_domain
    assert res.verdict == det.bundle.verdict(res.p_fake, [first], [], face.p_fake_in_domain)
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["ood"]["p_fake_in_domain"] == pytest.approx(
        face.p_fake_in_domain, abs=1e-4)
    from gui.formatting import out_of_domain_text

    assert (out_of_domain_text(res) is not None) == (res.uncertain_reason is not None)
    forced = copy.copy(res)  # the app's words for this reason, whichever way this tiny bundle's face went
    forced.uncertain_reason = f"{OOD_REASON} (the 'fake' verdict rests on {first}, out of domain: ...)"
    assert f"out of domain for: {first}, and the other models alone do not give the same verdict" in \
        out_of_domain_text(forced)
    video = det.analyze(feat_data / "single_face.mp4", frames=4)
    assert video.ood["members_out"] == [first] and video.ood["p_fake_in_domain"] is not None
    assert video.verdict == det.bundle.verdict(video.p_fake, [first], [], video.ood["p_fake_in_domain"])


def test_score_range_marks_scores_beyond_the_validation_range():
    from dfd.evaluation.score_range import ScoreRange, fit_score_ranges

    valid = 1 / (1 + np.exp(-np.linspace(-3.0, 5.0, 50)))  # logits -3 .. 5
    r = ScoreRange(0.25).fit(valid)
    assert (r.low_, r.high_) == pytest.approx((-5.0, 7.0))  # widened by a quarter of the width
    z = np.array([-6.0, -4.9, 0.0, 6.9, 7.1, 20.0])
    np.testing.assert_array_equal(r.beyond(1 / (1 + np.exp(-z))), [True, False, False, False, True, True])
    assert r.beyond([1.0, 0.0]).all()  # a float32 sigmoid saturated at exactly 1 or 0
    assert not ScoreRange(0.0).fit(valid).beyond(valid).any()  # its own faces are inside
    again = ScoreRange.from_dict(json.loads(json.dumps(r.to_dict(), allow_nan=False)))
    assert (again.low_, again.high_, again.widening) == (r.low_, r.high_, 0.25)
    ranges = fit_score_ranges(np.stack([valid, valid[::-1] * 0.5], axis=1), ["a", "b"])
    assert list(ranges) == ["a", "b"] and ranges["b"].high_ < ranges["a"].high_
    with pytest.raises(ValueError, match="not fitted"):
        ScoreRange().beyond([0.5])
    with pytest.raises(ValueError, match="two finite"):
        ScoreRange().fit([0.5])
    with pytest.raises(ValueError, match="low <= high"):
        ScoreRange.from_dict({"kind": "score_range", "widening": 0.25, "low": 2.0, "high": 1.0})
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        fit_score_ranges(np.zeros((5, 3)), ["a", "b"])


def test_a_member_scoring_beyond_its_range_is_left_out_of_the_score(ood_bundle_dir, feat_data, tmp_path):
    """The faces140k JPEG-50 case: one member's score leaves everything it gave on validation
    (features in range); the face is scored by the others, and the result says which one."""
    data = json.loads((ood_bundle_dir / "bundle.json").read_text())
    first, second = [m["name"] for m in data["members"]]
    del data["subset_ensembles"]  # so the other member's own calibrated score is the face's (the mean rule)
    data["score_ranges"] = {first: {"kind": "score_range", "widening": 0.25, "low": 50.0, "high": 60.0},
                            second: {"kind": "score_range", "widening": 0.25, "low": -60.0, "high": 60.0}}
    dst = shutil.copytree(ood_bundle_dir, tmp_path / "beyond")
    (dst / "bundle.json").write_text(json.dumps(data))
    det = Detector.from_dir(dst)
    res = det.analyze(feat_data / "single_face.jpg")
    assert res.uncertain_reason is None and res.verdict == det.bundle.verdict(res.p_fake)  # not a reason alone
    assert res.ood["members_beyond_range"] == [first] and res.ood["members_far"] == []
    assert res.p_fake == pytest.approx(res.member_scores[second])  # the other member's calibrated score
    face = json.loads(json.dumps(res.to_dict(), allow_nan=False))["faces"][0]["ood"]
    assert face[first]["beyond_range"] is True and face[second]["beyond_range"] is False
    from gui.formatting import left_out_text

    assert f"Not counted in this score: {first}" in left_out_text(res)
    video = det.analyze(feat_data / "single_face.mp4", frames=4)  # the deciding track's, as for "far"
    assert video.ood["members_beyond_range"] == [first]
    # the same bundle without its ranges (older bundles): both members count
    plain = Detector.from_dir(ood_bundle_dir).analyze(feat_data / "single_face.jpg")
    assert plain.ood["members_beyond_range"] == [] and left_out_text(plain) is None
    assert plain.p_fake != pytest.approx(res.p_fake)
    with pytest.raises(DfdError, match="score ranges for unknown"):
        EnsembleBundle.from_dict(data | {"score_ranges": {"nobody": data["score_ranges"][first]}})


def test_conformal_quantile_ranks_and_covers():
    v = np.arange(1.0, 101.0)[::-1]  # 100 values, unsorted
    assert conformal_quantile(v, 0.9) == 91.0  # ceil(101 * 0.9) = 91st smallest
    assert conformal_quantile(v, 0.99) == 100.0 == conformal_quantile(v, 0.995)  # rank past n: the max
    assert conformal_quantile(np.arange(1.0, 100.0), 0.99) == 99.0  # (n + 1) q = 99 exactly: not the next rank
    assert conformal_quantile([3.0], 0.5) == 3.0
    with pytest.raises(ValueError, match="finite"):
        conformal_quantile([1.0, np.nan], 0.9)
    with pytest.raises(ValueError, match="finite"):
        conformal_quantile([], 0.9)
    # the guarantee: a new exchangeable value lies above it at most 1 - q of the time, where the
    # interpolated quantile of 220 values lets about twice that through
    rng = np.random.default_rng(0)
    draws = rng.lognormal(0, 0.3, (4000, 221))
    conformal = np.array([conformal_quantile(d[:220], 0.99) for d in draws])
    interpolated = np.quantile(draws[:, :220], 0.99, axis=1)
    assert (draws[:, 220] > conformal).mean() <= 0.01 + 0.004
    assert (draws[:, 220] > interpolated).mean() > 0.013


def test_worst_ratio_is_a_validation_quantile_of_the_largest_ratio():
    from dfd.evaluation.ood import distance_ratios, fit_worst_ratio

    rng = np.random.default_rng(0)
    R = rng.uniform(0.2, 1.4, (200, 3))
    assert fit_worst_ratio(R, 0.995) == pytest.approx(R.max())  # ceil(201 * 0.995) = 200: the largest
    assert fit_worst_ratio(R, 0.9) == pytest.approx(np.sort(R.max(axis=1))[180])  # ceil(201 * 0.9) = 181st
    assert fit_worst_ratio(R * 0.5, 0.995) == 1.0  # never below a member's own threshold
    with pytest.raises(ValueError, match="ratio matrix"):
        fit_worst_ratio(np.zeros((0, 3)))
    train, valid = _gaussian(300, 6, 0), _gaussian(100, 6, 1)
    scorers = {"a": OodScorer("rms").fit(train, valid), "b": OodScorer("mahalanobis").fit(train, valid)}
    ratios = distance_ratios(scorers, {"a": valid, "b": valid})
    assert ratios.shape == (100, 2)
    np.testing.assert_allclose(ratios[:, 1], scorers["b"].score(valid) / scorers["b"].threshold_)
    # each member's own quantile: with 100 validation faces the conformal 0.99 one is their largest
    assert (ratios > 1).sum(axis=0).tolist() == [0, 0] and ratios.max(axis=0) == pytest.approx([1.0, 1.0])


def test_bundle_rule_and_format(ood_bundle_dir, tmp_path):
    bundle = EnsembleBundle.load(ood_bundle_dir)
    names = bundle.member_names
    assert bundle.uncertain_reason(names[:-1]) is None and OOD_REASON in bundle.uncertain_reason(names)
    p_sure = 0.999
    assert bundle.verdict(p_sure) == "fake" and bundle.verdict(p_sure, names[:1]) == "fake"
    assert bundle.verdict(p_sure, names) == "uncertain"
    with pytest.raises(ValueError, match="one score"):
        bundle.verdict([0.1, 0.9], names)
    P = np.array([[0.9, 0.2], [0.9, 0.2]])
    out = np.array([[False, True], [True, True]])
    assert bundle.ood_combine == "far_left_out"  # what the study saves (make_tiny_bundle does as it does)
    bundle.ood_combine = "ensemble"
    assert bundle.left_out_matrix({}, 2) is None
    np.testing.assert_allclose(bundle.predict(P, out), bundle.predict(P))  # "ensemble": every column as is
    bundle.ood_combine = "in_domain_mean"
    p = bundle.predict(P, out)
    assert p[0] == pytest.approx(bundle.member_probabilities(P)[names[0]][0])  # the one member in domain
    assert p[1] == pytest.approx(bundle.predict(P)[1])  # none in domain: the ensemble's score
    bundle.ood_combine = "far_left_out"  # the ensemble unless a member is far out; then the others' ensemble
    far = np.array([[False, True], [False, False]])
    p = bundle.predict(P, far)
    _kind, ens, cal = bundle.subset_ensembles[(names[0],)]
    assert p[0] == pytest.approx(cal.transform(ens.predict(P[:1, :1]))[0])  # fit on validation for it alone
    assert p[1] == pytest.approx(bundle.predict(P)[1])  # nobody far: the ensemble as fit
    subsets, bundle.subset_ensembles = bundle.subset_ensembles, {}  # older bundles: the others' mean
    assert bundle.predict(P, far)[0] == pytest.approx(bundle.member_probabilities(P)[names[0]][0])
    bundle.subset_ensembles = subsets
    none = np.array([False, False])
    ood = {names[0]: {"out": np.array([True, True]), "far": none, "beyond_range": none},
           names[1]: {"out": np.array([True, False]), "far": np.array([True, False]), "beyond_range": none}}
    np.testing.assert_array_equal(bundle.left_out_matrix(ood, 2), far)
    ood[names[0]] = ood[names[0]] | {"beyond_range": np.array([False, True])}  # scored beyond its range
    np.testing.assert_array_equal(bundle.left_out_matrix(ood, 2), [[False, True], [True, False]])
    bundle.ood_combine = "in_domain_mean"
    np.testing.assert_array_equal(bundle.left_out_matrix(ood, 2), [[True, True], [True, False]])
    d = bundle.to_dict()
    assert d["format_version"] == 2 and EnsembleBundle.from_dict(d).ood_combine == "in_domain_mean"
    assert d["ood_worst_ratio"] >= 1.0 and EnsembleBundle.from_dict(d).ood_worst_ratio == d["ood_worst_ratio"]
    assert bundle.uncertain_reason(names[:1], names[:1]).endswith(f"(far out of domain for {names[0]})")
    assert bundle.verdict(p_sure, names[:1], names[:1]) == "uncertain"
    for bad in (0.5, "2", float("nan")):
        with pytest.raises(DfdError, match="ood_worst_ratio"):
            EnsembleBundle.from_dict(d | {"ood_worst_ratio": bad})
    old = {k: v for k, v in d.items() if k not in ("ood", "ood_combine", "ood_worst_ratio")} | {"format_version": 1}
    v1 = EnsembleBundle.from_dict(old)  # bundles from before OOD scorers load as they were
    assert v1.ood == {} and v1.uncertain_reason(names) is None and v1.verdict(p_sure, names) == "fake"
    with pytest.raises(DfdError, match="unknown members"):
        EnsembleBundle.from_dict(d | {"ood": {"nobody": d["ood"][names[0]]}})
    with pytest.raises(DfdError, match="malformed"):
        EnsembleBundle.from_dict(d | {"ood": {names[0]: {"kind": "ood", "method": "rms"}}})
    with pytest.raises(DfdError, match="ood_combine"):
        EnsembleBundle.from_dict(d | {"ood_combine": "vote"})


def test_cli_json_and_csv_carry_ood(all_out_dir, ood_bundle_dir, feat_data, capsys):
    from dfd import cli

    photo = str(feat_data / "single_face.jpg")
    assert cli.main(["scan", photo, "--models", str(all_out_dir), "--json", "--no-progress"]) == 1
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert rec["verdict"] == "uncertain" and OOD_REASON in rec["uncertain_reason"]
    assert rec["ood"]["all_out"] and all(o["out"] for o in rec["faces"][0]["ood"].values())
    cli.main(["scan", photo, "--models", str(all_out_dir), "--csv", "--no-progress"])
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["ood_members"] == "cnn;resnext" and OOD_REASON in row["uncertain_reason"]
    cli.main(["scan", photo, "--models", str(ood_bundle_dir), "--csv", "--no-progress"])
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["ood_members"] == "" and row["uncertain_reason"] == ""


def test_app_shows_and_exports_the_reason(all_out_dir, feat_data, tmp_path, qapp):
    pytest.importorskip("pytestqt")
    from gui.export import export_rows
    from gui.formatting import out_of_domain_text
    from gui.report_rows import Row

    det = Detector.from_dir(all_out_dir)
    res = det.analyze(feat_data / "single_face.jpg")
    words = out_of_domain_text(res)
    assert "unlike the data these models were trained on" in words and "resnext" in words
    row = Row(feat_data / "single_face.jpg", "image", "done", res.verdict, res.p_fake, len(res.faces), 1.0, None,
              res, det.verdict)
    d = json.loads(export_rows([row], tmp_path / "r.json").read_text())
    assert d["results"][0]["uncertain_reason"] == res.uncertain_reason and d["results"][0]["ood"]["all_out"]
    (line,) = list(csv.DictReader(io.StringIO(export_rows([row], tmp_path / "r.csv").read_text())))
    assert line["ood_members"] == "cnn;resnext" and line["uncertain_reason"] == res.uncertain_reason
    assert "unlike the data these models were trained on" in export_rows([row], tmp_path / "r.html").read_text()

    from gui.result_header import ResultHeader
    from gui.results_model import Entry

    entry = Entry(feat_data / "single_face.jpg", status="done", result=res, verdict_rule=det.verdict)
    header = ResultHeader()
    header.show_entry(entry)
    assert header.message.text() == words


def test_ood_rates_table_counts_what_each_member_flags(ood_bundle_dir, feat_data):
    """Notebook 05's table: clean in-domain faces rarely flagged, noise always, every sweep level listed."""
    from dfd.evaluation.corruptions import CORRUPTIONS
    from dfd.evaluation.ood import ood_rates
    from dfd.models import load_model

    bundle = EnsembleBundle.load(ood_bundle_dir)
    models = {m.name: (load_model(ood_bundle_dir / m.file)[0], m.input_size[0]) for m in bundle.members}
    fresh = _jitter([f for name in TRAINING_PHOTOS for f in _aligned_faces(feat_data / name)], 1,
                    np.random.default_rng(7))
    table = ood_rates(models, bundle.ood, fresh, n_foreign=4, worst_ratio=bundle.ood_worst_ratio)
    levels = 1 + sum(len(v) for v in CORRUPTIONS.values()) + 4  # clean, the sweep, four foreign kinds
    assert len(table) == levels * (len(models) + 1) and set(table.member) == set(models) | {"verdict rule"}

    def rate(name, kind, t=table):
        return float(t[(t.member == name) & (t.input == kind)].flagged.iloc[0])

    for name in list(models) + ["verdict rule"]:
        assert rate(name, "clean") <= 0.2
        assert rate(name, "uniform_noise") == 1.0
    assert (table[table.input == "clean"].n == len(fresh)).all()
    # the verdict rule flags at least what every member flags together, at most what any member does
    for kind in set(table.input):
        per_member = [rate(name, kind) for name in models]
        assert rate("verdict rule", kind) <= max(per_member) + 1e-9
    only_all = ood_rates(models, bundle.ood, fresh[:4], n_foreign=2, worst_ratio=None)
    assert rate("verdict rule", "uniform_noise", only_all) == 1.0


def test_sweep_scores_the_bundle_as_the_engine_does(ood_bundle_dir, feat_data):
    """Notebook 05's robustness sweep and container sensitivity score the ensemble with the
    bundle's out-of-domain combination, as the engine does (``Detector.score_crops``)."""
    from dfd.evaluation.scoring import bundle_combine, named_scores
    from dfd.models import load_model

    det = Detector.from_dir(ood_bundle_dir)
    bundle = det.bundle
    models = {m.name: (load_model(ood_bundle_dir / m.file)[0], m.input_size[0]) for m in bundle.members}
    crops = np.concatenate([_jitter(_aligned_faces(feat_data / "single_face.jpg"), 2, np.random.default_rng(3)),
                            foreign_inputs(128, n=2)["uniform_noise"]])
    scores = named_scores(models, crops, bundle_combine(bundle))
    engine_p, _members = det.score_crops(crops)
    np.testing.assert_allclose(scores["ensemble"], engine_p, atol=1e-5)
    # one member kept in domain whatever it sees: the noise is far out for the other only, so it is
    # left out and the noise scores as the kept member's own ensemble, not as the plain ensemble
    first, second = bundle.member_names
    bundle.ood[second].threshold_ = 1e9
    scores = named_scores(models, crops, bundle_combine(bundle))
    engine_p, members = det.score_crops(crops)
    plain = named_scores(models, crops, bundle.predict)["ensemble"]
    assert bundle.ood_combine == "far_left_out"
    np.testing.assert_allclose(scores["ensemble"], engine_p, atol=1e-5)
    _kind, ens, cal = bundle.subset_ensembles[(second,)]  # the kept member as fit alone on validation
    np.testing.assert_allclose(engine_p[-2:], cal.transform(ens.predict(scores[second][-2:, None])), atol=1e-5)
    assert not np.allclose(plain[-2:], engine_p[-2:])
    np.testing.assert_allclose(plain[:-2], engine_p[:-2], atol=1e-5)  # the faces: nobody far, the same



def test_face_verdicts_decide_faces_as_the_engine_decides_a_file(ood_bundle_dir, feat_data):
    """Notebook 05's "decided by the engine" share: each face's verdict from the bundle's band
    and its out-of-domain rule, the same as ``verdict`` gives one face with its members out."""
    from dfd.evaluation.scoring import scores_and_features
    from dfd.models import load_model

    bundle = EnsembleBundle.load(ood_bundle_dir)
    models = {m.name: (load_model(ood_bundle_dir / m.file)[0], m.input_size[0]) for m in bundle.members}
    crops = np.concatenate([_jitter(_aligned_faces(feat_data / "single_face.jpg"), 3, np.random.default_rng(4)),
                            foreign_inputs(128, n=3)["uniform_noise"]])
    P, features = scores_and_features(models, crops)
    p, verdicts = bundle.face_verdicts(P, features)
    p_engine, ood = bundle.score_faces(P, features)
    np.testing.assert_allclose(p, p_engine)
    p_in = bundle.in_domain_scores(P, ood)
    for i, v in enumerate(verdicts):
        out = [m for m in bundle.member_names if ood[m]["out"][i]]
        far = [m for m in bundle.member_names if ood[m]["far"][i]]
        assert v == bundle.verdict(float(p[i]), members_out=out, members_far=far, p_in_domain=p_in[i])
    assert verdicts[-3:] == ["uncertain"] * 3  # the noise: far out of domain, whatever its score
    # a band that decides every score: only the out-of-domain rule is left to make faces uncertain
    bundle.uncertain_band = (0.5, 0.5)
    _p, decided = bundle.face_verdicts(P, features)
    assert decided[-3:] == ["uncertain"] * 3 and set(decided[:-3]) <= {"real", "fake"}

def test_robustness_sweep_scores_each_corrupted_copy_as_given(ood_bundle_dir, feat_data):
    """Each row of the sweep is the AUC of the scores of that level's copies, clean first."""
    from dfd.evaluation.corruptions import (CORRUPTIONS, corrupt, robustness_sweep, robustness_sweep_with_margins,
                                            sweep_inputs, sweep_scores, sweep_settings)
    from dfd.evaluation.scoring import bundle_combine, named_scores
    from dfd.metrics import roc_auc
    from dfd.models import load_model

    bundle = EnsembleBundle.load(ood_bundle_dir)
    models = {m.name: (load_model(ood_bundle_dir / m.file)[0], m.input_size[0]) for m in bundle.members}
    crops = _jitter(_aligned_faces(feat_data / "single_face.jpg") + _aligned_faces(feat_data / "multi_face.jpg"),
                    2, np.random.default_rng(5))
    labels = np.arange(len(crops)) % 2
    sweep = robustness_sweep(models, crops, labels, combine=bundle_combine(bundle), seed=1)
    levels = [("none", 0)] + [(k, lv) for k, lvs in CORRUPTIONS.items() for lv in lvs]
    assert sweep_settings() == levels
    assert list(dict.fromkeys(zip(sweep.corruption, sweep.level))) == levels
    inputs = list(sweep_inputs(crops, seed=1))
    assert [(k, lv) for k, lv, _x in inputs] == levels and inputs[0][2] is crops
    np.testing.assert_array_equal(inputs[4][2], corrupt(crops, *levels[4], 1))
    assert set(sweep.model) == {*bundle.member_names, "ensemble"}
    kind, level = levels[4]  # one corrupted level, scored here directly
    direct = named_scores(models, corrupt(crops, kind, level, 1), bundle_combine(bundle))
    got = sweep[(sweep.corruption == kind) & (sweep.level == level)].set_index("model").auc
    for name, p in direct.items():
        assert got[name] == pytest.approx(roc_auc(labels, p))
    first = next(sweep_scores(models, crops, bundle_combine(bundle), seed=1))
    assert first[:2] == ("none", 0) and set(first[2]) == set(got.index)
    # the same pass with the ensemble's margin over the best member at each level
    same, margins = robustness_sweep_with_margins(models, crops, labels, bundle_combine(bundle), seed=1, n_boot=50)
    pd.testing.assert_frame_equal(same, sweep)
    assert list(zip(margins.corruption, margins.level)) == levels and set(margins.model) == {"ensemble"}
    for row in margins.itertuples():
        at = sweep[(sweep.corruption == row.corruption) & (sweep.level == row.level)].set_index("model").auc
        best = at[bundle.member_names].max()
        assert at[row.best_member] == best and row.best_member_auc == best
        assert row.margin == pytest.approx(at["ensemble"] - best)
        assert row.ci_low <= row.margin + 1e-12 and row.margin - 1e-12 <= row.ci_high
        assert 0.0 <= row.best_member_p_chance <= 1.0 and 0.0 <= row.passes_without_signal <= 1.0


def test_margin_summary_names_the_misses_at_chance():
    from dfd.evaluation.report import margin_summary, robustness_table

    def row(level, margin, p_chance, passes, ci_high):
        return {"corruption": "blur", "level": level, "model": "ensemble", "best_member": "cnn",
                "best_member_auc": 0.6, "auc": 0.6 + margin, "margin": margin, "ci_low": margin - 0.1,
                "ci_high": ci_high, "best_member_p_chance": p_chance, "passes_without_signal": passes}

    margins = [row(1, 0.02, 0.001, 0.30, 0.05), row(2, -0.03, 0.60, 0.27, 0.08), row(3, -0.02, 0.01, 0.31, -0.015)]
    text = margin_summary(margins)
    assert text.startswith("ensemble: more than 0.01 under the best member at 2 of 3 levels")
    assert "at 1 of them the 95% interval reaches" in text
    assert "at 1 of them no member is shown above chance" in text and "only 27%-27% of shuffles" in text
    # an older report (no shuffles) says nothing about chance
    old = [{k: v for k, v in r.items() if k not in ("best_member_p_chance", "passes_without_signal")} for r in margins]
    assert "chance" not in margin_summary(old)
    rob = [{"corruption": "blur", "level": lv, "model": m, "auc": 0.6} for lv in (1, 2, 3) for m in ("cnn", "ensemble")]
    table = robustness_table(rob, margins)
    assert table[2].endswith("| best member's AUC by chance (p) |") and table[5].endswith("| 0.600 |")
    assert "chance" not in robustness_table(rob, old)[2]
