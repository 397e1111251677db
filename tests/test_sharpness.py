"""The check for faces softer than a bundle's validation faces (dfd.evaluation.sharpness):
the statistic, the fitted threshold, its measured activation, the verdict rule and what the
engine, the CLI JSON and the app say about it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from dfd.evaluation.bundle import EnsembleBundle
from dfd.evaluation.corruptions import corrupt
from dfd.evaluation.sharpness import SOFT_REASON, SharpnessCheck, fine_detail, fit_sharpness_check, soft_copies
from dfd.inference import Detector
from dfd.io.images import load_image
from tests.corpus import make_tiny_bundle
from tests.test_ood import TRAINING_PHOTOS, _aligned_faces, _jitter


@pytest.fixture(scope="module")
def faces(feat_data):
    """In-domain face crops (128 px): the training photos' faces with flips, shifts, light and JPEG."""
    found = [f for name in TRAINING_PHOTOS for f in _aligned_faces(feat_data / name)]
    return _jitter(found, 6, np.random.default_rng(1))


def test_fine_detail_falls_with_blur_and_resampling_rises_with_noise_and_ignores_contrast(faces):
    d = fine_detail(faces)
    assert d.shape == (len(faces),) and np.all(np.isfinite(d))
    for kind, level in (("gaussian_blur_sigma", 1.0), ("downscale", 0.5)):
        assert np.all(fine_detail(corrupt(faces, kind, level)) < d - 0.1), kind
    assert np.all(fine_detail(corrupt(faces, "gaussian_noise_sigma", 10.0)) > d)
    darker = (faces.astype(np.float32) * 0.6).round().astype(np.uint8)  # less contrast, same detail
    np.testing.assert_allclose(fine_detail(darker), d, atol=0.05)
    assert np.isfinite(fine_detail(np.full((1, 32, 32, 3), 128, np.uint8))).all()  # a flat patch
    np.testing.assert_allclose(fine_detail(faces[:2], size=64), fine_detail(
        np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in faces[:2]])))
    with pytest.raises(ValueError, match="RGB crops"):
        fine_detail(np.zeros((2, 8, 8)))


