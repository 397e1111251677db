"""Who decides a verdict (dfd.inference.deciding, issue 16): a short-lived or tiny track and a
much smaller face do not outvote the main person, and a file without a usable face says why.

Controlled scores: a stub face detector "finds" the bright and dark patches the test paints
where it expects them, and each member's predict function is replaced by the crop's mean
brightness, so a bright patch scores fake and a dark one real, through the real engine
(tracking, crops, ensemble, calibration and the bundle's verdict rule)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dfd.faces import Face
from dfd.inference import Detector
from dfd.inference.deciding import (
    FACES_TOO_SMALL,
    MIN_AREA_SHARE_OF_MAIN,
    MIN_DECIDING_FACE_PX,
    MIN_SCORED_FACE_PX,
    MIN_TRACK_SHARE,
    NO_FACE_FOUND,
    TOO_FEW_FRAMES,
    deciding_faces,
    no_face_reason,
    track_exclusion,
)
from tests.corpus import _write_video, make_tiny_bundle

H, W = 240, 320
BACKGROUND = 110
DARK, BRIGHT = 40, 235  # a patch's grey level: dark scores real, bright scores fake


class PatchDetector:
    """Reports a face wherever one of ``boxes`` holds a painted patch (not the background)."""

    def __init__(self, boxes):
        self.boxes = [tuple(float(v) for v in b) for b in boxes]

    def detect(self, rgb):
        out = []
        for x, y, w, h in self.boxes:
            patch = rgb[int(y) + 2: int(y + h) - 2, int(x) + 2: int(x + w) - 2]
            if abs(float(patch.mean()) - BACKGROUND) > 40:
                lm = np.array([[x + .3 * w, y + .4 * h], [x + .7 * w, y + .4 * h], [x + .5 * w, y + .6 * h],
                               [x + .35 * w, y + .8 * h], [x + .65 * w, y + .8 * h]])
                out.append(Face((x, y, w, h), 0.99, lm))
        return out


def _paint(boxes_levels, shape=(H, W)) -> np.ndarray:
    img = np.full((*shape, 3), BACKGROUND, np.uint8)
    for (x, y, w, h), level in boxes_levels:
        img[y: y + h, x: x + w] = level
    return img


@pytest.fixture(scope="module")
def brightness_detector(tmp_path_factory):
    """A Detector of the tiny bundle whose members score a crop by its brightness."""
    det = Detector.from_dir(make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle")))
    for m in det.members:
        # (P(fake), features): the compiled predict function's outputs (dfd.inference.members)
        m._predict = lambda x: (np.clip(x.mean(axis=(1, 2, 3)) / 255.0, 0.0, 1.0), np.zeros((len(x), 1), np.float32))
    return det


STEADY = (40, 50, 110, 110)  # the person on screen
INSET = (220, 30, 70, 70)  # an inset picture: large enough, but short-lived


def _clip(tmp_path, name, frames_of) -> str:
    frames = [_paint(frames_of(i)) for i in range(12)]
    return str(_write_video(tmp_path / name, frames, fps=10.0))


def test_short_lived_fake_inset_does_not_decide(brightness_detector, tmp_path):
    # the steady face in all 12 frames, the bright inset in 2 of them (17% < 25%)
    path = _clip(tmp_path, "inset.avi", lambda i: [(STEADY, DARK)] + ([(INSET, BRIGHT)] if i in (4, 5) else []))
    brightness_detector.face_detector = PatchDetector([STEADY, INSET])
    res = brightness_detector.analyze(path, frames=12)
    assert res.error is None and len(res.frames) == 12
    steady, inset = res.tracks  # the main track first
    assert (steady.frames_seen, inset.frames_seen) == (12, 2)
    assert inset.share_of_frames == pytest.approx(2 / 12) and inset.share_of_frames < MIN_TRACK_SHARE
    assert steady.face_px == 110 and steady.face_share == pytest.approx(110 / H) and steady.confidence > 0.9
    assert inset.p_fake > steady.p_fake + 0.1  # the old rule (most suspicious track) would follow the inset
    assert steady.decides and not inset.decides
    assert "17%" in inset.excluded_because
    assert res.decided_by == steady.track_id and res.p_fake == steady.p_fake
    assert res.verdict == brightness_detector.verdict(steady.p_fake)
    assert {f.frame_index for f in res.faces if f.track_id == inset.track_id} == {4, 5}
    assert all(f.decides == (f.track_id == steady.track_id) for f in res.faces)
    assert res.suspicious_frames and all(
        f.track_id == steady.track_id for f in res.faces if f.frame_index in res.suspicious_frames and f.decides)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["decided_by"] == steady.track_id and d["no_face_reason"] is None
    assert [t["decides"] for t in d["tracks"]] == [True, False]
    assert set(d["tracks"][0]) >= {"track_id", "frames_seen", "share_of_frames", "face_px", "confidence",
                                   "p_fake", "decides"}
    assert d["tracks"][1]["p_fake"] == pytest.approx(inset.p_fake, abs=1e-6)
    # each track's per-frame series, in frame order, and its smoothed copy for the timeline
    assert d["tracks"][1]["frame_indices"] == [4, 5]
    assert steady.frame_indices == sorted(f.frame_index for f in res.faces if f.track_id == steady.track_id)
    by_frame = {f.frame_index: f.p_fake for f in res.faces if f.track_id == steady.track_id}
    assert steady.scores == [by_frame[i] for i in steady.frame_indices]
    assert len(steady.smoothed) == 12 and np.std(steady.smoothed) <= np.std(steady.scores) + 1e-12
    assert d["tracks"][0]["smoothed"] == pytest.approx(steady.smoothed, abs=1e-6)


def test_smoothing_damps_one_odd_frame_and_keeps_a_lasting_change():
    from dfd.evaluation.aggregation import smooth_scores

    spike = smooth_scores([0.1] * 5 + [0.9] + [0.1] * 5)
    assert spike[5] < 0.5 and spike[0] == pytest.approx(0.1) and spike.shape == (11,)
    step = smooth_scores([0.1] * 6 + [0.9] * 6)
    assert step[0] == pytest.approx(0.1, abs=0.01) and step[-1] == pytest.approx(0.9, abs=0.01)
    assert list(smooth_scores([0.4])) == [0.4] and smooth_scores([]).size == 0


def test_tiny_steady_face_does_not_decide(brightness_detector, tmp_path):
    tiny = (250, 20, 30, 30)  # in every frame, but under MIN_DECIDING_FACE_PX
    assert MIN_SCORED_FACE_PX <= 30 < MIN_DECIDING_FACE_PX
    path = _clip(tmp_path, "tiny.avi", lambda i: [(STEADY, DARK), (tiny, BRIGHT)])
    brightness_detector.face_detector = PatchDetector([STEADY, tiny])
    res = brightness_detector.analyze(path, frames=12)
    by_px = {t.face_px: t for t in res.tracks}
    assert by_px[30].p_fake > by_px[110].p_fake and not by_px[30].decides and "30 px" in by_px[30].excluded_because
    assert res.decided_by == by_px[110].track_id and res.p_fake == by_px[110].p_fake


def test_the_only_track_decides_even_when_short(brightness_detector, tmp_path):
    path = _clip(tmp_path, "short.avi", lambda i: [(INSET, BRIGHT)] if i in (4, 5) else [])
    brightness_detector.face_detector = PatchDetector([INSET])
    res = brightness_detector.analyze(path, frames=12)
    (only,) = res.tracks
    assert only.share_of_frames < MIN_TRACK_SHARE and only.decides and only.excluded_because is None
    assert res.decided_by == only.track_id and res.p_fake == only.p_fake
    assert res.verdict == brightness_detector.verdict(only.p_fake) and res.no_face_reason is None


def test_video_no_face_reasons(brightness_detector, tmp_path):
    one = _clip(tmp_path, "one.avi", lambda i: [(INSET, BRIGHT)] if i == 3 else [])
    brightness_detector.face_detector = PatchDetector([INSET])
    res = brightness_detector.analyze(one, frames=12)
    assert res.verdict == "no_face" and res.p_fake is None and res.no_face_reason == TOO_FEW_FRAMES
    assert [f.n_faces for f in res.frames].count(1) == 1  # the lone face is counted, not scored
    small = (100, 100, 12, 12)  # under MIN_SCORED_FACE_PX in every frame
    tiny = _clip(tmp_path, "tiny_only.avi", lambda i: [(small, BRIGHT)])
    brightness_detector.face_detector = PatchDetector([small])
    res = brightness_detector.analyze(tiny, frames=12)
    assert res.verdict == "no_face" and res.no_face_reason == FACES_TOO_SMALL and res.tracks == []
    empty = _clip(tmp_path, "empty.avi", lambda i: [])
    res = brightness_detector.analyze(empty, frames=12)
    assert res.verdict == "no_face" and res.no_face_reason == NO_FACE_FOUND
    assert res.to_dict()["no_face_reason"] == NO_FACE_FOUND and res.to_dict()["decided_by"] is None


def test_a_much_smaller_face_does_not_outvote_the_main_one(brightness_detector):
    main, small = (60, 40, 160, 160), (260, 20, 36, 36)  # 36² / 160² ≈ 1/20 of the main face's area
    assert 36 * 36 < MIN_AREA_SHARE_OF_MAIN * 160 * 160
    brightness_detector.face_detector = PatchDetector([main, small])
    res = brightness_detector.analyze_array(_paint([(main, DARK), (small, BRIGHT)]))
    assert len(res.faces) == 2, res.error
    i_main = next(i for i, f in enumerate(res.faces) if f.box[2] == 160)
    i_small = 1 - i_main
    assert res.faces[i_small].p_fake > res.faces[i_main].p_fake + 0.1  # shown, and more suspicious
    assert res.decided_by == i_main and res.p_fake == res.faces[i_main].p_fake
    assert res.faces[i_main].decides and not res.faces[i_small].decides
    assert res.to_dict()["faces"][i_small]["decides"] is False and res.tracks == []
    # a face of comparable size does outvote: the rule is about size, not position
    peer = (200, 60, 100, 100)
    brightness_detector.face_detector = PatchDetector([main, peer])
    res = brightness_detector.analyze_array(_paint([(main, DARK), (peer, BRIGHT)]))
    assert res.faces[res.decided_by].box[2] == 100 and all(f.decides for f in res.faces)


def test_image_no_face_reasons(brightness_detector):
    brightness_detector.face_detector = PatchDetector([(100, 100, 12, 12)])
    res = brightness_detector.analyze_array(_paint([((100, 100, 12, 12), BRIGHT)]))
    assert res.verdict == "no_face" and res.no_face_reason == FACES_TOO_SMALL and res.faces == []
    res = brightness_detector.analyze_array(_paint([]))
    assert res.verdict == "no_face" and res.no_face_reason == NO_FACE_FOUND


def test_rule_functions():
    def f(px):
        return Face((0, 0, px, px), 0.99, np.zeros((5, 2)))

    assert no_face_reason([[], []]) == NO_FACE_FOUND
    assert no_face_reason([[f(10)], []]) == FACES_TOO_SMALL
    assert no_face_reason([[f(10)], [f(60)]], n_with_face=1) == TOO_FEW_FRAMES
    assert no_face_reason([[f(60)]]) == NO_FACE_FOUND  # found, large enough, but no crop could be made
    assert track_exclusion(0.5, 100) is None and track_exclusion(0.24, 100) and track_exclusion(1.0, 39)
    assert deciding_faces([], [], (10, 10)) == []
    # the main face always may decide, however small every face is
    assert deciding_faces([(0, 0, 20, 20), (50, 50, 4, 4)], [0.99, 0.99], (100, 100)) == [0]


def test_landmark_plausibility_of_a_real_face_and_of_scrambled_landmarks(feat_data):
    from dfd.faces import INFERENCE, FaceDetector
    from dfd.faces.plausibility import PLAUSIBLE, implausible_because, landmark_geometry
    from dfd.io.images import load_image

    face = FaceDetector(INFERENCE).detect(load_image(feat_data / "single_face.jpg"))[0]
    g = landmark_geometry(face)
    assert set(g) == set(PLAUSIBLE) and implausible_because(face) is None
    rotated = Face(face.box, face.score, (face.landmarks - face.landmarks[2]) @ np.array([[0, 1], [-1, 0]])
                   + face.landmarks[2])  # the same face turned 90 degrees in the image: still a face
    assert landmark_geometry(rotated)["eye_mouth_to_eyes"] == pytest.approx(g["eye_mouth_to_eyes"])
    nose_up = face.landmarks.copy()
    nose_up[2] = face.landmarks[:2].mean(axis=0) - (face.landmarks[3:].mean(axis=0) - face.landmarks[:2].mean(axis=0))
    why = implausible_because(Face(face.box, face.score, nose_up))  # the nose above the eyes
    assert why and "nose along" in why
    wide_mouth = face.landmarks.copy()
    wide_mouth[3, 0] -= 2 * (face.landmarks[1, 0] - face.landmarks[0, 0])
    assert "mouth to eyes" in implausible_because(Face(face.box, face.score, wide_mouth))


def test_an_implausible_face_does_not_decide_unless_every_face_is():
    boxes, scores = [(0, 0, 100, 100), (150, 0, 90, 90)], [0.99, 0.99]
    assert deciding_faces(boxes, scores, (300, 300)) == [0, 1]
    assert deciding_faces(boxes, scores, (300, 300), plausible=[True, False]) == [0]
    assert deciding_faces(boxes, scores, (300, 300), plausible=[False, True]) == [1]
    assert deciding_faces(boxes, scores, (300, 300), plausible=[False, False]) == [0, 1]
    assert track_exclusion(1.0, 100, implausible_share=0.75).startswith("landmarks unlike a face")
    assert track_exclusion(1.0, 100, implausible_share=0.5) is None
