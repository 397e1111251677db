"""The app's words for numbers (gui.formatting) and the strings built from them: no "1 files",
no doubled units, no unformatted floats; the strip under a video says "23.2 s · 100%"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui import formatting as fmt  # noqa: E402


def test_percent():
    assert fmt.percent(0.873) == "87.3%"
    assert fmt.percent(1.0) == "100.0%" and fmt.percent(1.0, 0) == "100%"
    assert fmt.percent(0.0, 0) == "0%" and fmt.percent(0.4567, 2) == "45.67%"
    assert fmt.percent(None) == "–" and fmt.percent(float("nan")) == "–"


def test_seconds_and_counts():
    assert fmt.seconds(23.24) == "23.2 s" and fmt.seconds(0.4812, 2) == "0.48 s" and fmt.seconds(None) == "–"
    assert [fmt.count(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert fmt.count(1, "more face crop") == "1 more face crop"
    assert fmt.count(3, "more face crop") == "3 more face crops"
    assert fmt.count(2, "person", "people") == "2 people"


def test_frame_caption_has_one_unit_each():
    """The issue's "23.2 s · 100% %": time and P(fake) once each, nothing doubled."""
    assert fmt.frame_caption(23.2, 1.0, 580) == "23.2 s · 100%"
    assert fmt.frame_caption(1.52, 0.874, 38) == "1.5 s · 87%"
    assert fmt.frame_caption(None, 0.5, 12) == "#12 · 50%"
    assert fmt.frame_caption(3.0, None, 75) == "3.0 s"
    for caption in (fmt.frame_caption(t, p, 1) for t in (None, 0.0, 99.96) for p in (None, 0.0, 0.996, 1.0)):
        assert caption.count("%") <= 1 and caption.count(" s") <= 1 and "%%" not in caption, caption


def test_frame_summary_threshold_and_timings():
    assert fmt.frame_summary(12, 0.48, 0.873, 1) == "Frame 12 · 0.48 s · P(fake) 87.3% · 1 face"
    assert fmt.frame_summary(3, None, None, 0) == "Frame 3 · no face · 0 faces"
    assert fmt.threshold_text(0.5, (0.4, 0.6)) == "Threshold 50% · uncertain from 40% to 60%"
    assert fmt.threshold_text(0.5, (0.5, 0.5)) == "Threshold 50%"
    text = fmt.timings_text({"decode": 0.0123, "face_detect": 0.2, "explain": 0.001, "total": 0.2123})
    assert text == "decode 0.01 s · face detect 0.20 s · total 0.21 s"


def test_verdict_words():
    assert fmt.verdict_label("no_face") == "No face" and fmt.verdict_label("fake") == "Fake"
    assert fmt.verdict_label("some_new_state") == "Some new state"
    assert fmt.verdict_counts(["real", "fake", "fake", "no_face"]) == "2 fake, 1 real, 1 no face"
    assert fmt.verdict_counts([]) == ""


@dataclass
class _Frame:
    index: int
    time_s: float | None
    p_fake: float | None
    n_faces: int = 1


@dataclass
class _Video:
    frames: list
    suspicious_frames: list


def test_suspicious_frames_strip_labels(qtbot, tmp_path):
    from gui.frame_strip import FrameStrip
    from gui.workers import make_pool

    pool = make_pool(1, "test-thumbs")
    strip = FrameStrip(pool)
    qtbot.addWidget(strip)
    frames = [_Frame(0, 0.0, 0.2), _Frame(580, 23.2, 1.0), _Frame(38, 1.52, 0.874), _Frame(90, None, 0.5)]
    strip.fill(tmp_path / "missing.mp4", _Video(frames, [580, 38, 90]))  # thumbnails fail quietly
    texts = [strip.item(i).text() for i in range(strip.count())]
    assert texts == ["23.2 s · 100%", "1.5 s · 87%", "#90 · 50%"]
    assert strip.item(0).toolTip() == "frame 580 · P(fake) 100.0%"
    with qtbot.waitSignal(strip.frameChosen, timeout=2000) as chosen:
        strip.setCurrentRow(1)
    assert chosen.args == [38]
    pool.waitForDone(10_000)


def test_open_dialog_patterns_cover_what_a_folder_scan_keeps():
    from dfd.io.images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
    from gui.dialogs import IMAGE_PATTERNS, VIDEO_PATTERNS

    assert {p.lstrip("*") for p in IMAGE_PATTERNS.split()} == IMAGE_EXTENSIONS
    assert {p.lstrip("*") for p in VIDEO_PATTERNS.split()} == VIDEO_EXTENSIONS


PLURAL = "a count before a fixed plural: use formatting.count"
SLIPS = [
    (re.compile(r"\{[^}\n]*\}[ ]*(files?|items?|frames?|faces?|models?)\b"), PLURAL),
    (re.compile(r"%\}?\s*%"), "a doubled % sign"),
    (re.compile(r":\.\d[fg]\}\s*%\s*%"), "a doubled % sign"),
    (re.compile(r"\b1 (files|faces|frames|models|items)\b"), "'1 files'"),
]