def test_check_flags_blurred_and_downscaled_faces_not_clean_ones(faces):
    fit, held_out = faces[: len(faces) // 2], faces[len(faces) // 2:]
    check = SharpnessCheck().fit(fit, size=96)
    values = fine_detail(fit, 96)
    # the split-conformal lower tail: with fewer than 99 faces, the smallest of them
    assert check.threshold_ == pytest.approx(values.min()) and check.size_ == 96
    assert check.is_soft(check.measure(held_out)).mean() <= 0.1
    assert check.is_soft(check.measure(corrupt(held_out, "gaussian_blur_sigma", 1.5))).mean() >= 0.9
    assert check.is_soft(check.measure(corrupt(held_out, "downscale", 0.3))).mean() >= 0.9
    assert not check.active_ and check.soft_accuracy_ is None  # not measured yet: never decides
    with pytest.raises(ValueError, match="not fitted"):
        SharpnessCheck().measure(faces)
    with pytest.raises(ValueError, match="quantile"):
        SharpnessCheck(quantile=1.0)


def test_activation_needs_decided_soft_faces_credibly_under_the_target(faces):
    check = SharpnessCheck().fit(faces)
    assert check.set_activation({"n": 80, "value": 0.6, "ci_low": 0.49, "ci_high": 0.70}, 0.95, 3).active_
    assert not check.set_activation({"n": 30, "value": 0.9, "ci_low": 0.74, "ci_high": 0.97}, 0.95, 3).active_
    none = check.set_activation({"n": 0, "value": None, "ci_low": None, "ci_high": None}, 0.95, 3)
    assert not none.active_ and none.soft_accuracy_["value"] is None  # nothing decided: nothing to fix
    back = SharpnessCheck.from_dict(json.loads(json.dumps(check.set_activation(
        {"n": 80, "correct": 48, "value": 0.6, "ci_low": 0.49, "ci_high": 0.70}, 0.95, 3).to_dict())))
    assert (back.threshold_, back.size_, back.active_, back.soft_accuracy_) == (
        check.threshold_, check.size_, True, check.soft_accuracy_)
    with pytest.raises(ValueError, match="not a sharpness check"):
        SharpnessCheck.from_dict({"kind": "ood"})


def test_soft_copies_are_seeded_and_soft(faces):
    a, b = soft_copies(faces[:4], 2, seed=3), soft_copies(faces[:4], 2, seed=3)
    assert a.shape == (8, *faces.shape[1:]) and np.array_equal(a, b)
    assert np.all(fine_detail(a) < np.tile(fine_detail(faces[:4]), 2))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny bundle without OOD scorers (so only the sharpness check can make a verdict uncertain)."""
    folder = make_tiny_bundle(tmp_path_factory.mktemp("tiny_sharp"), members=("cnn", "resnext"))
    return folder, EnsembleBundle.load(folder)


def _models(folder, bundle):
    from dfd.models import load_model

    return {m.name: (load_model(folder / m.file)[0], m.input_size[0]) for m in bundle.members}


def test_fit_turns_the_check_on_only_where_the_verdicts_on_soft_copies_miss_the_target(tiny, faces):
    folder, bundle = tiny
    models = _models(folder, bundle)
    # every score decided "fake": soft copies of fakes are all right, of reals all wrong
    deciding = dataclasses.replace(bundle, threshold=0.0, uncertain_band=(0.0, 0.0))
    right = fit_sharpness_check(deciding, models, faces[:12], np.ones(12), 0.95, n_copies=2)
    wrong = fit_sharpness_check(deciding, models, faces[:12], np.zeros(12), 0.95, n_copies=2)
    assert right.soft_accuracy_["n"] > 0 and right.soft_accuracy_["value"] == 1.0 and not right.active_
    assert wrong.soft_accuracy_["value"] == 0.0 and wrong.active_
    assert right.size_ == max(s for _m, s in models.values()) and right.soft_accuracy_["n_copies"] == 2
    # a band that decides nothing: no verdict to correct, the check stays off
    undecided = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.0, 1.0))
    assert not fit_sharpness_check(undecided, models, faces[:12], np.zeros(12), 0.95, n_copies=2).active_


def test_bundle_verdict_rule_and_format(tiny, faces):
    _folder, bundle = tiny
    b = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.5, 0.5))
    b.sharpness = SharpnessCheck().fit(faces).set_activation({"n": 50, "value": 0.5, "ci_low": 0.36, "ci_high": 0.64},
                                                             0.95, 3)
    soft, sharp = b.sharpness.threshold_ - 0.1, b.sharpness.threshold_ + 0.1
    assert b.verdict(0.9, fine_detail=sharp) == "fake" and b.verdict(0.9, fine_detail=soft) == "uncertain"
    assert b.verdict(0.9, members_out=[], fine_detail=soft) == "uncertain"
    reason = b.uncertain_reason([], fine_detail=soft)
    assert reason.startswith(SOFT_REASON) and "50%" in reason and b.uncertain_reason([], fine_detail=sharp) is None
    P = np.full((3, len(b.members)), 0.9)
    with pytest.raises(ValueError, match="fine_detail"):
        b.face_verdicts(P, {})
    _p, v = b.face_verdicts(P, {}, fine_detail=[sharp, soft, sharp])
    assert v[1] == "uncertain" and v[0] == v[2] != "uncertain"
    loaded = EnsembleBundle.from_dict(json.loads(json.dumps(b.to_dict())))
    assert loaded.sharpness.active_ and loaded.verdict(0.9, fine_detail=soft) == "uncertain"
    off = dataclasses.replace(b, sharpness=SharpnessCheck().fit(faces))  # measured and not needed
    assert off.verdict(0.9, fine_detail=soft) == "fake" and off.face_verdicts(P, {})[1][0] == "fake"
    older = {k: v for k, v in b.to_dict().items() if k != "sharpness"}  # bundles before the check
    assert EnsembleBundle.from_dict(older).sharpness is None


def _with_check(tiny, faces, tmp_path, active: bool) -> Detector:
    folder, bundle = tiny
    dst = tmp_path / ("on" if active else "off")
    shutil.copytree(folder, dst)
    b = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.5, 0.5))  # decides every score
    b.sharpness = SharpnessCheck().fit(faces, size=b.members[0].input_size[0]).set_activation(
        {"n": 50, "value": 0.4 if active else 0.99, "ci_low": 0.3 if active else 0.9,
         "ci_high": 0.55 if active else 0.999}, 0.95, 3)
    b.save(dst)
    return Detector.from_dir(dst)


def test_engine_makes_a_blurred_photo_uncertain_and_says_why(tiny, faces, feat_data, tmp_path):
    det = _with_check(tiny, faces, tmp_path, active=True)
    sharp = det.analyze(feat_data / "single_face.jpg")
    assert sharp.verdict in ("real", "fake") and sharp.sharpness["soft"] is False
    assert sharp.uncertain_reason is None and sharp.faces[0].fine_detail == pytest.approx(sharp.sharpness["fine_detail"])
    blurred = cv2.GaussianBlur(load_image(feat_data / "single_face.jpg"), (0, 0), 6)
    res = det.analyze_array(blurred)
    assert res.verdict == "uncertain" and res.p_fake is not None  # the score is still shown
    assert res.sharpness["soft"] and res.sharpness["active"] and res.uncertain_reason.startswith(SOFT_REASON)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["sharpness"]["soft"] and d["faces"][0]["fine_detail"] == pytest.approx(res.faces[0].fine_detail, abs=1e-5)
    assert d["uncertain_reason"] == res.uncertain_reason
    # the check measured as not needed: the same blurred face keeps the verdict its score gives
    off = _with_check(tiny, faces, tmp_path, active=False).analyze_array(blurred)
    assert off.sharpness["soft"] and not off.sharpness["active"]
    assert off.verdict == off_verdict(off) and off.uncertain_reason is None


def off_verdict(res):
    return "fake" if res.p_fake >= 0.5 else "real"


def test_engine_video_uses_the_deciding_tracks_median_detail(tiny, faces, feat_data, tmp_path):
    det = _with_check(tiny, faces, tmp_path, active=True)
    res = det.analyze(feat_data / "single_face.mp4", frames=4)
    track = [f.fine_detail for f in res.faces if f.track_id == res.decided_by]
    assert res.sharpness["fine_detail"] == pytest.approx(float(np.median(track)))
    assert res.sharpness["soft"] == (res.sharpness["fine_detail"] < det.bundle.sharpness.threshold_)
    assert (res.verdict == "uncertain") == res.sharpness["soft"]


def test_app_says_in_plain_words_why_a_soft_face_is_uncertain():
    from gui.formatting import out_of_domain_text

    soft = SimpleNamespace(uncertain_reason=f"{SOFT_REASON} (...)", ood={"out_of_domain": False},
                           sharpness={"soft": True, "active": True})
    text = out_of_domain_text(soft)
    assert "less fine detail" in text and "blurred" in text and "out of domain for" not in text
    ood = SimpleNamespace(uncertain_reason="unlike ...", ood={"out_of_domain": True, "members_out": ["cnn"],
                                                               "all_out": True}, sharpness={"soft": True, "active": True})
    assert "unlike the data" in out_of_domain_text(ood)  # the out-of-domain reason comes first, as in the engine


def test_report_compares_verdicts_with_and_without_the_check(tiny, faces):
    from dfd.evaluation.report import soft_verdicts_table
    from dfd.evaluation.sharpness import soft_verdicts

    folder, bundle = tiny
    b = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.5, 0.5))  # decides every score
    b.sharpness = SharpnessCheck().fit(faces, size=b.members[0].input_size[0]).set_activation(
        {"n": 50, "correct": 20, "value": 0.4, "ci_low": 0.3, "ci_high": 0.55}, 0.95, 3)
    y = np.arange(12) % 2
    table = soft_verdicts(b, _models(folder, b), faces[:12], y)
    assert list(table.input.unique()) == ["clean", "gaussian_blur_sigma 1", "downscale 0.5"]
    assert set(table.rule) == {"without the check", "with the check"}
    row = table.set_index(["input", "rule"])
    assert row.loc[("clean", "without the check"), "decided"] == 1.0  # the band decides every face
    blurred_with = row.loc[("gaussian_blur_sigma 1", "with the check")]
    assert blurred_with.flagged_soft > 0.5
    assert blurred_with.decided == pytest.approx(1 - blurred_with.flagged_soft)  # exactly the soft ones undecided
    text = "\n".join(soft_verdicts_table(table.to_dict(orient="records"), b.sharpness.to_dict()))
    assert "**active**" in text and "20/50" in text and "| gaussian_blur_sigma 1 | with the check |" in text


def test_app_shows_and_exports_why_a_soft_photo_is_uncertain(tiny, faces, feat_data, tmp_path, qapp):
    pytest.importorskip("pytestqt")
    import csv
    import io

    from gui.export import export_rows
    from gui.formatting import out_of_domain_text
    from gui.report_rows import Row
    from gui.result_header import ResultHeader
    from gui.results_model import Entry

    det = _with_check(tiny, faces, tmp_path, active=True)
    path = tmp_path / "blurred.png"
    cv2.imwrite(str(path), cv2.GaussianBlur(cv2.imread(str(feat_data / "single_face.jpg")), (0, 0), 6))
    res = det.analyze(path)
    assert res.verdict == "uncertain" and res.uncertain_reason.startswith(SOFT_REASON)
    words = out_of_domain_text(res)
    assert "less fine detail" in words
    row = Row(path, "image", "done", res.verdict, res.p_fake, len(res.faces), 1.0, None, res, det.verdict)
    d = json.loads(export_rows([row], tmp_path / "r.json").read_text())
    assert d["results"][0]["uncertain_reason"] == res.uncertain_reason and d["results"][0]["sharpness"]["soft"]
    (line,) = list(csv.DictReader(io.StringIO(export_rows([row], tmp_path / "r.csv").read_text())))
    assert line["uncertain_reason"] == res.uncertain_reason
    assert "less fine detail" in export_rows([row], tmp_path / "r.html").read_text()
    header = ResultHeader()
    header.show_entry(Entry(path, status="done", result=res, verdict_rule=det.verdict))
    assert header.message.text() == words
