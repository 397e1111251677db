"""Video rules (dfd.evaluation.video_rules) and the face recall table (dfd.external.face_recall)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfd.evaluation.video_rules import VIDEO_RULES, compare_rules, dfdc_confident, rule_scores, video_score


def _faces(track_scores: dict[int, list[float]], decides: dict[int, bool] | None = None) -> list[dict]:
    """Faces of tracks seen in frames 0, 1, 2, ... (one face per track per frame)."""
    decides = decides or {}
    return [{"frame": i, "track": t, "p": p, "decides": decides.get(t, True)}
            for t, ps in track_scores.items() for i, p in enumerate(ps)]


def test_rules_read_tracks_and_frames_as_documented():
    faces = _faces({0: [0.1, 0.2, 0.3, 0.9], 1: [0.5, 0.1, 0.1, 0.1]})
    assert video_score(faces, "track_mean") == pytest.approx(0.375)  # track 0's mean beats track 1's
    assert video_score(faces, "track_median") == pytest.approx(0.25)
    assert video_score(faces, "track_topk") == pytest.approx(0.9)  # top quarter of 4 frames: 1 frame
    # per frame the most suspicious face: 0.5, 0.2, 0.3, 0.9
    assert video_score(faces, "frame_max_mean") == pytest.approx(0.475)
    assert video_score(faces, "frame_max_median") == pytest.approx(0.4)
    assert video_score(faces, "frame_max_topk") == pytest.approx(0.9)


def test_faces_that_may_not_decide_are_left_out_of_every_rule():
    faces = _faces({0: [0.1] * 8, 7: [0.99] * 8}, decides={7: False})
    for rule in VIDEO_RULES:
        assert video_score(faces, rule) == pytest.approx(0.1), rule
    with pytest.raises(ValueError, match="may decide"):
        video_score(_faces({0: [0.5]}, decides={0: False}), "track_mean")
    with pytest.raises(ValueError, match="unknown video rule"):
        video_score(faces, "loudest")


def test_dfdc_confident_strategy():
    p = np.array([0.9] * 14 + [0.3] * 18)  # 14 of 32 over 0.8: more than 32 // 2.5 and than 11
    assert dfdc_confident(p) == pytest.approx(0.9)
    p = np.array([0.9] * 10 + [0.3] * 22)  # too few confident fakes: the plain mean
    assert dfdc_confident(p) == pytest.approx(p.mean())
    p = np.array([0.05] * 30 + [0.6] * 2)  # over 90% confidently real: their mean
    assert dfdc_confident(p) == pytest.approx(0.05)


def test_compare_rules_ranks_by_log_loss_and_counts_reals_called_fake():
    rng = np.random.default_rng(0)
    videos = []
    for i in range(20):
        label = i % 2
        # fakes: one suspicious track; reals: low scores with one noisy spike frame
        scores = (rng.uniform(0.6, 0.9, 8) if label else np.r_[rng.uniform(0.05, 0.3, 7), 0.95])
        videos.append({"path": f"v{i}.mp4", "label": label, "group": "x" if label else "real",
                       "faces": _faces({0: scores.tolist()})})
    videos.append({"path": "empty.mp4", "label": 0, "faces": _faces({0: [0.5]}, decides={0: False})})
    scores = rule_scores(videos)
    assert len(scores) == 20 and set(VIDEO_RULES) <= set(scores.columns)
    table = compare_rules(scores, n_boot=50)
    assert list(table.log_loss) == sorted(table.log_loss)
    by_rule = table.set_index("rule")
    # the spike frame decides the top-k rules on the reals, not the mean
    assert by_rule.loc["track_topk", "reals_called_fake"] == "10/10"
    assert by_rule.loc["track_mean", "reals_called_fake"] == "0/10"
    assert by_rule.loc["track_mean", "roc_auc"] == 1.0
    lo, hi = by_rule.loc["track_mean", "log_loss_ci"]
    assert lo <= by_rule.loc["track_mean", "log_loss"] <= hi


def test_face_recall_from_an_external_cache(tmp_path):
    from dfd.external.face_recall import markdown, recall_from_external, wilson_interval

    root = tmp_path / "set"
    for rel in ("real/a.jpg", "real/b.jpg", "fake/c.jpg", "real/v.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    import cv2

    img = np.full((64, 64, 3), 128, np.uint8)
    for rel in ("real/a.jpg", "real/b.jpg", "fake/c.jpg"):
        cv2.imwrite(str(root / rel), img)
    from dfd.io.video_write import write_video

    write_video(root / "real/v.mp4", [img] * 4, fps=4)
    cache = tmp_path / "out"
    cache.mkdir()
    results = {"real/a.jpg": {"verdict": "real", "n_frames_scored": 0},
               "real/b.jpg": {"verdict": "no_face", "n_frames_scored": 0},
               "fake/c.jpg": {"verdict": "error", "n_frames_scored": 0},  # errors are not recall
               "real/v.mp4": {"verdict": "fake", "n_frames_scored": 3}}
    with open(cache / "results.jsonl", "w") as fh:
        for path, r in results.items():
            fh.write(json.dumps({"key": {"path": path}, "result": r}) + "\n")
    table = recall_from_external(root, cache, frames=4)
    rows = {(r.source, r.unit): (r.found, r.expected) for r in table.itertuples()}
    assert rows[("real", "images")] == (1, 2)
    assert rows[("real", "videos")] == (1, 1)
    assert rows[("real", "video frames")] == (3, 4)
    assert ("fake", "images") not in rows  # its one file is an error: no recall to measure
    lo, hi = wilson_interval(1, 2)
    assert 0 < lo < 0.5 < hi < 1
    assert "1 / 2" in markdown(table)
    assert isinstance(table, pd.DataFrame)


def test_frames_table_runs_the_engine_once_per_frame_count_and_caches(tmp_path):
    from types import SimpleNamespace

    from dfd.external.labels import collect_labels
    from dfd.external.video_rules import frames_markdown, frames_table, labelled_videos
    from dfd.inference import AnalysisResult, FaceResult
    from tests.corpus import _write_video

    for rel in ("real/a.avi", "real/b.avi", "fake/c.avi", "fake/d.avi"):
        (tmp_path / "set" / rel).parent.mkdir(parents=True, exist_ok=True)
        _write_video(tmp_path / "set" / rel, [np.full((48, 64, 3), v, np.uint8) for v in (30, 90, 150)])
    base = {"a": 0.2, "b": 0.4, "c": 0.6, "d": 0.9}

    class Scripted:  # a video's faces: one per sampled frame, P(fake) from its name
        model_ids = ["cnn@000000000000"]
        bundle = SimpleNamespace(threshold=0.5, uncertain_band=(0.4, 0.6))
        calls = []

        def analyze(self, path, frames=32):
            self.calls.append(frames)
            p = base[Path(path).stem]
            faces = [FaceResult((0, 0, 9, 9), 0.99, p, {"cnn": p}, None, {}, frame_index=i, track_id=0)
                     for i in range(frames)]
            return AnalysisResult(path=str(path), kind="video", verdict="real", p_fake=p, member_scores={"cnn": p},
                                  faces=faces, frames=[], suspicious_frames=[], timings={"total": 0.1 * frames},
                                  models=self.model_ids, threshold=0.5, uncertain_band=(0.4, 0.6))

    labelled = collect_labels(tmp_path / "set")
    det = Scripted()
    table = frames_table(labelled, det, (2, 4), tmp_path / "out", n_boot=0)
    assert list(table.frames) == [2, 4] and list(table.videos) == [4, 4]
    assert table.roc_auc.tolist() == [1.0, 1.0] and table.seconds_per_video.tolist() == pytest.approx([0.2, 0.4])
    assert sorted(det.calls) == [2, 2, 2, 2, 4, 4, 4, 4]
    videos = labelled_videos(labelled, tmp_path / "out" / "frames_4")
    assert sorted(len(v["faces"]) for v in videos) == [4, 4, 4, 4]
    frames_table(labelled, det, (2,), tmp_path / "out", n_boot=0)
    assert len(det.calls) == 8  # cached: nothing analysed again
    assert "| 2 | 4 |" in frames_markdown(table)


def test_track_share_table_measures_the_short_lived_track_rule():
    from dfd.external.video_rules import share_markdown, share_table, with_share_rule

    def video(label, steady_p, inset_p, inset_frames, n=32):
        faces = [{"frame": i, "track": 0, "p": steady_p, "decides": True} for i in range(n)]
        faces += [{"frame": i, "track": 1, "p": inset_p, "decides": True} for i in range(inset_frames)]
        return {"path": f"v{label}{steady_p}{inset_frames}", "label": label, "group": "g", "faces": faces}

    # real videos: a calm anchor plus an inset scored fake in 7 of 32 frames (22%); fakes: a suspicious anchor
    videos = [video(0, 0.1 + 0.01 * i, 0.99, 7) for i in range(6)] + [video(1, 0.2 + 0.01 * i, 0.2, 0) for i in range(6)]
    redone = with_share_rule(videos[0]["faces"], 0.25, 32)
    assert all(f["decides"] == (f["track"] == 0) for f in redone)
    # a lone short-lived track still decides: no other exists
    lone = [{"frame": 0, "track": 5, "p": 0.9, "decides": True}]
    assert with_share_rule(lone, 0.25, 32)[0]["decides"]
    table = share_table(videos, [0.0, 0.25], 32, rule="frame_max_mean", n_boot=0).set_index("min_share")
    assert table.loc[0.25, "roc_auc"] == 1.0 and table.loc[0.0, "roc_auc"] < 1.0
    assert table.loc[0.25, "videos_with_a_track_left_out"] == 6 and table.loc[0.0, "videos_with_a_track_left_out"] == 0
    md = share_markdown(table.reset_index())
    assert md.splitlines()[0].startswith("| min track share | videos | ROC-AUC") and "| 0.25 | 12 | 1.000 |" in md
