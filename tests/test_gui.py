"""Desktop app (pytest-qt, offscreen): open through the picker's code path, verdicts for a
photo and a video, cancel mid-video, exports, corrupt files, the no-models state.

Real (tiny, untrained) models: ``tests.corpus.make_tiny_bundle``, shared with
tests/test_inference.py (saved with ``dfd.models.save_model`` + a ``bundle.json``)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QColor, QDropEvent, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog  # noqa: E402

from gui.main_window import MainWindow  # noqa: E402
from gui.results_model import COL_PFAKE, COL_VERDICT  # noqa: E402

VERDICTS = {"real", "fake", "uncertain", "no_face"}
SIZE = 64
LOAD_TIMEOUT = 120_000
ANALYSIS_TIMEOUT = 90_000


@pytest.fixture(scope="session")
def gui_models(tmp_path_factory) -> Path:
    """The tiny real models of tests/test_inference.py (built once per process)."""
    from tests.corpus import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("gui-models"))


@pytest.fixture(scope="session")
def bundle_facts(gui_models) -> dict:
    return json.loads((gui_models / "bundle.json").read_text())


@pytest.fixture(scope="module")
def window(qapp, gui_models):
    w = MainWindow(gui_models, frames=8)
    w.show()
    from pytestqt.qtbot import QtBot

    QtBot(qapp).waitUntil(lambda: w.detector is not None or (w.outcome is not None and not w.loading),
                          timeout=LOAD_TIMEOUT)
    assert w.detector is not None, w.outcome.message if w.outcome else "models did not load"
    yield w
    w.close()


def entry_for(window, path):
    return window.model.find_path(path)


def wait_done(qtbot, window, path, timeout=ANALYSIS_TIMEOUT):
    def finished():
        e = entry_for(window, path)
        assert e is not None and e.status in ("done", "error", "cancelled"), (
            None if e is None else f"{e.status} {e.progress:.2f}")
    qtbot.waitUntil(finished, timeout=timeout)
    return entry_for(window, path)


def pick_files(monkeypatch, paths):
    """The file picker returns ``paths`` (what a user would click)."""
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *a, **k: ([str(p) for p in paths], "")))


def cell(window, entry, col):
    row = window.model.row_of(entry.id)
    return window.model.index(row, col).data()


# --------------------------------------------------------------------------- tests
def test_picker_image_and_video_show_verdict(window, qtbot, monkeypatch, feat_data, bundle_facts):
    image = feat_data / "single_face.jpg"
    pick_files(monkeypatch, [image])
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)  # Ctrl+O -> picker
    if entry_for(window, image) is None:
        qtbot.waitUntil(lambda: entry_for(window, image) is not None, timeout=10_000)
    e = wait_done(qtbot, window, image)
    assert e.status == "done" and e.verdict in VERDICTS, e.message
    assert e.verdict != "no_face" and e.n_faces == 1
    assert 0.0 <= e.p_fake <= 1.0
    assert cell(window, e, COL_VERDICT).lower().startswith(e.verdict.replace("_", " ")[:4])
    assert cell(window, e, COL_PFAKE).endswith("%")
    # the result view shows it: verdict badge, gauge, one face box, per-model bars, crop
    window.select_entry(e.id)
    view = window.view
    assert view.entry is e and e.verdict_text().upper() in view.badge.text()
    assert view.gauge.p == pytest.approx(e.p_fake)
    members = [m["name"] for m in bundle_facts["members"]]
    assert len(view.canvas.boxes) == 1 and list(view.bars.scores) == members
    qtbot.waitUntil(lambda: not view.canvas.image.isNull(), timeout=10_000)
    assert not view.crop.pixmap().isNull()
    assert view.heat_toggle.isEnabled()  # Grad-CAM maps were computed (explain on)
    view.heat_toggle.setChecked(True)
    assert view.canvas.show_heat and view.canvas.boxes[0].heat is not None
    assert not view.video_panel.isVisibleTo(view)
    assert not view.tracks.isVisibleTo(view)  # a photo has no tracks to list

    video = feat_data / "single_face.mp4"
    pick_files(monkeypatch, [video])
    window.act_open.trigger()
    qtbot.waitUntil(lambda: entry_for(window, video) is not None, timeout=10_000)
    v = wait_done(qtbot, window, video)
    assert v.status == "done" and v.verdict in VERDICTS, v.message
    assert v.kind == "video" and cell(window, v, 1) == "Video"
    window.select_entry(v.id)
    assert view.video_panel.isVisibleTo(view)
    assert len(view.timeline.frames) == 8
    assert view.strip.count() == len(v.result.suspicious_frames) >= 1
    # the one person: listed, seen in all 8 frames, deciding the verdict
    assert view.tracks.isVisibleTo(view) and len(view.tracks.texts()) == 1
    assert view.tracks.texts()[0].startswith("Person 1 · 8 of 8 frames") and view.tracks.texts()[0].endswith("decides")
    # clicking a point on the timeline shows that frame
    target = view.timeline.frames[-1]
    with qtbot.waitSignal(view.frameShown, timeout=5_000) as shown:
        rect = view.timeline._plot_rect()
        pt = view.timeline._point(target, rect, view.timeline._t_range())
        qtbot.mouseClick(view.timeline, Qt.MouseButton.LeftButton, pos=pt.toPoint())
    assert shown.args == [target.index]
    qtbot.waitUntil(lambda: not view.canvas.image.isNull(), timeout=10_000)
    assert view.frame_index == target.index
    window.grab()  # paints every widget (exceptions in paintEvent fail the test)


def test_cancel_mid_video_and_app_stays_usable(window, qtbot, feat_data):
    long_video = feat_data / "WolfgangLanger_Pexels.mp4"  # 472 frames
    window.frames_spin.setValue(100)
    try:
        window.open_paths([long_video])
        qtbot.waitUntil(lambda: (e := entry_for(window, long_video)) is not None
                        and e.status == "running" and e.progress > 0, timeout=ANALYSIS_TIMEOUT)
        assert window.act_cancel.isEnabled() and window.cancel_button.isVisible()
        with qtbot.waitSignal(window.batchFinished, timeout=ANALYSIS_TIMEOUT) as finished:
            qtbot.keyClick(window.table, Qt.Key.Key_Escape)  # Esc = cancel
        assert finished.args == [True]
    finally:
        window.frames_spin.setValue(8)
    e = entry_for(window, long_video)
    assert e.status == "cancelled" and e.verdict == "cancelled" and e.result is None
    assert cell(window, e, COL_VERDICT) == "Cancelled"
    assert not window.progress.isVisible() and not window.act_cancel.isEnabled()
    window.select_entry(e.id)
    assert "cancelled" in window.view.message.text().lower()
    # still usable: a photo is analysed afterwards
    photo = feat_data / "multi_face.jpg"
    window.open_paths([photo])
    qtbot.waitUntil(lambda: entry_for(window, photo) is not None, timeout=10_000)
    p = wait_done(qtbot, window, photo)
    assert p.status == "done" and p.verdict in VERDICTS and p.n_faces >= 2
    assert entry_for(window, long_video).status == "cancelled"  # not restarted behind the user's back


def test_corrupt_files_show_readable_errors(window, qtbot, tmp_path, feat_data):
    broken_jpg = tmp_path / "broken.jpg"
    broken_jpg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)  # JPEG magic, garbage after
    broken_mp4 = tmp_path / "broken.mp4"
    broken_mp4.write_bytes((feat_data / "single_face.mp4").read_bytes()[:3000])  # truncated
    window.open_paths([broken_jpg, broken_mp4])
    for path in (broken_jpg, broken_mp4):
        qtbot.waitUntil(lambda p=path: entry_for(window, p) is not None, timeout=10_000)
        e = wait_done(qtbot, window, path)
        assert e.verdict == "error", (path.name, e.verdict)
        msg = e.message
        assert msg and len(msg) > 10 and "Traceback" not in msg
        assert cell(window, e, COL_VERDICT) == "Error"
        row = window.model.row_of(e.id)
        assert window.model.index(row, COL_VERDICT).data(Qt.ItemDataRole.ToolTipRole) == msg
        window.select_entry(e.id)
        assert window.view.message.isVisibleTo(window.view)
        assert window.view.message.text().startswith("Could not analyse this file: ")
        assert msg in window.view.message.text()
        window.grab()
    good = tmp_path / "good copy.jpg"
    shutil.copy(feat_data / "single_face.jpg", good)
    window.open_paths([good])
    qtbot.waitUntil(lambda: entry_for(window, good) is not None, timeout=10_000)
    g = wait_done(qtbot, window, good)
    assert g.status == "done" and g.verdict in VERDICTS


def test_drop_folder_sort_and_filter(window, qtbot, tmp_path, feat_data):
    folder = tmp_path / "dropped"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(feat_data / "0-f1-su-ph.jpg", folder / "a.jpg")
    shutil.copy(feat_data / "45-m7-di-ph.jpg", folder / "sub" / "b.jpg")
    (folder / "notes.txt").write_text("not media")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    for p in (folder / "a.jpg", folder / "sub" / "b.jpg"):
        qtbot.waitUntil(lambda p=p: entry_for(window, p) is not None, timeout=10_000)
        wait_done(qtbot, window, p)
    assert entry_for(window, folder / "notes.txt") is None
    # sortable by probability: header click sorts with numbers as numbers, empty cells last
    window.table.sortByColumn(COL_PFAKE, Qt.SortOrder.AscendingOrder)
    values = [window.proxy.index(r, COL_PFAKE).data() for r in range(window.proxy.rowCount())]
    numbers = [float(v.rstrip("%")) for v in values if v]
    assert numbers == sorted(numbers) and all(v for v in values[: len(numbers)])
    window.filter.setText("b.jpg")
    assert window.proxy.rowCount() == 1
    window.filter.clear()
    window.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)


def test_export_json_csv_html(window, qtbot, tmp_path, feat_data, bundle_facts):
    image, video = feat_data / "single_face.jpg", feat_data / "single_face.mp4"
    window.open_paths([image, video])  # already listed by the first test; analysed if not
    for p in (image, video):
        qtbot.waitUntil(lambda p=p: entry_for(window, p) is not None, timeout=10_000)
        wait_done(qtbot, window, p)
    entries = window.model.entries()
    for name in ("out.json", "out.csv", "report.html"):
        with qtbot.waitSignal(window.exported, timeout=60_000):
            window.export_to(tmp_path / name)
    data = json.load(open(tmp_path / "out.json", encoding="utf-8"))
    assert len(data["results"]) == len(entries)
    by_file = {r["file"]: r for r in data["results"]}
    assert by_file[str(image)]["verdict"] in VERDICTS and by_file[str(video)]["kind"] == "video"
    assert by_file[str(video)]["frames"] and data["models"]["ensemble_name"] == bundle_facts["ensemble_name"]
    assert by_file[str(video)]["tracks"] and by_file[str(video)]["decided_by"] == 0  # issue 16's keys
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(entries)
    row = next(r for r in rows if r["file"] == str(image))
    assert row["verdict"] in VERDICTS and 0 <= float(row["p_fake"]) <= 1 and row["p_fake_cnn"]
    assert row["no_face_reason"] == ""  # a face was found
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', html)
    assert "http://" not in html and "https://" not in html
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert sources and all(s.startswith(("data:", "#")) for s in sources), set(sources)
    assert "Grad-CAM" in html and "<svg" in html  # heatmaps and the video timeline
    assert html.count("<section") == len(entries)
    # cancelled and failed files are in the exports too, with their state
    statuses = {r["status"] for r in data["results"]}
    assert "cancelled" in statuses or len(entries) == 2


def test_models_panel_shows_cards(window, bundle_facts):
    panel = window.models_panel
    assert panel.state == "loaded" and not panel.has_hint()
    names = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert names[0] == f"Ensemble: {bundle_facts['ensemble_name']}"
    assert names[1:] == [m["name"] for m in bundle_facts["members"]]
    cnn = panel.tree.topLevelItem(1)
    fields = {cnn.child(i).text(0): cnn.child(i).text(1) for i in range(cnn.childCount())}
    assert fields["dataset"] == "tiny-test" and "created_utc" in fields and "face_stage" in fields
    assert "sha256" in fields and "params" in cnn.text(1) and "tiny-test" in cnn.text(1)


def test_dark_palette_paints(window, qapp):
    old = qapp.palette()
    dark = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#1e1e1e"), (QPalette.ColorRole.Base, "#121212"),
                         (QPalette.ColorRole.Text, "#eeeeee"), (QPalette.ColorRole.WindowText, "#eeeeee")):
        dark.setColor(role, QColor(colour))
    try:
        qapp.setPalette(dark)
        from gui.theme import is_dark, verdict_colour

        light = QPalette(QColor("#f0f0f0"))
        assert is_dark(dark) and not is_dark(light)
        assert verdict_colour("fake", dark) != verdict_colour("fake", light)
        assert not window.grab().isNull()
    finally:
        qapp.setPalette(old)


def test_no_models_shows_make_reproduce_hint(qtbot, tmp_path, feat_data, gui_models):
    empty = tmp_path / "no-models-here"
    empty.mkdir()
    w = MainWindow(empty)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.modelsLoaded, timeout=LOAD_TIMEOUT) as loaded:
        pass
    outcome = loaded.args[0]
    assert not outcome.ok and outcome.missing and w.detector is None
    assert w.models_panel.has_hint() and "make reproduce" in w.models_panel.hint.text()
    assert "Run <code>make reproduce</code> in the project folder to train the models" in w.models_panel.hint.text()
    image = feat_data / "single_face.jpg"
    w.open_paths([image])
    qtbot.waitUntil(lambda: entry_for(w, image) is not None, timeout=10_000)
    assert w.banner.isVisible() and "make reproduce" in w.banner.text()
    assert entry_for(w, image).status == "queued"
    w.act_analyse.trigger()  # no crash, still the hint
    assert w.banner.isVisible() and entry_for(w, image).status == "queued"
    # choosing a models folder afterwards analyses the waiting file
    w.load_models(gui_models)
    e = wait_done(qtbot, w, image, timeout=LOAD_TIMEOUT)
    assert e.status == "done" and e.verdict in VERDICTS
    assert not w.banner.isVisible()


def test_never_uses_the_network():
    assert "PySide6.QtNetwork" not in sys.modules
    src = Path(__file__).resolve().parents[1] / "gui"
    for path in src.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "QtNetwork" not in text, path.name
        assert not re.search(r"^\s*(import|from)\s+(urllib|requests|http|socket)\b", text, re.M), path.name


def test_command_line_arguments():
    from gui.app import parse_args

    args = parse_args(["--models", "m", "a.jpg", "folder"])
    assert args.models == "m" and args.files == ["a.jpg", "folder"] and args.frames == 32
    assert QApplication.instance() is not None


LEAN_IMPORT_SCRIPT = """
import sys
import numpy as np
from gui.backend import import_keras_lean

import_keras_lean()
import dfd.inference.engine, dfd.models  # what the app loads before it is ready
skipped = [m for m in ("sklearn", "matplotlib", "scipy.optimize") if m in sys.modules]
assert not skipped, skipped
import keras
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
assert model.predict_on_batch(np.zeros((1, 2), "float32")).shape == (1, 1)
from sklearn.linear_model import LogisticRegression  # declined only while Keras imported
import matplotlib.pyplot
from dfd.metrics import roc_auc
assert roc_auc([0, 1, 1], [0.2, 0.9, 0.4]) == 1.0
print("lean ok")
"""


def test_start_up_import_path_skips_scikit_learn_and_matplotlib():
    """The app's start-up imports neither (~1.4 s); both still import normally afterwards."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", LEAN_IMPORT_SCRIPT], cwd=repo, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lean ok" in proc.stdout
