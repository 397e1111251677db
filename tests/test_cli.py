"""``python -m dfd scan | info``: output formats, exit codes, explanations, messages."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dfd import cli
from tests.corpus import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle"))


@pytest.fixture(autouse=True, scope="module")
def reuse_detectors():
    """Each ``scan`` builds a Detector, as a real CLI process does; the tests share one per
    untouched models folder so graph tracing is paid once (a changed file is a new key)."""
    from dfd.inference import Detector

    real = Detector.from_dir.__func__
    cache = {}

    def cached(cls, models_dir=None, verify=True, limits=None):
        folder = Path(models_dir).resolve()
        key = (folder, verify, tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                                            for p in folder.iterdir() if p.is_file())))
        if key not in cache:
            cache[key] = real(cls, models_dir, verify, limits)
        return cache[key]

    mp = pytest.MonkeyPatch()
    mp.setattr(Detector, "from_dir", classmethod(cached))
    yield
    mp.undo()


def _with_operating_point(src: Path, dst: Path, threshold: float, band) -> Path:
    """A copy of the bundle whose decision rule makes every face fake (or real)."""
    shutil.copytree(src, dst)
    data = json.loads((dst / "bundle.json").read_text())
    data["threshold"], data["uncertain_band"] = threshold, list(band)
    (dst / "bundle.json").write_text(json.dumps(data))
    return dst


@pytest.fixture(scope="module")
def all_fake(bundle_dir, tmp_path_factory):
    return _with_operating_point(bundle_dir, tmp_path_factory.mktemp("fake") / "m", 0.0, (0.0, 0.0))


@pytest.fixture(scope="module")
def all_real(bundle_dir, tmp_path_factory):
    return _with_operating_point(bundle_dir, tmp_path_factory.mktemp("real") / "m", 1.0, (1.0, 1.0))


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_documents_exit_codes(capsys):
    code, out, _ = run(capsys, "scan", "--help")
    assert code == 0
    for text in ("--models", "--json", "--csv", "--frames", "--explain-dir", "exit codes", "0  every file",
                 "1  at least one file is fake or uncertain", "2  usage error", "3  some files",
                 "no_face_reason", "decided_by", "tracks"):
        assert text in out
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "scan" in out and "info" in out and "exit codes" in out


def test_usage_errors(capsys, tmp_path):
    assert run(capsys)[0] == 2
    assert run(capsys, "scan")[0] == 2  # argparse: PATH is required
    assert run(capsys, "scan", "--json", "--csv", "x.jpg")[0] == 2
    code, _, err = run(capsys, "scan", "--frames", "0", "x.jpg")
    assert code == 2 and "--frames" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "scan", tmp_path / "empty", "--models", tmp_path)
    assert code == 2 and "no image or video files" in err
    code, _, err = run(capsys, "scan", "", "--models", tmp_path)  # "" would mean the current folder
    assert code == 2 and "empty path" in err


def test_missing_models_say_make_reproduce(capsys, tmp_path, feat_data, monkeypatch):
    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    code, out, err = run(capsys, "scan", feat_data / "single_face.jpg")
    assert code == 2 and out == ""
    assert "make reproduce" in err and str(tmp_path / "models" / "dfd-default") in err
    code, _, err = run(capsys, "info", tmp_path / "models" / "dfd-default")
    assert code == 2 and "make reproduce" in err


def test_scan_json_lines(capsys, bundle_dir, feat_data, tmp_path):
    missing = tmp_path / "missing.jpg"
    code, out, err = run(capsys, "scan", feat_data / "single_face.jpg", feat_data / "free-mountain-vector-01.jpg",
                         missing, "--models", bundle_dir, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(d["path"]).name for d in lines] == ["single_face.jpg", "free-mountain-vector-01.jpg", "missing.jpg"]
    face, landscape, gone = lines
    assert face["verdict"] in ("real", "fake", "uncertain") and 0 <= face["p_fake"] <= 1
    assert set(face["member_scores"]) == {"cnn", "cnn_lstm", "resnext"}
    assert len(face["faces"]) == 1 and len(face["faces"][0]["box"]) == 4
    assert landscape["verdict"] == "no_face" and landscape["p_fake"] is None
    assert landscape["no_face_reason"] == "no face found" and face["no_face_reason"] is None
    assert face["decided_by"] == 0 and face["tracks"] == [] and landscape["decided_by"] is None
    assert gone["verdict"] == "error" and "not found" in gone["error"]
    expected = 1 if face["verdict"] in ("fake", "uncertain") else 3
    assert code == expected
    assert "scanning" in err  # the progress bar is on stderr, never in the JSON


def test_exit_codes(capsys, all_fake, all_real, feat_data, tmp_path):
    photo, landscape = feat_data / "single_face.jpg", feat_data / "free-mountain-vector-01.jpg"
    assert run(capsys, "scan", photo, landscape, "--models", all_real, "--no-progress")[0] == 0
    assert run(capsys, "scan", photo, "--models", all_fake, "--no-progress")[0] == 1
    assert run(capsys, "scan", photo, tmp_path / "nope.png", "--models", all_fake, "--no-progress")[0] == 1
    code, out, _ = run(capsys, "scan", photo, tmp_path / "nope.png", "--models", all_real, "--no-progress")
    assert code == 3 and [json.loads(x)["verdict"] for x in out.splitlines()] == ["real", "error"]


def test_scan_csv_and_video(capsys, all_real, feat_data):
    code, out, _ = run(capsys, "scan", feat_data / "single_face.mp4", feat_data / "single_face.jpg",
                       "--models", all_real, "--csv", "--frames", "3", "--no-progress")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["kind"] for r in rows] == ["video", "image"]
    assert all(r["verdict"] == "real" for r in rows)
    assert set(rows[0]) >= {"path", "verdict", "p_fake", "error", "p_cnn", "p_cnn_lstm", "p_resnext"}
    assert 0 <= float(rows[0]["p_fake"]) <= 1 and int(rows[0]["n_faces"]) == 3
    assert [r["no_face_reason"] for r in rows] == ["", ""]
    code, out, _ = run(capsys, "scan", feat_data / "free-mountain-vector-01.jpg", "--models", all_real, "--csv",
                       "--no-progress")
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["verdict"] == "no_face" and row["no_face_reason"] == "no face found" and row["error"] == ""


def test_explain_dir(capsys, bundle_dir, feat_data, tmp_path):
    out_dir = tmp_path / "heat"
    code, out, _ = run(capsys, "scan", feat_data / "single_face.jpg", "--models", bundle_dir,
                       "--explain-dir", out_dir, "--no-progress")
    assert code in (0, 1)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(f"0000_single_face_face0_{n}.png" for n in ("crop", "cnn", "cnn_lstm", "resnext"))
    from dfd.io.images import load_image

    assert load_image(out_dir / "0000_single_face_face0_cnn.png").shape == (128, 128, 3)


def test_info_model_and_bundle(capsys, bundle_dir, feat_data, tmp_path):
    code, out, _ = run(capsys, "info", bundle_dir / "cnn.h5")
    card = json.loads(out)
    assert code == 0 and card["architecture"] == "cnn" and card["face_stage"]["crop_size"] == 128
    assert out.startswith("{\n  ")  # pretty
    code, out, _ = run(capsys, "info", bundle_dir)
    info = json.loads(out)
    assert code == 0 and info["verified"] is True and [m["name"] for m in info["members"]] == ["cnn", "cnn_lstm", "resnext"]
    assert set(info["cards"]) == {"cnn", "cnn_lstm", "resnext"} and "threshold" in info
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle_dir, tampered)
    data = bytearray((tampered / "cnn.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / "cnn.h5").write_bytes(bytes(data))
    code, out, _ = run(capsys, "info", tampered)
    assert code == 0 and json.loads(out)["verified"] is False and "SHA-256" in json.loads(out)["verification"]
    code, out, err = run(capsys, "scan", feat_data / "single_face.jpg", "--models", tampered)
    assert code == 2 and "SHA-256" in err and out == ""
    code, _, err = run(capsys, "info", tmp_path / "nothing.h5")
    assert code == 2 and "does not exist" in err


def test_python_m_dfd_end_to_end(bundle_dir, feat_data):
    """The real entry point in a fresh process (no network needed, JSON on stdout only)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "dfd", "scan", str(feat_data / "free-mountain-vector-01.jpg"), "--models", str(bundle_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["verdict"] == "no_face"
    assert "scanning" in proc.stderr


def _phone_folder(tmp_path, feat_data):
    from tests.media_corpus import make_phone_folder

    make_phone_folder(tmp_path / "DCIM", feat_data / "single_face.jpg", feat_data / "single_face.mp4")
    return tmp_path / "DCIM"


def test_scan_lists_skipped_files_in_json_and_on_stderr(capsys, all_real, feat_data, tmp_path):
    from tests.media_corpus import ANALYSED, SKIPPED

    folder = _phone_folder(tmp_path, feat_data)
    code, out, err = run(capsys, "scan", folder, "--models", all_real, "--frames", "4", "--no-progress")
    rows = [json.loads(line) for line in out.splitlines()]
    analysed, skipped = rows[: len(ANALYSED)], rows[len(ANALYSED):]
    assert [Path(r["path"]).name for r in analysed] == sorted(ANALYSED)  # first, in scan order, as before
    assert [r["kind"] for r in analysed] == ["image", "image", "video"]
    assert all(r["verdict"] == "real" and "reason" not in r for r in analysed)
    assert {Path(r["path"]).name: r["reason"] for r in skipped} == SKIPPED
    for r in skipped:  # the keys of an analysed record, so readers of them keep working
        assert r["verdict"] == "skipped" and set(r) == set(analysed[0]) | {"reason"}
        assert r["p_fake"] is None and r["faces"] == [] and r["error"] is None
    assert code == 0  # hidden files and other types are not errors
    assert "dfd: 2 skipped, not analysed:" in err
    assert f"skipped (hidden file): {folder / '.hidden.jpg'}" in err
    assert f"skipped (unsupported type): {folder / 'notes.txt'}" in err
    code, out, _ = run(capsys, "scan", folder, "--models", all_real, "--frames", "4", "--no-progress", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["verdict"] for r in rows] == ["real"] * 3 + ["skipped"] * 2
    assert {Path(r["path"]).name: r["error"] for r in rows[3:]} == SKIPPED and code == 0


def test_only_skipped_files_is_a_usage_error_that_names_them(capsys, tmp_path, bundle_dir):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".secret.jpg").write_bytes(b"\xff\xd8\xff")
    code, out, err = run(capsys, "scan", tmp_path, "--models", bundle_dir)
    assert code == 2 and out == "" and "no image or video files" in err
    assert "skipped (unsupported type)" in err and "skipped (hidden file)" in err


