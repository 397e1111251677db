"""Faces over video frames: the one tracker, linking detections by IoU into one track per person.

:func:`track_faces` detects faces on the sampled frames (batched, when the detector has
``detect_batch`` as :class:`~dfd.faces.detection.FaceDetector` does) and links them by IoU
into :class:`Track` s, one per person. The result also counts frames without a face; no face
at all gives an empty list (``.no_face`` is True), never a guess."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from dfd.faces.types import Face
from dfd.io.video import Frame


def box_iou(a, b) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Detection:
    position: int  # position in the sampled frame list
    index: int  # frame index in the video
    time_s: float
    face: Face


@dataclass
class Track:
    """One person followed over the sampled frames."""

    track_id: int
    detections: list[Detection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.detections)

    @property
    def positions(self) -> list[int]:
        """Where the track was seen in the list of sampled frames (0, 1, ...)."""
        return [d.position for d in self.detections]

    @property
    def indices(self) -> list[int]:
        """Where the track was seen in the video (frame numbers)."""
        return [d.index for d in self.detections]

    @property
    def mean_score(self) -> float:
        return float(np.mean([d.face.score for d in self.detections])) if self.detections else 0.0

    @property
    def mean_area(self) -> float:
        return float(np.mean([d.face.area for d in self.detections])) if self.detections else 0.0

    def at(self, position: int) -> Detection | None:
        for d in self.detections:
            if d.position == position:
                return d
        return None

    def predicted_box(self, position: int) -> tuple:
        """The box expected at ``position``: the last one moved on at the recent velocity."""
        last = self.detections[-1]
        box = np.asarray(last.face.box, dtype=float)
        if len(self.detections) >= 2:
            prev = self.detections[-2]
            step = last.position - prev.position
            if step > 0:
                vel = (box - np.asarray(prev.face.box, dtype=float)) / step
                box = box + vel * (position - last.position)
        return tuple(box)

    def landmarks_at(self, position: int) -> np.ndarray:
        """Landmarks at ``position``: detected, else interpolated between the neighbouring
        detections, else those of the nearest one (before the first / after the last)."""
        pos = np.array(self.positions)
        pts = np.stack([np.asarray(d.face.landmarks, float) for d in self.detections])
        if position <= pos[0]:
            return pts[0].copy()
        if position >= pos[-1]:
            return pts[-1].copy()
        j = int(np.searchsorted(pos, position))
        if pos[j] == position:
            return pts[j].copy()
        w = (position - pos[j - 1]) / (pos[j] - pos[j - 1])
        return (1 - w) * pts[j - 1] + w * pts[j]

    def to_dict(self) -> dict:
        return {"track_id": self.track_id, "length": len(self), "indices": self.indices,
                "mean_score": round(self.mean_score, 4), "mean_area": round(self.mean_area, 1)}


class Tracks(list):
    """``list[Track]`` (longest, most prominent first) plus the frame counts of the run."""

    def __init__(self, tracks: Iterable[Track] = (), n_frames: int = 0, frames_without_face: int = 0,
                 frame_shape: tuple = ()):
        super().__init__(tracks)
        self.n_frames = int(n_frames)
        self.frames_without_face = int(frames_without_face)
        self.frame_shape = tuple(frame_shape)

    @property
    def frames_with_face(self) -> int:
        return self.n_frames - self.frames_without_face

    @property
    def no_face(self) -> bool:
        """True when no sampled frame had a face: say "no face found", never real/fake."""
        return len(self) == 0

    def main(self) -> Track | None:
        """The track a person would call "the" face: seen often, large, confident, central."""
        if not self:
            return None
        h, w = self.frame_shape[:2] if self.frame_shape else (1, 1)
        diag = float(np.hypot(w, h)) or 1.0

        def weight(track: Track) -> float:
            total = 0.0
            for d in track.detections:
                x, y, bw, bh = d.face.box
                off = np.hypot(x + bw / 2 - w / 2, y + bh / 2 - h / 2) / diag if self.frame_shape else 0.0
                total += d.face.area * d.face.score * (1.0 - 0.5 * off)
            return total

        return max(self, key=weight)

    def summary(self) -> dict:
        return {"frames": self.n_frames, "frames_with_face": self.frames_with_face,
                "frames_without_face": self.frames_without_face, "tracks": len(self),
                "no_face": self.no_face}


def detect_frames(detector, images: list[np.ndarray], keyframe_every: int = 1) -> list[list[Face]]:
    """Faces of each frame (in time order): one batched call when the detector has
    ``detect_batch``, else ``detect(rgb)`` per frame (any object with that method will do,
    e.g. a test stub). ``keyframe_every`` > 1 searches only every so many frames whole and
    the others near the faces found there (:func:`dfd.faces.keyframes.detect_sequence`; needs
    a detector with ``detect_in_regions``). Frames are decoded upright (the container's
    rotation applied), so they are never searched turned, whatever the detector's
    ``retry_rotated``."""
    if getattr(getattr(detector, "config", None), "retry_rotated", False):
        detector = detector.with_settings(retry_rotated=False)
    if keyframe_every > 1 and hasattr(detector, "detect_in_regions"):
        from dfd.faces.keyframes import detect_sequence

        return detect_sequence(detector, images, keyframe_every)
    if hasattr(detector, "detect_batch"):
        return detector.detect_batch(images)
    return [list(detector.detect(im)) for im in images]


def _as_frames(frames) -> list[Frame]:
    out = []
    for pos, fr in enumerate(frames):
        if isinstance(fr, Frame):
            out.append(fr)
        elif isinstance(fr, np.ndarray):
            out.append(Frame(pos, float(pos), fr))
        elif len(fr) == 3:
            out.append(Frame(int(fr[0]), float(fr[1]), fr[2]))
        elif len(fr) == 2:
            out.append(Frame(int(fr[0]), float(fr[0]), fr[1]))
        else:
            raise TypeError("frames must be Frame, (index, time_s, rgb), (index, rgb) or RGB arrays")
    return out


def track_faces(frames, detector, iou_threshold: float = 0.3, max_gap: int | None = None,
                faces: list[list] | None = None) -> Tracks:
    """Detect faces on the sampled ``frames`` and link them into one :class:`Track` per person.

    Each frame's faces are matched to the open tracks by IoU with the box each track is
    expected at (its last box moved on at its recent velocity — or the last box itself,
    whichever overlaps more) with an optimal one-to-one assignment; a pair needs IoU >=
    ``iou_threshold``; an unmatched face starts a new track. A track not seen for more than
    ``max_gap`` sampled frames (default: never closed) is closed. Frames without a face are
    skipped and counted. ``faces`` (one list per frame) skips detection, e.g. when cached."""
    from scipy.optimize import linear_sum_assignment

    frames = _as_frames(frames)
    if faces is None:
        faces = detect_frames(detector, [f.rgb for f in frames])
    if len(faces) != len(frames):
        raise ValueError(f"got {len(faces)} face lists for {len(frames)} frames")
    tracks: list[Track] = []
    without = 0
    for pos, (frame, found) in enumerate(zip(frames, faces)):
        if not found:
            without += 1
            continue
        open_tracks = [t for t in tracks if max_gap is None or pos - t.detections[-1].position <= max_gap + 1]
        matched: set[int] = set()
        if open_tracks:
            iou = np.zeros((len(open_tracks), len(found)))
            for i, t in enumerate(open_tracks):
                last, pred = t.detections[-1].face.box, t.predicted_box(pos)
                for j, face in enumerate(found):
                    iou[i, j] = max(box_iou(last, face.box), box_iou(pred, face.box))
            rows, cols = linear_sum_assignment(-iou)
            for i, j in zip(rows, cols):
                if iou[i, j] >= iou_threshold:
                    open_tracks[i].detections.append(Detection(pos, frame.index, frame.time_s, found[j]))
                    matched.add(j)
        for j, face in enumerate(found):
            if j not in matched:
                tracks.append(Track(len(tracks), [Detection(pos, frame.index, frame.time_s, face)]))
    shape = frames[0].rgb.shape if frames else ()
    result = Tracks(tracks, len(frames), without, shape)
    main = result.main()
    result.sort(key=lambda t: (t is not main, -len(t), -t.mean_area))
    return result