def test_no_hand_made_plurals_or_doubled_units_in_the_app():
    """The app's strings go through gui.formatting: no f-string counts with a fixed plural,
    no '%' twice, no percentages formatted by hand outside formatting.py."""
    src = Path(__file__).resolve().parents[1] / "gui"
    for path in sorted(src.glob("*.py")):
        if path.name == "formatting.py":
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, what in SLIPS:
            m = pattern.search(text)
            assert m is None, f"{path.name}: {what}: {m.group(0)!r}"
        assert not re.search(r"100 \* [^}]*:\.\d?f\}%", text), f"{path.name}: a percentage formatted by hand"
        assert "'s' if" not in text and '"s" if' not in text, f"{path.name}: a plural made by hand"


def test_no_face_reason_and_people_of_a_video_in_words(qtbot, tmp_path):
    """Issue 16: a "no face" verdict says why, and a video lists who was seen and who decides."""
    from dfd.inference import AnalysisResult, TrackResult
    from gui.result_header import ResultHeader
    from gui.results_model import Entry
    from gui.track_list import TrackList

    assert fmt.no_face_text("faces too small").startswith("Faces were found, but all of them are too small")
    assert "too few of the sampled frames" in fmt.no_face_text("too few frames with a face")
    assert fmt.no_face_text("no face found") == fmt.no_face_text(None) == fmt.VERDICT_EXPLANATIONS["no_face"]
    header = ResultHeader()
    qtbot.addWidget(header)
    result = AnalysisResult(path=str(tmp_path / "clip.mp4"), kind="video", verdict="no_face", p_fake=None,
                            member_scores={}, faces=[], frames=[], suspicious_frames=[], timings={}, models=[],
                            threshold=0.5, uncertain_band=(0.4, 0.6), no_face_reason="too few frames with a face")
    header.show_entry(Entry(tmp_path / "clip.mp4", "video", "done", 1.0, result))
    assert header.message.text() == fmt.no_face_text("too few frames with a face")

    steady = TrackResult(0, 12, 1.0, 110.0, 0.46, 0.99, 0.23, True)
    inset = TrackResult(1, 2, 2 / 12, 70.0, 0.2, 0.98, 0.91, False, "seen in 17% of the frames (under 25%)")
    assert fmt.track_summary(steady) == "Person 1 · 12 of 12 frames · 110 px · P(fake) 23.0% · decides"
    assert fmt.track_summary(inset) == ("Person 2 · 2 of 12 frames · 70 px · P(fake) 91.0% · shown only: "
                                        "seen in 17% of the frames (under 25%)")
    tracks = TrackList()
    qtbot.addWidget(tracks)
    result.verdict, result.p_fake, result.tracks, result.decided_by = "real", 0.23, [steady, inset], 0
    from dfd.inference import FaceResult

    crops = {0.1: np.full((64, 64, 3), 40, np.uint8), 0.3: np.full((64, 64, 3), 220, np.uint8)}
    result.faces = [FaceResult((0, 0, 64, 64), 0.99, p, {}, crop, {}, frame_index=i, track_id=0)
                    for i, (p, crop) in enumerate(crops.items())]
    tracks.show_result(result)
    assert not tracks.isHidden()
    assert tracks.texts() == [fmt.track_summary(steady), fmt.track_summary(inset)]
    assert tracks.lines[0].font().bold() and not tracks.lines[1].font().bold()
    # the thumbnail is the track's most suspicious face (the bright one); no crop, no thumbnail
    thumb = tracks.thumbnails[0].pixmap().toImage()
    assert not thumb.isNull() and thumb.pixelColor(10, 10).red() == 220
    assert tracks.thumbnails[1].pixmap().isNull()
    result.tracks = []  # a photo: nothing to list
    tracks.show_result(result)
    assert tracks.isHidden() and tracks.texts() == []


def test_timeline_draws_each_persons_smoothed_line_bold_for_the_one_who_decides(qtbot):
    from PySide6.QtGui import QPalette

    from dfd.inference import FrameScore, TrackResult
    from gui.timeline import TimelineWidget

    frames = [FrameScore(i, i / 2, 0.2, 1) for i in range(8)]
    decider = TrackResult(0, 8, 1.0, 110.0, 0.5, 0.99, 0.2, True, None, list(range(8)), [0.2] * 8, [0.8] * 8)
    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(600, 140)
    w.set_data(frames, 0.5, (0.45, 0.55))
    w.set_tracks([decider], decided_by=0)
    assert w.tracks == [decider]
    image = w.grab().toImage()
    rect = w._plot_rect()
    y = round(rect.bottom() - rect.height() * 0.8)
    x = round(rect.left() + rect.width() / 2)
    highlight = w.palette().color(QPalette.ColorRole.Highlight)
    near = [image.pixelColor(x, yy) for yy in range(y - 2, y + 3)]
    assert any(abs(c.red() - highlight.red()) + abs(c.green() - highlight.green()) + abs(c.blue() - highlight.blue())
               < 40 for c in near)
    w.set_tracks([], None)  # no tracks (a photo, or an old result): nothing drawn at 0.8
    image = w.grab().toImage()
    assert not any(abs(image.pixelColor(x, yy).red() - highlight.red()) + abs(image.pixelColor(x, yy).blue()
                   - highlight.blue()) < 40 for yy in range(y - 2, y + 3))
