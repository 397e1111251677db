"""The check for photos compressed harder than a bundle's verdicts hold on
(dfd.evaluation.compression): the JPEG quality read from pixels, the fitted level, the verdict
rule and what the engine, the CLI JSON, the report and the app say about it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from dfd.evaluation.bundle import EnsembleBundle
from dfd.evaluation.compression import (COMPRESSION_REASON, NO_TRACE, CompressionCheck, compressed,
                                        compressed_verdicts, fit_compression_check, jpeg_quality)
from dfd.evaluation.corruptions import corrupt_one
from dfd.inference import Detector
from tests.corpus import make_tiny_bundle
from tests.test_sharpness import _models, faces  # noqa: F401 (the in-domain face crops fixture)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    return corrupt_one(img, "jpeg_quality", quality, np.random.default_rng(0))


@pytest.fixture(scope="module")
def photos():
    """Two never-compressed photos (scikit-image's PNG samples)."""
    skimage_data = pytest.importorskip("skimage.data")
    return [skimage_data.chelsea(), skimage_data.coffee()]


@pytest.mark.parametrize("quality", [20, 30, 50, 60, 70, 85])
def test_jpeg_quality_is_read_from_the_pixels(photos, quality):
    for photo in photos:
        assert abs(jpeg_quality(_jpeg(photo, quality)) - quality) <= 3


def test_blocks_clipped_at_black_or_white_do_not_hide_the_grid(photos):
    # a bright photo: decoding clips about half of its pixels at 255, off the quantisation lattice
    for photo in photos:
        bright = np.clip(photo.astype(np.float32) * 1.6 + 40, 0, 255).astype(np.uint8)
        for quality in (50, 70):
            assert abs(jpeg_quality(_jpeg(bright, quality)) - quality) <= 3


def test_no_grid_reads_as_no_trace_and_the_coarsest_compression_is_the_one_read(photos):
    photo = photos[0]
    assert jpeg_quality(photo) == NO_TRACE  # never compressed
    heavy = _jpeg(photo, 40)
    assert jpeg_quality(heavy[3:, 5:]) == NO_TRACE  # cropped off its 8x8 grid
    assert jpeg_quality(cv2.resize(heavy, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)) == NO_TRACE
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    assert jpeg_quality(noise) == NO_TRACE and jpeg_quality(np.full((64, 64, 3), 120, np.uint8)) == NO_TRACE
    assert abs(jpeg_quality(_jpeg(heavy, 95)) - 40) <= 3  # re-saved at a high quality: the first compression shows
    turned = np.ascontiguousarray(np.rot90(_jpeg(photos[1][:400, :592], 40)))  # EXIF-turned after saving
    assert abs(jpeg_quality(turned) - 40) <= 3 and abs(jpeg_quality(np.ascontiguousarray(turned[::-1])) - 40) <= 3
    ok, png = cv2.imencode(".png", heavy)  # a PNG of a JPEG keeps its grid
    assert abs(jpeg_quality(cv2.imdecode(png, cv2.IMREAD_UNCHANGED)) - 40) <= 3
    with pytest.raises(ValueError, match="RGB image"):
        jpeg_quality(np.zeros((4, 4, 3), np.uint8))


def _acc(value, ci_high, n=50):
    return {"n": n, "correct": round(value * n), "value": value, "ci_low": value - 0.1, "ci_high": ci_high}


def test_check_flags_qualities_nearest_a_level_credibly_under_the_target():
    levels = {90: _acc(0.93, 0.97), 70: _acc(0.80, 0.90), 50: _acc(0.75, 0.86), 30: _acc(0.97, 0.99)}
    check = CompressionCheck().fit(levels, 0.95)
    assert check.active_ and check.failing_levels_ == [50, 70] and check.reference_range_ is None
    assert check.nearest_level([20, 40, 41, 79, 80, 81, 96]).tolist() == [30, 30, 50, 70, 70, 90, 90]
    assert check.is_flagged([30, 45, 72, 80, 81, 90, NO_TRACE]).tolist() == [False, True, True, True, False, False, False]
    # nothing decided at a level, or decided well enough everywhere: inactive, never flags
    quiet = CompressionCheck().fit({90: _acc(0.93, 0.97), 50: {"n": 0, "value": None, "ci_high": None}}, 0.95)
    assert not quiet.active_ and quiet.failing_levels_ == [] and not quiet.is_flagged(50)
    # validation photos all saved at 75 (faces140k): a photo saved so keeps its verdict, a re-save at 80
    # or 50 does not, and a photo without a JPEG grid is never flagged
    own = CompressionCheck().fit({90: _acc(0.8, 0.9), 70: _acc(0.8, 0.9), 50: _acc(0.8, 0.9)}, 0.95,
                                 reference_qualities=[74.0] * 120)
    assert own.failing_levels_ == [50, 70, 90] and own.reference_range_ == (74.0, 74.0)
    assert own.is_flagged([50, 71, 72, 74, 76, 77, 80, NO_TRACE]).tolist() == [
        True, True, False, False, False, True, True, False]
    back = CompressionCheck.from_dict(json.loads(json.dumps(own.to_dict())))
    assert (back.failing_levels_, back.reference_range_, back.level_accuracy_) == (
        [50, 70, 90], (74.0, 74.0), own.level_accuracy_)
    with pytest.raises(ValueError, match="not a compression check"):
        CompressionCheck.from_dict({"kind": "sharpness"})
    with pytest.raises(ValueError, match="do not follow"):
        CompressionCheck.from_dict({**own.to_dict(), "failing_levels": [30]})
    with pytest.raises(ValueError, match="not fitted"):
        CompressionCheck().is_flagged(50)
    with pytest.raises(ValueError, match="at least one"):
        CompressionCheck().fit({}, 0.95)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny bundle without OOD scorers or sharpness check: only this check makes a verdict uncertain."""
    folder = make_tiny_bundle(tmp_path_factory.mktemp("tiny_jpeg"), members=("cnn", "resnext"))
    return folder, EnsembleBundle.load(folder)


def test_fit_turns_the_check_on_only_where_the_verdicts_on_compressed_copies_miss_the_target(tiny, faces, tmp_path):
    folder, bundle = tiny
    models = _models(folder, bundle)
    # every score decided "fake": compressed copies of fakes are all right, of reals all wrong
    deciding = dataclasses.replace(bundle, threshold=0.0, uncertain_band=(0.0, 0.0))
    right = fit_compression_check(deciding, models, faces[:12], np.ones(12), 0.95, levels=(80, 40))
    wrong = fit_compression_check(deciding, models, faces[:12], np.zeros(12), 0.95, levels=(80, 40))
    assert set(right.level_accuracy_) == {80, 40} and right.level_accuracy_[40]["value"] == 1.0 and not right.active_
    assert wrong.level_accuracy_[80]["value"] == 0.0 and wrong.failing_levels_ == [40, 80]
    # a band that decides nothing: no verdict to correct, the check stays off
    undecided = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.0, 1.0))
    assert not fit_compression_check(undecided, models, faces[:12], np.zeros(12), 0.95, levels=(40,)).active_
    # the validation photos' own quality, from the files (a missing one left out)
    files = []
    for q in (60, 62):
        files.append(tmp_path / f"q{q}.jpg")
        cv2.imwrite(str(files[-1]), cv2.cvtColor(faces[0], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    own = fit_compression_check(deciding, models, faces[:12], np.zeros(12), 0.95, levels=(40,),
                                valid_files=[*files, tmp_path / "missing.png"])
    assert own.n_reference_ == 2 and abs(own.reference_range_[0] - 60) <= 3 and abs(own.reference_range_[1] - 62) <= 3


def _bundle_with_check(bundle, failing: int | None) -> EnsembleBundle:
    """Levels 90, 70 and 30 measured; verdicts at ``failing`` (and all under it) credibly wrong."""
    b = dataclasses.replace(bundle, threshold=0.5, uncertain_band=(0.5, 0.5))  # decides every score
    b.compression = CompressionCheck().fit(
        {q: _acc(0.6, 0.72) if failing is not None and q <= failing else _acc(0.96, 0.99) for q in (90, 70, 30)}, 0.95)
    return b


def test_bundle_verdict_rule_and_format(tiny):
    _folder, bundle = tiny
    b = _bundle_with_check(bundle, 70)
    assert b.verdict(0.9, jpeg_quality=81) == "fake" and b.verdict(0.9, jpeg_quality=45) == "uncertain"
    assert b.verdict(0.9, members_out=[], jpeg_quality=NO_TRACE) == "fake"
    reason = b.uncertain_reason([], jpeg_quality=45)
    assert reason.startswith(COMPRESSION_REASON) and "about 45" in reason and "quality 30" in reason and "60%" in reason
    assert b.uncertain_reason([], jpeg_quality=81) is None  # nearest 90: held
    P = np.full((3, len(b.members)), 0.9)
    with pytest.raises(ValueError, match="jpeg_quality"):
        b.face_verdicts(P, {})
    _p, v = b.face_verdicts(P, {}, jpeg_quality=[90, 40, NO_TRACE])
    assert v[1] == "uncertain" and v[0] == v[2] == "fake"
    loaded = EnsembleBundle.from_dict(json.loads(json.dumps(b.to_dict())))
    assert loaded.compression.failing_levels_ == [30, 70] and loaded.verdict(0.9, jpeg_quality=45) == "uncertain"
    off = _bundle_with_check(bundle, None)  # measured and not needed
    assert off.verdict(0.9, jpeg_quality=20) == "fake" and off.face_verdicts(P, {})[1][1] == "fake"
    older = {k: v for k, v in b.to_dict().items() if k != "compression"}  # bundles before the check
    assert EnsembleBundle.from_dict(older).compression is None


def _detector(tiny, tmp_path, max_quality: int | None) -> Detector:
    folder, bundle = tiny
    dst = tmp_path / f"check_{max_quality}"
    shutil.copytree(folder, dst)
    _bundle_with_check(bundle, max_quality).save(dst)
    return Detector.from_dir(dst)


def test_engine_makes_a_heavily_compressed_photo_uncertain_and_says_why(tiny, feat_data, tmp_path):
    det = _detector(tiny, tmp_path, 70)
    given = det.analyze(feat_data / "single_face.jpg")  # a JPEG of quality ~92
    assert given.verdict in ("real", "fake") and given.uncertain_reason is None
    assert given.compression["jpeg_quality"] > 85 and not given.compression["flagged"] and given.compression["active"]
    path = tmp_path / "heavy.jpg"
    cv2.imwrite(str(path), cv2.imread(str(feat_data / "single_face.jpg")), [cv2.IMWRITE_JPEG_QUALITY, 35])
    res = det.analyze(path)
    assert res.verdict == "uncertain" and res.p_fake is not None  # the score is still shown
    assert res.compression["flagged"] and res.compression["failing_levels"] == [30, 70]
    assert abs(res.compression["jpeg_quality"] - 35) <= 3 and res.uncertain_reason.startswith(COMPRESSION_REASON)
    assert "compression" in res.timings
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["compression"]["flagged"] and d["uncertain_reason"] == res.uncertain_reason
    # the check measured as not needed: the same photo keeps the verdict its score gives
    off = _detector(tiny, tmp_path, None).analyze(path)
    assert not off.compression["active"] and off.uncertain_reason is None
    assert off.verdict == ("fake" if off.p_fake >= 0.5 else "real")
    # a video has no JPEG grid to read: no compression field, no such reason
    video = det.analyze(feat_data / "single_face.mp4", frames=4)
    assert video.compression is None and video.to_dict()["compression"] is None


def test_app_says_in_plain_words_why_a_compressed_photo_is_uncertain():
    from gui.formatting import out_of_domain_text

    heavy = SimpleNamespace(uncertain_reason=f"{COMPRESSION_REASON} (...)", ood={"out_of_domain": False},
                            sharpness={"soft": False, "active": True},
                            compression={"jpeg_quality": 34.0, "failing_levels": [30, 50], "flagged": True,
                                         "active": True})
    text = out_of_domain_text(heavy)
    assert "JPEG of quality about 34" in text and "wrong too often" in text and "out of domain for" not in text
    # a face flagged soft by an inactive sharpness check (faces140k's): the compression reason still shows
    inactive_soft = SimpleNamespace(**{**vars(heavy), "sharpness": {"soft": True, "active": False}})
    assert out_of_domain_text(inactive_soft) == text
    ood = SimpleNamespace(uncertain_reason="unlike ...", ood={"out_of_domain": True, "members_out": ["cnn"],
                                                               "all_out": True}, compression=heavy.compression)
    assert "unlike the data" in out_of_domain_text(ood)  # the out-of-domain reason comes first, as in the engine


def test_report_compares_verdicts_with_and_without_the_check(tiny, faces):
    from dfd.evaluation.report import compressed_verdicts_table

    folder, bundle = tiny
    b = _bundle_with_check(bundle, 30)
    y = np.arange(12) % 2
    table = compressed_verdicts(b, _models(folder, b), faces[:12], y)
    assert list(table.input.unique()) == ["clean", "JPEG 70", "JPEG 50", "JPEG 30"]
    row = table.set_index(["input", "rule"])
    assert row.loc[("clean", "with the check"), "decided"] == 1.0 and row.loc[("clean", "with the check"), "flagged"] == 0
    # the crops read nearest the failing level 30 (JPEG 50 reads ~49: nearer 30 than 70) are undecided with
    # the check and decided without it; JPEG 70, nearest a level that held, is decided either way
    for q in (50, 30):
        assert row.loc[(f"JPEG {q}", "with the check"), "flagged"] == 1.0
        assert row.loc[(f"JPEG {q}", "with the check"), "decided"] == 0.0
        assert row.loc[(f"JPEG {q}", "without the check"), "decided"] == 1.0
    assert row.loc[("JPEG 70", "with the check"), "flagged"] == 0.0
    assert row.loc[("JPEG 70", "with the check"), "decided"] == 1.0
    text = "\n".join(compressed_verdicts_table(table.replace({np.nan: None}).to_dict(orient="records"),
                                               b.compression.to_dict()))
    assert "**active**" in text and "30: 0.600 (30/50" in text and "| JPEG 30 | with the check | 100% | 0.0% |" in text
    np.testing.assert_array_equal(compressed(faces[:2], 50), np.stack([_jpeg(f, 50) for f in faces[:2]]))
