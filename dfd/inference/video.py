"""The engine's video path: one verdict for a whole video.

Evenly sampled frames; faces are detected on all of them in one batched call and followed
over time (one track per person, :func:`dfd.faces.track_faces`); every tracked face is
cropped and scored as a photo's faces are; a track's score is the mean of its top-k frame
scores (:func:`dfd.evaluation.aggregation.top_k_count`) and the most suspicious track that
may decide does: one seen in enough frames with a large enough face, unless there is no
other (:mod:`dfd.inference.deciding`). The result lists every track and names the one that
decided. :meth:`Detector.analyze <dfd.inference.engine.Detector.analyze>` calls
:func:`analyze_video` for every video file.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from dfd.errors import BadInputError
from dfd.evaluation.aggregation import top_k_count
from dfd.faces import detect_frames, track_faces
from dfd.inference.deciding import enough_frames, face_px, no_face_reason, scored_faces, track_exclusion
from dfd.inference.limits import Limits, _Clock
from dfd.inference.members import _Candidate
from dfd.inference.results import AnalysisResult, FaceResult, FrameScore, TrackResult
from dfd.io.media import _is_video_header

if TYPE_CHECKING:
    from dfd.inference.engine import Detector


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
    found = detect_frames(detector.face_detector, [f.rgb for f in frames])
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
    score, top = most_suspicious_track(faces, may)
    res.decided_by = top[0].track_id
    res.p_fake = score
    res.member_scores = {m.name: float(np.mean([f.member_scores[m.name] for f in top])) for m in detector.members}
    res.suspicious_frames = [f.frame_index for f in top]
    res.verdict = detector.verdict(score)
    return res


def track_score(faces_of_track: list[FaceResult]) -> tuple[float, list[FaceResult]]:
    """A track's score, the mean of its top-k frame scores, and those faces (most suspicious first)."""
    top = sorted(faces_of_track, key=lambda f: -f.p_fake)[: top_k_count(len(faces_of_track))]
    return float(np.mean([f.p_fake for f in top])), top


def _by_track(faces: list[FaceResult]) -> dict[int | None, list[FaceResult]]:
    by_track: dict[int | None, list[FaceResult]] = {}
    for f in faces:
        by_track.setdefault(f.track_id, []).append(f)
    return by_track


def most_suspicious_track(faces: list[FaceResult], may_decide=None) -> tuple[float, list[FaceResult]]:
    """The score of the most suspicious person in a video and the faces it averages
    (:func:`track_score`), among the tracks in ``may_decide`` (all when None); on a tie the
    track listed first wins."""
    best_score, best_top = -1.0, []
    for track_id, faces_of_track in _by_track(faces).items():
        if may_decide is not None and track_id not in may_decide:
            continue
        score, top = track_score(faces_of_track)
        if score > best_score:
            best_score, best_top = score, top
    if not best_top:
        raise ValueError("no track may decide: none of the faces belongs to one of may_decide")
    return best_score, best_top


def track_results(faces: list[FaceResult], n_frames: int, frame_short_side: int) -> list[TrackResult]:
    """Every track's length, face size, confidence and score, and whether it may decide the
    verdict (:func:`dfd.inference.deciding.track_exclusion`; all may when none would)."""
    out = []
    for track_id, faces_of_track in _by_track(faces).items():
        size = float(np.median([face_px(f.box) for f in faces_of_track]))
        share = len(faces_of_track) / max(1, n_frames)
        why_not = track_exclusion(share, size)
        out.append(TrackResult(
            track_id=int(track_id), frames_seen=len(faces_of_track), share_of_frames=share, face_px=size,
            face_share=size / max(1, frame_short_side),
            confidence=float(np.mean([f.score for f in faces_of_track])),
            p_fake=track_score(faces_of_track)[0], decides=why_not is None, excluded_because=why_not,
        ))
    if not any(tr.decides for tr in out):  # nobody else to decide: the short or small ones do
        for tr in out:
            tr.decides, tr.excluded_because = True, None
    return out


def _sample_frames(path: str, n_frames: int, limits, clock: _Clock) -> list:
    """``n_frames`` evenly sampled frames (``Frame(index, time_s, rgb)``), checked first."""
    from dfd.io import video as video_io

    abspath = os.path.abspath(path)  # FFmpeg must never read a "proto:..." name as a URL
    with open(abspath, "rb") as fh:
        head = fh.read(64)
        fh.seek(188)
        ts_second = fh.read(1)
    if not _is_video_header(head, ts_second):
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
