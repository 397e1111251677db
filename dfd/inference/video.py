"""The engine's video path: one verdict for a whole video.

Evenly sampled frames; faces are detected on all of them in one batched call and followed
over time (one track per person, :func:`dfd.faces.track_faces`); every tracked face is
cropped and scored as a photo's faces are; a track's score is the mean of its top-k frame
scores (:func:`dfd.evaluation.aggregation.top_k_count`) and the most suspicious track
decides. :meth:`Detector.analyze <dfd.inference.engine.Detector.analyze>` calls
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
from dfd.inference.limits import Limits, _Clock
from dfd.inference.members import _Candidate
from dfd.inference.results import AnalysisResult, FaceResult, FrameScore
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
    candidates, n_faces = _tracked_candidates(detector, frames, clock)
    clock.add("faces", time.perf_counter() - t)
    clock.report(0.6)
    clock.check()
    if not candidates:
        res.verdict = "no_face"
        res.frames = [FrameScore(f.index, float(f.time_s), None, 0) for f in frames]
        return res

    faces = detector._score(candidates, explain, clock)
    res.faces = faces
    frame_p: dict[int, float] = {}
    for f in faces:
        frame_p[f.frame_index] = max(frame_p.get(f.frame_index, 0.0), f.p_fake)
    res.frames = [FrameScore(f.index, float(f.time_s), frame_p.get(f.index), n_faces[f.index]) for f in frames]
    score, top = most_suspicious_track(faces)
    res.p_fake = score
    res.member_scores = {m.name: float(np.mean([f.member_scores[m.name] for f in top])) for m in detector.members}
    res.suspicious_frames = [f.frame_index for f in top]
    res.verdict = detector.verdict(score)
    return res


def most_suspicious_track(faces: list[FaceResult]) -> tuple[float, list[FaceResult]]:
    """The score of the most suspicious person in a video and the faces it averages: each
    track's score is the mean of its top-k frame scores (most suspicious first); on a tie
    the track seen first wins."""
    by_track: dict[int | None, list[FaceResult]] = {}
    for f in faces:
        by_track.setdefault(f.track_id, []).append(f)
    best_score, best_top = -1.0, []
    for faces_of_track in by_track.values():
        top = sorted(faces_of_track, key=lambda f: -f.p_fake)[: top_k_count(len(faces_of_track))]
        score = float(np.mean([f.p_fake for f in top]))
        if score > best_score:
            best_score, best_top = score, top
    return best_score, best_top


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


def _tracked_candidates(detector: Detector, frames: list, clock: _Clock) -> tuple[list[_Candidate], dict[int, int]]:
    """Every tracked face with its crops (track by track), and the faces found per frame index."""
    found = detect_frames(detector.face_detector, [f.rgb for f in frames])
    clock.check()
    tracks = track_faces(frames, detector.face_detector, faces=found)
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
