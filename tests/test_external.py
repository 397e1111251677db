"""External evaluation (dfd.external): labels from folders or a manifest, metrics per kind and
source, the per-file cache, and the entry function's outputs."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfd.errors import DfdError
from dfd.external import CACHE_FILE, collect_labels, evaluate_external, group_rows, read_cache
from dfd.inference import AnalysisResult
from dfd.inference.results import VERDICTS
from tests.conftest import SHARED
from tests.corpus import _write_video, make_tiny_bundle

CROSSDOMAIN = SHARED / "crossdomain_dev"


def _png(path: Path, value: int = 120) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (value, 90, 70)).save(path)
    return path


def _clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_video(path, [np.full((48, 64, 3), v, np.uint8) for v in (30, 90, 150)])


class ScriptedDetector:
    """Stands in for ``Detector``: the score is in the file name (``p0.30.png`` → 0.30;
    ``noface*`` → no face; ``broken*`` → error), the verdict from a 0.4-0.6 uncertain band."""

    def __init__(self, model_ids=("cnn@000000000000",)):
        self.model_ids = list(model_ids)
        self.bundle = SimpleNamespace(threshold=0.5, uncertain_band=(0.4, 0.6))
        self.calls: list[str] = []

    def analyze(self, path, frames: int = 32) -> AnalysisResult:
        self.calls.append(str(path))
        stem = Path(path).stem
        p = float(stem[1:]) if stem.startswith("p") else None
        verdict = ("no_face" if stem.startswith("noface") else "error" if p is None
                   else "fake" if p >= 0.6 else "real" if p < 0.4 else "uncertain")
        kind = "video" if Path(path).suffix == ".avi" else "image"
        return AnalysisResult(
            path=str(path), kind=kind, verdict=verdict, p_fake=p, member_scores={} if p is None else {"cnn": p},
            faces=[], frames=[], suspicious_frames=[], timings={"total": 0.25}, models=self.model_ids,
            threshold=0.5, uncertain_band=(0.4, 0.6), error="cannot decode" if verdict == "error" else None)


def _scripted_folder(root: Path) -> Path:
    """real/: 3 scored images, one without a face and a clip; fake/gan/ and fake/swap/: 2
    images each; fake/clips/: a clip; misc/: an unlabelled image (10 labelled files)."""
    for name in ("p0.10", "p0.45", "p0.70", "noface1"):
        _png(root / "real" / f"{name}.png")
    for name in ("p0.50", "p0.90"):
        _png(root / "fake" / "gan" / f"{name}.png")
    for name in ("p0.30", "p0.80"):
        _png(root / "fake" / "swap" / f"{name}.png")
    _clip(root / "real" / "p0.20.avi")
    _clip(root / "fake" / "clips" / "p0.65.avi")
    _png(root / "misc" / "p0.99.png")
    return root


# --------------------------------------------------------------------------- labels
def test_labels_from_folder_names(tmp_path):
    _png(tmp_path / "set" / "Real" / "a.png")
    _png(tmp_path / "set" / "fake" / "gan" / "b.png")
    _png(tmp_path / "set" / "fake" / "c.png")
    _png(tmp_path / "set" / "real" / "fake" / "d.png")  # the deepest label folder wins
    _clip(tmp_path / "set" / "fake" / "swap" / "e.avi")
    _png(tmp_path / "set" / "misc" / "f.png")
    (tmp_path / "set" / "real" / "notes.txt").write_text("not media\n")
    labelled = collect_labels(tmp_path / "set")
    assert labelled.origin == "folders"
    assert labelled.name == "set"
    got = {r.rel: (r.label, r.source, r.kind) for r in labelled.files.itertuples()}
    assert got == {
        "Real/a.png": (0, "real", "image"),
        "fake/gan/b.png": (1, "gan", "image"),
        "fake/c.png": (1, "fake", "image"),
        "real/fake/d.png": (1, "fake", "image"),
        "fake/swap/e.avi": (1, "swap", "video"),
    }
    assert labelled.unlabelled == ["misc/f.png"]
    assert labelled.missing == []


def test_labels_from_manifest(tmp_path):
    root = tmp_path / "bench"
    _png(root / "images" / "x1.png")
    _png(root / "images" / "x2.png")
    _png(root / "images" / "x3.png")
    _clip(root / "videos" / "v1.avi")
    _png(root / "real" / "not_in_manifest.png")  # the manifest wins over folder names
    pd.DataFrame({
        "path": ["images/x1.png", "images/x2.png", "images/x3.png", "videos/v1.avi"],
        "kind": ["image", "image", "image", "video"],
        "label": ["real", "FAKE", "1", "0"],
        "source": ["utk", "sd", "sd", "ffpp"],
        "method": ["real", "inpaint", "", ""],
    }).to_csv(root / "manifest.csv", index=False)
    labelled = collect_labels(root)
    assert labelled.origin == "manifest"
    got = {r.rel: (r.label, r.source, r.kind) for r in labelled.files.itertuples()}
    assert got == {
        "images/x1.png": (0, "utk", "image"),  # a method that only repeats the label adds nothing
        "images/x2.png": (1, "sd/inpaint", "image"),
        "images/x3.png": (1, "sd", "image"),
        "videos/v1.avi": (0, "ffpp", "video"),
    }
    assert labelled.unlabelled == ["real/not_in_manifest.png"]


def test_refuses_a_folder_without_labels(tmp_path):
    _png(tmp_path / "photos" / "a.png")
    _png(tmp_path / "photos" / "holiday" / "b.png")
    with pytest.raises(DfdError, match="no labelled files.*`real` or `fake`"):
        collect_labels(tmp_path / "photos")
    with pytest.raises(DfdError, match="does not exist"):
        collect_labels(tmp_path / "nowhere")


@pytest.mark.parametrize("manifest, message", [
    ("path,label\na.png,real\n", "lacks the column.*source"),
    ("path,label,source\na.png,forged,web\n", "label other than real/fake"),
    ("path,label,source\na.png,real,web\na.png,real,web\n", "more than once"),
    ("path,label,source\nmissing.png,real,web\n", "none of the files named"),
])
def test_refuses_a_bad_manifest(tmp_path, manifest, message):
    _png(tmp_path / "a.png")
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(DfdError, match=message):
        collect_labels(tmp_path)


def test_file_in_manifest_but_missing_on_disk(tmp_path):
    root = tmp_path / "bench"
    _png(root / "p0.20.png")
    _png(root / "p0.90.png")
    (root / "manifest.csv").write_text("path,label,source\np0.20.png,real,web\np0.90.png,fake,gan\n"
                                       "gone/p0.70.png,fake,gan\n")
    labelled = collect_labels(root)
    assert labelled.missing == ["gone/p0.70.png"]
    assert list(labelled.files.rel) == ["p0.20.png", "p0.90.png"]
    det = ScriptedDetector()
    report = evaluate_external(root, detector=det, out_dir=tmp_path / "out", n_boot=0, progress=False)
    assert sorted(Path(c).name for c in det.calls) == ["p0.20.png", "p0.90.png"]  # nothing asked of a missing file
    metrics = json.loads(report.files["metrics"].read_text())
    assert metrics["missing"] == ["gone/p0.70.png"] and metrics["n_files"] == 2
    assert "missing on disk" in report.files["results"].read_text() and "gone/p0.70.png" in report.files["results"].read_text()


# --------------------------------------------------------------------------- metrics per group
def _constructed_table() -> pd.DataFrame:
    rows = [  # kind, label, source, p_fake, verdict, seconds
        ("video", 0, "ffpp", 0.10, "real", 1.0), ("video", 0, "ffpp", 0.45, "uncertain", 2.0),
        ("video", 0, "ffpp", 0.70, "fake", 3.0), ("video", 0, "ffpp", None, "no_face", 2.0),
        ("video", 1, "df", 0.50, "uncertain", 1.0), ("video", 1, "df", 0.90, "fake", 1.0),
        ("video", 1, "fs", 0.30, "real", 2.0), ("video", 1, "fs", 0.80, "fake", 2.0),
        ("video", 1, "fs", None, "error", 2.0),
        ("image", 0, "utk", 0.20, "real", 0.1), ("image", 0, "utk", 0.60, "fake", 0.3),
        ("image", 1, "gan", 0.10, "real", 0.2), ("image", 1, "gan", 0.30, "real", 0.2),
    ]
    return pd.DataFrame(rows, columns=["kind", "label", "source", "p_fake", "verdict", "seconds"])


def test_metrics_per_group_by_hand():
    rows = {(r["kind"], r["group"]): r for r in group_rows(_constructed_table(), threshold=0.5, n_boot=0)}
    assert list(rows) == [("video", "pooled"), ("video", "ffpp"), ("video", "df"), ("video", "fs"),
                          ("image", "pooled"), ("image", "utk"), ("image", "gan")]
    df = rows["video", "df"]
    # df fakes (0.50, 0.90) against the 3 scored real videos (0.10, 0.45, 0.70): 5 of 6 pairs ranked right
    assert df["metrics"]["roc_auc"]["value"] == pytest.approx(5 / 6)
    assert (df["scored_real"], df["scored_fake"]) == (3, 2)
    # ranked 0.90 F, 0.70 R, 0.50 F, ...: precision 1 at recall 1/2, 2/3 at recall 1
    assert df["metrics"]["average_precision"]["value"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    expected_ll = -(math.log(0.9) + math.log(0.55) + math.log(0.3) + math.log(0.5) + math.log(0.9)) / 5
    assert df["metrics"]["log_loss"]["value"] == pytest.approx(expected_ll)
    # one score per 1/15-wide bin, so ECE is the mean |p - y|
    assert df["metrics"]["ece"]["value"] == pytest.approx((0.1 + 0.45 + 0.7 + 0.5 + 0.1) / 5)
    assert df["metrics"]["roc_auc"]["ci_low"] is None  # n_boot=0: no interval
    fs = rows["video", "fs"]
    assert fs["metrics"]["roc_auc"]["value"] == pytest.approx(4 / 6)  # 0.30 beats 0.10 only; 0.80 beats all three
    assert fs["shares"]["error"] == pytest.approx(1 / 3) and fs["verdicts"]["error"] == 1
    assert fs["fakes_called_fake"] == 1 and fs["share_fakes_called_fake"] == pytest.approx(1 / 3)
    pooled = rows["video", "pooled"]
    assert pooled["metrics"]["roc_auc"]["value"] == pytest.approx(9 / 12)
    assert (pooled["n"], pooled["n_real"], pooled["n_fake"]) == (9, 4, 5)
    assert pooled["shares"]["no_face"] == pytest.approx(1 / 9) and pooled["shares"]["fake"] == pytest.approx(3 / 9)
    assert pooled["label"] == "mixed"
    real = rows["video", "ffpp"]
    assert real["label"] == "real"
    assert real["metrics"]["roc_auc"]["value"] == pytest.approx(9 / 12)  # the reals against every fake video
    assert (real["reals_called_fake"], real["n_real"]) == (1, 4)
    assert real["share_reals_called_fake"] == pytest.approx(0.25)
    assert real["shares"] == {"real": 0.25, "fake": 0.25, "uncertain": 0.25, "no_face": 0.25, "error": 0.0}
    assert real["seconds_mean"] == pytest.approx(2.0) and real["seconds_median"] == pytest.approx(2.0)
    # images against the real images only: 0.10 beats neither real photo, 0.30 beats 0.20
    assert rows["image", "gan"]["metrics"]["roc_auc"]["value"] == pytest.approx(1 / 4)
    assert rows["image", "pooled"]["share_reals_called_fake"] == pytest.approx(0.5)
    assert set(rows["image", "utk"]["verdicts"]) == set(VERDICTS)


def test_bootstrap_interval_brackets_the_value():
    rng = np.random.default_rng(0)
    n = 60
    table = pd.DataFrame({"kind": "image", "label": np.arange(n) % 2, "source": np.where(np.arange(n) % 2, "gan", "web"),
                          "p_fake": np.clip(0.3 + 0.4 * (np.arange(n) % 2) + rng.normal(0, 0.2, n), 0, 1),
                          "verdict": "real", "seconds": 0.1})
    gan = [r for r in group_rows(table, n_boot=200) if r["group"] == "gan"][0]["metrics"]["roc_auc"]
    assert gan["ci_low"] <= gan["value"] <= gan["ci_high"] and gan["ci_high"] - gan["ci_low"] > 0.01


# --------------------------------------------------------------------------- cache and outputs
def test_cache_resumes_and_reanalyses_what_changed(tmp_path):
    root = _scripted_folder(tmp_path / "set")
    out = tmp_path / "out"
    det = ScriptedDetector()
    first = evaluate_external(root, detector=det, out_dir=out, n_boot=0, progress=False)
    assert len(det.calls) == 10 and first.summary["analysed_now"] == 10
    again = ScriptedDetector()
    second = evaluate_external(root, detector=again, out_dir=out, n_boot=0, progress=False)
    assert again.calls == [] and second.summary["from_cache"] == 10  # nothing analysed twice
    pd.testing.assert_frame_equal(first.table.drop(columns="cached"), second.table.drop(columns="cached"))
    # an interruption: the last line half written, another never written
    cache = out / CACHE_FILE
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2])
    resumed = ScriptedDetector()
    evaluate_external(root, detector=resumed, out_dir=out, n_boot=0, progress=False)
    assert len(resumed.calls) == 2
    # a changed file and a retrained bundle are analysed again
    changed = root / "real" / "p0.10.png"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    after_edit = ScriptedDetector()
    evaluate_external(root, detector=after_edit, out_dir=out, n_boot=0, progress=False)
    assert after_edit.calls == [str(changed)]
    retrained = ScriptedDetector(model_ids=("cnn@111111111111",))
    evaluate_external(root, detector=retrained, out_dir=out, n_boot=0, progress=False)
    assert len(retrained.calls) == 10
    assert all(e["key"]["models"] == ["cnn@111111111111"] for e in read_cache(cache).values())
    # the same member files in a re-fitted bundle (other band, ensemble or OOD scorers): analysed again
    refitted = ScriptedDetector(model_ids=("cnn@111111111111",))
    refitted.bundle_id = "abcdef012345"
    evaluate_external(root, detector=refitted, out_dir=out, n_boot=0, progress=False)
    assert len(refitted.calls) == 10
    assert all(e["key"]["bundle"] == "abcdef012345" for e in read_cache(cache).values())


def test_entry_function_writes_every_output(tmp_path):
    root = _scripted_folder(tmp_path / "set")
    report = evaluate_external(root, detector=ScriptedDetector(), dataset="tiny", out_dir=tmp_path / "out",
                               n_boot=50, progress=False)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"metrics.json", "results.md", "per_file.csv", CACHE_FILE, "figures"}
    assert {p.name for p in (out / "figures").iterdir()} == {
        "roc_image.png", "hist_image.png", "reliability_image.png",
        "reliability_image_real.png", "reliability_image_gan.png", "reliability_image_swap.png",
        "roc_video.png", "hist_video.png", "reliability_video.png",
        "reliability_video_real.png", "reliability_video_clips.png"}
    assert set(report.figures) == set((out / "figures").iterdir())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unlabelled"] == ["misc/p0.99.png"] and metrics["origin"] == "folders"
    assert metrics["threshold"] == 0.5 and metrics["band"] == [0.4, 0.6] and metrics["dataset"] == "tiny"
    groups = {(g["kind"], g["group"]): g for g in metrics["groups"]}
    assert set(groups) == {("image", "pooled"), ("image", "real"), ("image", "gan"), ("image", "swap"),
                           ("video", "pooled"), ("video", "real"), ("video", "clips")}
    assert groups["image", "gan"]["metrics"]["roc_auc"]["value"] == pytest.approx(5 / 6)
    assert groups["image", "real"]["shares"]["no_face"] == pytest.approx(0.25)
    per_file = pd.read_csv(out / "per_file.csv")
    assert len(per_file) == 10 and set(per_file.label) == {"real", "fake"}
    assert list(per_file.columns[:5]) == ["path", "kind", "label", "source", "verdict"]
    assert "p_cnn" in per_file.columns
    row = per_file.set_index("path").loc["fake/gan/p0.90.png"]
    assert (row.verdict, row.p_fake, row.p_cnn) == ("fake", 0.9, 0.9)
    text = (out / "results.md").read_text()
    assert "## Images" in text and "## Videos" in text and "against every real file of the same kind" in text
    assert "| gan | 0/2 | 3/2 | 0.833 [" in text
    assert "| ECE | Brier |" in text
    gan = groups["image", "gan"]["metrics"]["brier"]["value"]
    assert f"{gan:.3f}" in text.split("| gan |")[1].split("\n")[0]
    assert report.out_dir == out


def test_default_output_folder_is_under_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("DFD_HOME", str(tmp_path / "home"))
    root = _scripted_folder(tmp_path / "mybench")
    report = evaluate_external(root, detector=ScriptedDetector(), dataset="tiny", n_boot=0, progress=False,
                               limit=1)
    assert report.out_dir == tmp_path / "home" / "reports" / "tiny" / "external" / "mybench"
    assert (report.out_dir / "metrics.json").is_file()
    # limit=1: one file per kind, label and source
    assert len(report.table) == 5


@pytest.mark.slow
def test_tiny_bundle_through_the_engine(tmp_path, feat_data):
    """The real engine (Detector.from_dir) on a generated folder: a face photo, a landscape
    with no face and a face video, both labels."""
    bundle = make_tiny_bundle(tmp_path / "bundle")
    root = tmp_path / "folder"
    for label, name in (("real", "single_face.jpg"), ("fake", "0-f1-su-ph.jpg"), ("real", "free-mountain-vector-01.jpg")):
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(feat_data / name, root / label / name)
    (root / "fake" / "clips").mkdir()
    shutil.copyfile(feat_data / "single_face.mp4", root / "fake" / "clips" / "single_face.mp4")
    report = evaluate_external(root, models=bundle, dataset="tiny", out_dir=tmp_path / "out", frames=4,
                               n_boot=0, progress=False)
    per_file = pd.read_csv(tmp_path / "out" / "per_file.csv").set_index("path")
    assert per_file.loc["real/free-mountain-vector-01.jpg", "verdict"] == "no_face"
    for path in ("real/single_face.jpg", "fake/0-f1-su-ph.jpg", "fake/clips/single_face.mp4"):
        assert per_file.loc[path, "verdict"] in ("real", "fake", "uncertain")
        assert 0.0 <= per_file.loc[path, "p_fake"] <= 1.0
    assert per_file.loc["fake/clips/single_face.mp4", "kind"] == "video"
    keys = [e["key"] for e in read_cache(tmp_path / "out" / CACHE_FILE).values()]
    assert all(k["models"] == report.summary["models"] and k["frames"] == 4 for k in keys)
    from dfd.inference import Detector

    engine = Detector.from_dir(bundle)
    assert all(k["bundle"] == engine.bundle_id and len(k["bundle"]) == 12 for k in keys)
    data = json.loads((bundle / "bundle.json").read_text())
    data["uncertain_band"] = [0.0, 0.5]  # another band, the same member files: another bundle id
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    (other / "bundle.json").write_text(json.dumps(data))
    assert Detector.from_dir(other).bundle_id != engine.bundle_id
    # when it was saved is not what it is
    (other / "bundle.json").write_text(json.dumps({**json.loads((bundle / "bundle.json").read_text()),
                                                   "created": "another day"}))
    assert Detector.from_dir(other).bundle_id == engine.bundle_id


@pytest.mark.shared
def test_crossdomain_dev_labels():
    if not (CROSSDOMAIN / "manifest.csv").is_file():
        pytest.skip("../shared/datasets/crossdomain_dev is not available")
    labelled = collect_labels(CROSSDOMAIN)
    assert labelled.origin == "manifest" and labelled.missing == [] and labelled.unlabelled == []
    counts = labelled.files.groupby(["kind", "label", "source"]).size().to_dict()
    assert counts[("video", 0, "ffpp")] == 24
    assert counts[("video", 1, "ffpp-df")] + counts[("video", 1, "ffpp-f2f")] + counts[("video", 1, "ffpp-fs")] == 48
    assert counts[("image", 0, "utkface")] == 260
    assert counts[("image", 1, "tpdne")] == 160 and counts[("image", 1, "sdfd")] == 160


def test_recombine_inverts_member_calibrators_and_rescores():
    from types import SimpleNamespace

    from dfd.evaluation import MeanEnsemble, TemperatureScaler
    from dfd.external.recalibration import raw_member_scores, recombine, rescored_rows

    rng = np.random.default_rng(0)
    raw = rng.uniform(0.02, 0.98, (8, 2))
    y = np.array([0, 1] * 4)
    ens = MeanEnsemble().fit(raw, y)
    bundle = SimpleNamespace(member_names=["a", "b"], ensemble=ens, calibrator=TemperatureScaler(2.0),
                             member_calibrators={"a": TemperatureScaler(0.5), "b": TemperatureScaler(3.0)})
    per_file = pd.DataFrame({"kind": "image", "source": ["real", "gan"] * 4, "label": ["real", "fake"] * 4,
                             "verdict": "uncertain", "seconds": 0.1,
                             "p_a": bundle.member_calibrators["a"].transform(raw[:, 0]),
                             "p_b": bundle.member_calibrators["b"].transform(raw[:, 1])})
    per_file.loc[7, ["p_a", "p_b"]] = np.nan  # a file without a score
    back = raw_member_scores(per_file, bundle)
    assert np.allclose(back[:7], raw[:7]) and np.isnan(back[7]).all()
    p = recombine(per_file, bundle, ens, bundle.calibrator)
    assert np.allclose(p[:7], bundle.calibrator.transform(raw[:7].mean(axis=1))) and np.isnan(p[7])
    softer = recombine(per_file, bundle, ens, TemperatureScaler(10.0))
    assert np.all(np.abs(softer[:7] - 0.5) < np.abs(p[:7] - 0.5))
    rows = {(r["kind"], r["group"]): r for r in rescored_rows(per_file, p)}
    assert rows["image", "pooled"]["scored_real"] == 4 and rows["image", "pooled"]["scored_fake"] == 3
    with pytest.raises(ValueError, match="p_b"):
        raw_member_scores(per_file.drop(columns="p_b"), bundle)


class _SharpnessDetector(ScriptedDetector):
    """Scores a photo by its sharpness (variance of the Laplacian, squashed to 0-1), so a
    degraded copy scores differently from its original: what reaches the detector is the copy."""

    def analyze(self, path, frames: int = 32) -> AnalysisResult:
        import cv2

        self.calls.append(str(path))
        grey = cv2.cvtColor(np.asarray(Image.open(path).convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float64)
        p = float(1 - math.exp(-cv2.Laplacian(grey, cv2.CV_64F).var() / 2000))
        return AnalysisResult(
            path=str(path), kind="image", verdict="fake" if p >= 0.6 else "real" if p < 0.4 else "uncertain",
            p_fake=p, member_scores={"cnn": p}, faces=[], frames=[], suspicious_frames=[], timings={"total": 0.1},
            models=self.model_ids, threshold=0.5, uncertain_band=(0.4, 0.6))


def test_external_robustness_degrades_each_photo_and_reports_the_fall(tmp_path):
    from dfd.evaluation.corruptions import corrupt_one
    from dfd.external.robustness import EXTERNAL_CORRUPTIONS, markdown, robustness_table

    rng = np.random.default_rng(0)
    root = tmp_path / "set"
    for i in range(4):  # real: smooth textures; fake: sharp ones (the stand-in detector tells them apart)
        for label, sigma in (("real", 3.0), ("fake/gan", 0.0)):
            img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            img = img if sigma == 0 else np.asarray(Image.fromarray(img).resize((16, 16)).resize((64, 64)))
            (root / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / label / f"{i}.png")
    _clip(root / "real" / "clip.avi")  # videos are not degraded
    labelled = collect_labels(root)
    det = _SharpnessDetector()
    out = tmp_path / "report"
    table = robustness_table(labelled, det, out, n_boot=50)
    assert [(r.corruption, r.group) for r in table.itertuples() if r.group == "gan"] == \
        [("none", "gan")] + [(k, "gan") for k, _lv in EXTERNAL_CORRUPTIONS]
    clean = table[(table.corruption == "none") & (table.group == "gan")].iloc[0]
    assert clean.roc_auc == 1.0 and (clean.n_fake, clean.n_real) == (4, 4)
    for kind, level in EXTERNAL_CORRUPTIONS:
        copy = out / "robustness" / f"{kind}_{level:g}" / "files" / "fake" / "gan" / "0.png.png"
        original = np.asarray(Image.open(root / "fake" / "gan" / "0.png").convert("RGB"))
        assert np.array_equal(np.asarray(Image.open(copy).convert("RGB")),
                              corrupt_one(original, kind, level, np.random.default_rng(0)))
        row = table[(table.corruption == kind) & (table.group == "gan")].iloc[0]
        assert row.fall == pytest.approx(clean.roc_auc - row.roc_auc)
    assert not any(c.endswith(".avi") for c in det.calls)
    n_calls = len(det.calls)
    assert n_calls == 8 * (1 + len(EXTERNAL_CORRUPTIONS))
    again = robustness_table(labelled, det, out, n_boot=50)  # every copy and result cached
    assert len(det.calls) == n_calls and again.roc_auc.tolist() == table.roc_auc.tolist()
    text = markdown(table)
    assert "| jpeg_quality | 50 | gan | 4 / 4 |" in text and "Photos only" in text
    assert set(table.group) == {"pooled", "gan"} and "nan" not in text
