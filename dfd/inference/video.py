"""The engine's video path: one verdict for a whole video.

Evenly sampled frames; faces are detected on keyframes (every :func:`keyframe_spacing`-th,
searched whole in one batched call) and near the faces found there on the frames between
(:mod:`dfd.faces.keyframes`), and followed over time (one track per person,
:func:`dfd.faces.track_faces`); every tracked face is cropped and scored as a photo's faces
are. Only tracks that may decide count — seen in enough frames with a large enough face,
unless there is no other (:mod:`dfd.inference.deciding`) — and the video's score is
:data:`~dfd.inference.deciding.VIDEO_RULE` over their faces: each frame's most suspicious
face, averaged over the frames (SBI's rule; measured best of seven on
FF++ and the default test clips, :mod:`dfd.evaluation.video_rules`). The result lists every
track with its mean score and names the one that decided. :meth:`Detector.analyze <dfd.inference.engine.Detector.analyze>` calls
:func:`analyze_video` for every video file.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dfd.errors import BadInputError
from dfd.evaluation.aggregation import smooth_scores, top_k_count
from dfd.faces import detect_frames, track_faces
from dfd.evaluation.video_rules import most_suspicious_per_frame, video_score
from dfd.inference.deciding import (
    MIN_TRACK_SHARE,
    VIDEO_RULE,
    enough_frames,
    face_px,
    no_face_reason,
    scored_faces,
    track_exclusion,
)
from dfd.inference.limits import Limits, _Clock
from dfd.inference.members import _Candidate
from dfd.inference.results import AnalysisResult, FaceResult, FrameScore, TrackResult
from dfd.io.media import is_video_file

if TYPE_CHECKING:
    from dfd.inference.engine import Detector

# Keyframes at most this many sampled frames apart, however many frames are sampled: the frames
# between are searched only near the keyframes' faces, which suits a person who moves little
# between two keyframes.
MAX_KEYFRAME_EVERY = 8


def keyframe_spacing(n_frames: int) -> int:
    """How many sampled frames apart the engine searches frames whole (keyframes): as far as
    still lets every face seen in :data:`~dfd.inference.deciding.MIN_TRACK_SHARE` of the
    ``n_frames`` consecutive frames meet a keyframe, so a face the keyframe search can miss
    is one too short-lived to decide a verdict next to another track; at most
    :data:`MAX_KEYFRAME_EVERY`. 32 frames: every 8th (and the last) searched whole, i.e. 5
    whole searches and 27 region searches (docs/experiments.md, session 14)."""
    return max(1, min(MAX_KEYFRAME_EVERY, int(n_frames * MIN_TRACK_SHARE)))


def video_limits(limits: Limits):
    """The engine's per-file limits as :class:`dfd.io.video.VideoLimits`."""
    from dfd.io.video import VideoLimits

    return VideoLimits(max_frames=int(limits.max_frames), max_duration_s=float(limits.max_duration_s),
                       max_pixels=int(limits.max_frame_pixels), max_bytes=int(limits.max_bytes))


def analyze_video(detector: Detector, path: str, explain: bool, n_frames: int, clock: _Clock) -> AnalysisResult:
    """Analyse the video at ``path`` from ``n_frames`` sampled frames with ``detector``'s face
    detector and members. Raises :class:`BadInputError` for a file that is no readable video."""
    res = detector._base(path, "video", clock)
    frames = _sample_frames(path, n_frames, video_limits(detector.limits), clock)
    h0, w0 = frames[0].rgb.shape[:2]
    res.image_size = (int(w0), int(h0))

    t = time.perf_counter()
    found = detect_frames(detector.face_detector, [f.rgb for f in frames],
                          keyframe_every=keyframe_spacing(len(frames)))
    clock.check()
    tracks = track_faces(frames, detector.face_detector, faces=[scored_faces(f) for f in found])
    candidates, n_faces = _tracked_candidates(detector, frames, tracks)
    clock.add("faces", time.perf_counter() - t)
    clock.report(0.6)
    clock.check()
    n_with_face = sum(1 for n in n_faces.values() if n)
    if not enough_frames(n_with_face, len(frames)):
        res.verdict = "no_face"
        res.no_face_reason = no_face_reason(found, n_with_face)
        res.frames = [FrameScore(f.index, float(f.time_s), None, n_faces[f.index]) for f in frames]
        return res

    faces = detector._score(candidates, explain, clock)
    res.faces = faces
    frame_p: dict[int, float] = {}
    for f in faces:
        frame_p[f.frame_index] = max(frame_p.get(f.frame_index, 0.0), f.p_fake)
    res.frames = [FrameScore(f.index, float(f.time_s), frame_p.get(f.index), n_faces[f.index]) for f in frames]
    res.tracks = track_results(faces, len(frames), min(h0, w0))
    may = {tr.track_id for tr in res.tracks if tr.decides}
    for f in faces:
        f.decides = f.track_id in may
    score, decided_by, top = video_decision(faces)
    res.decided_by = decided_by
    res.p_fake = score
    res.member_scores = {m.name: float(np.mean([f.member_scores[m.name] for f in top])) for m in detector.members}
    res.suspicious_frames = [f.frame_index for f in sorted(top, key=lambda f: -f.p_fake)[: top_k_count(len(top))]]
    deciding = [f for f in faces if f.track_id == res.decided_by]
    members_out = members_out_of_track(deciding)
    details = [f.fine_detail for f in deciding if f.fine_detail is not None]
    detector.decide(res, score, members_out, members_out_of_track(deciding, "far"),
                    members_out_of_track(deciding, "beyond_range"), in_domain_video_score(faces) if members_out else None,
                    float(np.median(details)) if details else None)
    return res