def test_python_m_dfd_keeps_stderr_quiet_on_a_mixed_folder(bundle_dir, feat_data, tmp_path):
    """20 mixed files in a fresh process: stderr holds the progress bar and dfd's list of
    skipped files, no TensorFlow / absl notices or warnings."""
    from tests.media_corpus import make_mixed_folder

    folder = tmp_path / "mixed"
    expected = make_mixed_folder(folder, feat_data / "single_face.jpg", feat_data / "single_face.mp4",
                                 feat_data / "free-mountain-vector-01.jpg")
    assert sum(1 for _, _, names in os.walk(folder) for _ in names) == 20
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "dfd", "scan", str(folder), "--models", str(bundle_dir),
                           "--frames", "4"], cwd=ROOT, env=env, check=False, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    for word in ("tensorflow", "warning", "onednn", "retracing", "absl", "cpu_feature_guard"):
        assert word not in proc.stderr.lower(), proc.stderr[-3000:]
    pieces = [p for p in proc.stderr.replace("\r", "\n").splitlines() if p.strip()]
    other = [p for p in pieces if not p.startswith(("scanning:", "dfd: 6 skipped, not analysed:", "  skipped ("))]
    assert other == [], other
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    got = {Path(r["path"]).name: ("analysed" if r["verdict"] != "skipped" else r["reason"]) for r in rows}
    assert got == expected
    assert all(r["verdict"] in ("real", "fake", "uncertain", "no_face") for r in rows if r["verdict"] != "skipped")
