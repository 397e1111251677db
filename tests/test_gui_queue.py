"""Opening a folder accounts for every file: the queue gets the images and videos, and the
files left out are listed under it with their reason (dfd.inference.scan_paths owns the walk);
exports list them too. And the app keeps TensorFlow's notices out of its output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from gui.backend import expand_paths  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mixed_folder(tmp_path, feat_data) -> Path:
    folder = tmp_path / "holiday"
    (folder / "sub").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()
    shutil.copy(feat_data / "single_face.jpg", folder / "a.jpg")
    shutil.copy(feat_data / "45-m7-di-ph.jpg", folder / "sub" / "b.jpg")
    shutil.copy(feat_data / "single_face.jpg", folder / ".hidden.jpg")
    shutil.copy(feat_data / "single_face.jpg", folder / ".thumbnails" / "c.jpg")
    (folder / "notes.txt").write_text("not media")
    return folder


def test_expand_paths_names_what_it_leaves_out(mixed_folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    given = tmp_path / "given.txt"
    given.write_text("asked for by name")
    out = expand_paths([mixed_folder, given, tmp_path / "missing.jpg", empty])
    assert out.files == [mixed_folder / "a.jpg", mixed_folder / "sub" / "b.jpg", given]  # a named file is kept
    reasons = {Path(s.path).name: s.reason for s in out.skipped}
    assert reasons == {".hidden.jpg": "hidden file", ".thumbnails": "hidden folder", "notes.txt": "unsupported type"}
    assert out.problems == [f"{tmp_path / 'missing.jpg'} does not exist", f"No images or videos in {empty}"]
    big = expand_paths([mixed_folder], max_bytes=1000)
    assert big.files == [] and {s.reason for s in big.skipped} >= {"too large"}


def test_window_lists_the_files_left_out(qtbot, tmp_path, mixed_folder):
    from gui.main_window import MainWindow

    w = MainWindow(tmp_path / "no-models", load=False, auto_analyse=False)
    qtbot.addWidget(w)
    w.show()
    w.open_paths([mixed_folder])
    qtbot.waitUntil(lambda: w.model.rowCount() == 2, timeout=10_000)
    panel = w.skipped
    assert panel.isVisibleTo(w) and panel.tree.isVisibleTo(w)
    assert panel.toggle.text() == "3 files left out"
    rows = {panel.tree.topLevelItem(i).text(0): panel.tree.topLevelItem(i).text(1)
            for i in range(panel.tree.topLevelItemCount())}
    assert rows == {".hidden.jpg": "hidden file", ".thumbnails": "hidden folder", "notes.txt": "unsupported type"}
    assert panel.tree.topLevelItem(0).toolTip(0).startswith(str(mixed_folder))
    assert "3 files left out" in w.statusBar().currentMessage()
    assert w.model.find_path(mixed_folder / "notes.txt") is None  # not in the queue itself
    w.open_paths([mixed_folder])  # again: nothing listed twice
    qtbot.waitUntil(lambda: "already in the list" in w.statusBar().currentMessage(), timeout=10_000)
    assert panel.tree.topLevelItemCount() == 3

    with qtbot.waitSignal(w.exported, timeout=30_000):
        w.export_to(tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert {Path(s["path"]).name: s["reason"] for s in data["skipped"]} == rows
    assert len(data["results"]) == 2
    with qtbot.waitSignal(w.exported, timeout=30_000):
        w.export_to(tmp_path / "out.html")
    html = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "3 files left out" in html and "notes.txt" in html and "unsupported type" in html

    w.clear_list()
    assert not panel.isVisibleTo(w) and panel.entries() == [] and w.model.rowCount() == 0


QUIET_SCRIPT = """
import logging, warnings
from gui.backend import import_keras_lean
import_keras_lean()  # the app's start-up path: TensorFlow and Keras imported here
import tensorflow as tf
tf.get_logger().warning("5 out of the last 5 calls to <function f> triggered tf.function retracing")
import absl.logging
absl.logging.warning("absl chatter")
warnings.warn("a real warning")
print("ok")
"""


def test_app_keeps_tensorflow_quiet_but_not_real_warnings():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
    assert "retracing" not in proc.stderr and "absl chatter" not in proc.stderr
    assert "cpu_feature_guard" not in proc.stderr and "I0000" not in proc.stderr  # TF's C++ start-up notices
    assert "UserWarning: a real warning" in proc.stderr


def test_quiet_tensorflow_respects_the_users_choices(monkeypatch):
    import logging

    from gui.backend import quiet_tensorflow

    tf_logger = logging.getLogger("tensorflow")
    before = tf_logger.level
    try:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
        tf_logger.setLevel(logging.INFO)
        quiet_tensorflow()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and tf_logger.level == logging.INFO
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
        tf_logger.setLevel(logging.NOTSET)
        quiet_tensorflow()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and tf_logger.level == logging.ERROR
    finally:
        tf_logger.setLevel(before)


NOISY_MODULE = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see ...\\n")
os.write(2, b"E0000 something real went wrong\\n")
"""


def test_import_quietly_holds_back_startup_notices_only(tmp_path):
    """What a module writes to fd 2 while it is imported comes back less TensorFlow's start-up
    notices; with TF_CPP_MIN_LOG_LEVEL 0 nothing is held back."""
    (tmp_path / "noisy_mod.py").write_text(NOISY_MODULE)
    script = ("import sys; sys.path.insert(0, sys.argv[1])\n"
              "from dfd.inference.logs import import_quietly\n"
              "import_quietly('noisy_mod'); import_quietly('noisy_mod'); print('ok')\n")
    for level, notices in (("2", False), ("0", True)):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL=level)
        proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
        assert proc.stderr.count("E0000 something real went wrong") == 1  # imported once, kept
        assert ("oneDNN custom operations" in proc.stderr) is notices
        assert ("absl::InitializeLog" in proc.stderr) is notices