def in_domain_video_score(faces: list[FaceResult]) -> float:
    """The video's score under the same rule as :func:`video_decision`, each face scored by the
    members in domain for it alone (its ``p_fake_in_domain``; its ``p_fake`` where none is out)."""
    alone = [replace(f, p_fake=f.p_fake if f.p_fake_in_domain is None else f.p_fake_in_domain) for f in faces]
    return video_decision(alone)[0]


def members_out_of_track(faces_of_track: list[FaceResult], check: str = "out") -> list[str]:
    """The members out of domain for a track: those for which most of its frames are out
    (``check`` "far": far out; "beyond_range": scored beyond their validation range)."""
    names = faces_of_track[0].ood if faces_of_track else {}
    return [m for m in names
            if 2 * sum(bool(f.ood[m].get(check, False)) for f in faces_of_track) > len(faces_of_track)]


def track_score(faces_of_track: list[FaceResult]) -> float:
    """A track's score: the mean of its frame scores (the rule measured best, with the
    frames' most suspicious face, in :data:`dfd.inference.deciding.VIDEO_RULE`)."""
    return float(np.mean([f.p_fake for f in faces_of_track]))


def _by_track(faces: list[FaceResult]) -> dict[int | None, list[FaceResult]]:
    by_track: dict[int | None, list[FaceResult]] = {}
    for f in faces:
        by_track.setdefault(f.track_id, []).append(f)
    return by_track


def video_decision(faces: list[FaceResult]) -> tuple[float, int, list[FaceResult]]:
    """The video's score under :data:`~dfd.inference.deciding.VIDEO_RULE` over the faces
    that may decide (``decides``), the track that decided it — the one that is most often
    the most suspicious face of its frame (on a tie the more suspicious track, then the one
    listed first) — and those per-frame faces."""
    deciding = [f for f in faces if f.decides]
    if not deciding:
        raise ValueError("no face may decide the verdict")
    records = [{"frame": f.frame_index, "track": f.track_id, "p": f.p_fake, "decides": True} for f in deciding]
    score = video_score(records, VIDEO_RULE)
    top = [deciding[i] for i in most_suspicious_per_frame(records)]
    order = list(_by_track(deciding))
    counts = {t: sum(1 for f in top if f.track_id == t) for t in order}
    scores = {t: track_score(fs) for t, fs in _by_track(deciding).items()}
    decided_by = max(order, key=lambda t: (counts[t], scores[t], -order.index(t)))
    return score, int(decided_by), top


def track_results(faces: list[FaceResult], n_frames: int, frame_short_side: int) -> list[TrackResult]:
    """Every track's length, face size, confidence and score, and whether it may decide the
    verdict (:func:`dfd.inference.deciding.track_exclusion`; all may when none would)."""
    out = []
    for track_id, faces_of_track in _by_track(faces).items():
        size = float(np.median([face_px(f.box) for f in faces_of_track]))
        share = len(faces_of_track) / max(1, n_frames)
        implausible = sum(f.implausible is not None for f in faces_of_track) / len(faces_of_track)
        why_not = track_exclusion(share, size, implausible)
        in_order = sorted(faces_of_track, key=lambda f: f.frame_index)
        series = [float(f.p_fake) for f in in_order]
        out.append(TrackResult(
            track_id=int(track_id), frames_seen=len(faces_of_track), share_of_frames=share, face_px=size,
            face_share=size / max(1, frame_short_side),
            confidence=float(np.mean([f.score for f in faces_of_track])),
            p_fake=track_score(faces_of_track), decides=why_not is None, excluded_because=why_not,
            frame_indices=[int(f.frame_index) for f in in_order], scores=series,
            smoothed=smooth_scores(series).tolist(),
        ))
    if not any(tr.decides for tr in out):  # nobody else to decide: the short or small ones do
        for tr in out:
            tr.decides, tr.excluded_because = True, None
    return out


def _sample_frames(path: str, n_frames: int, limits, clock: _Clock) -> list:
    """``n_frames`` evenly sampled frames (``Frame(index, time_s, rgb)``), checked first."""
    from dfd.io import video as video_io

    abspath = os.path.abspath(path)  # FFmpeg must never read a "proto:..." name as a URL
    if not is_video_file(abspath):
        raise BadInputError("not a video file (unrecognised or corrupt container)", path)
    t = time.perf_counter()
    info = video_io.probe(abspath, limits)
    clock.check()
    sample = video_io.sample_video(abspath, n=n_frames, limits=limits, info=info)
    clock.add("decode", time.perf_counter() - t)
    clock.report(0.25)
    clock.check()
    if not sample.frames:
        raise BadInputError("video has no decodable frames", path)
    return sample.frames


def _tracked_candidates(detector: Detector, frames: list, tracks) -> tuple[list[_Candidate], dict[int, int]]:
    """Every tracked face with its crops (track by track), and the faces scored per frame index."""
    candidates: list[_Candidate] = []
    n_faces = {f.index: 0 for f in frames}
    for track in tracks:
        for det in track.detections:
            frame = frames[det.position]
            for c in detector._candidates(frame.rgb, frame.index, faces=[det.face]):
                c.track_id = int(track.track_id)
                candidates.append(c)
                n_faces[frame.index] += 1
    return candidates, n_faces
