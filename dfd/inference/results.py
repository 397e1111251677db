"""What an analysis returns: per-face, per-frame and per-file results (JSON-able)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

VERDICTS = ("real", "fake", "uncertain", "no_face", "error")


@dataclass
class FaceResult:
    box: tuple[float, float, float, float]  # x, y, w, h in the analysed image/frame
    score: float  # detector confidence
    p_fake: float  # calibrated ensemble probability
    member_scores: dict[str, float]  # per-model calibrated probabilities
    crop: np.ndarray | None  # aligned uint8 RGB crop that was scored
    heatmaps: dict[str, np.ndarray]  # per-model Grad-CAM, float32 HxW in [0,1], crop coordinates
    frame_index: int | None = None
    track_id: int | None = None
    decides: bool = True  # may set the verdict (dfd.inference.deciding): False for a bystander
    # member -> {"distance", "threshold", "out", "far", "beyond_range"}: its out-of-domain checks
    # (empty without scorers); "beyond_range": its score left its validation range (left out of p_fake)
    ood: dict[str, dict] = field(default_factory=dict)
    implausible: str | None = None  # why its landmarks are unlike a face's (dfd.faces.plausibility), or None
    # the calibrated P(fake) of the members in domain for this face alone (EnsembleBundle.in_domain_scores);
    # None when no member is out of domain for it
    p_fake_in_domain: float | None = None
    # its crop's fine detail (dfd.evaluation.sharpness); None without the bundle's sharpness check
    fine_detail: float | None = None

    @property
    def members_out(self) -> list[str]:
        """The members for which this face is out of domain."""
        return [name for name, o in self.ood.items() if o["out"]]

    @property
    def members_far(self) -> list[str]:
        """The members for which this face is far out of domain (beyond the bundle's worst ratio)."""
        return [name for name, o in self.ood.items() if o.get("far", False)]

    @property
    def members_beyond_range(self) -> list[str]:
        """The members whose score for this face left their validation range."""
        return [name for name, o in self.ood.items() if o.get("beyond_range", False)]

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "p_fake": _r(self.p_fake),
            "member_scores": {k: _r(v) for k, v in self.member_scores.items()},
            "frame_index": self.frame_index,
            "track_id": self.track_id,
            "decides": bool(self.decides),
            "implausible": self.implausible,
            "p_fake_in_domain": _r(self.p_fake_in_domain),
            "fine_detail": _r(self.fine_detail),
            "ood": {k: {"distance": _r(o["distance"]), "threshold": _r(o["threshold"]), "out": bool(o["out"]),
                        "far": bool(o.get("far", False)), "beyond_range": bool(o.get("beyond_range", False))}
                    for k, o in self.ood.items()},
        }


@dataclass
class TrackResult:
    """One person followed through a video, as the verdict saw it."""

    track_id: int
    frames_seen: int  # sampled frames with a scored face of this track
    share_of_frames: float  # frames_seen / sampled frames
    face_px: float  # median short side of the face box, px
    face_share: float  # face_px / the frame's short side
    confidence: float  # mean detector confidence
    p_fake: float  # the track's score: mean of its top-k frame scores
    decides: bool  # may set the verdict (dfd.inference.deciding)
    excluded_because: str | None = None  # why it may not, in words
    frame_indices: list[int] = field(default_factory=list)  # the video frames it was scored in, in order
    scores: list[float] = field(default_factory=list)  # its P(fake) in each of them
    smoothed: list[float] = field(default_factory=list)  # the same, lightly smoothed over time (for plots)

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id, "frames_seen": self.frames_seen,
            "share_of_frames": _r(self.share_of_frames, 4), "face_px": round(float(self.face_px), 1),
            "face_share": _r(self.face_share, 4), "confidence": _r(self.confidence, 4),
            "p_fake": _r(self.p_fake), "decides": bool(self.decides), "excluded_because": self.excluded_because,
            "frame_indices": [int(i) for i in self.frame_indices], "scores": [_r(v) for v in self.scores],
            "smoothed": [_r(v) for v in self.smoothed],
        }


@dataclass
class FrameScore:
    index: int
    time_s: float
    p_fake: float | None
    n_faces: int


@dataclass
class AnalysisResult:
    path: str
    kind: str | None  # "image" | "video" | None
    verdict: str  # "real" | "fake" | "uncertain" | "no_face" | "error"
    p_fake: float | None
    member_scores: dict[str, float]
    faces: list[FaceResult]
    frames: list[FrameScore]  # video only
    suspicious_frames: list[int]  # video: frame indices, most suspicious first
    timings: dict[str, float]  # seconds per stage: decode, faces, models, explain, total
    models: list[str]  # ids of models used, "name@sha256[:12]"
    threshold: float
    uncertain_band: tuple[float, float]
    error: str | None = None
    image_size: tuple[int, int] | None = None  # (w, h) of the analysed image / video frames
    tracks: list[TrackResult] = field(default_factory=list)  # video only, main track first
    # who set the verdict: a track id (video) or an index into faces (image); None without one
    decided_by: int | None = None
    no_face_reason: str | None = None  # verdict "no_face": dfd.inference.deciding.NO_FACE_REASONS
    # the deciding face's / track's out-of-domain check: {"checked": members with a scorer,
    # "members_out": those out, "members_far": those far out, "members_beyond_range": those whose
    # score left its validation range (left out of p_fake), "all_out": bool (every member out),
    # "p_fake_in_domain": the score of the members in domain alone (None when none is out),
    # "out_of_domain": bool (the verdict is uncertain for it)}; None when the bundle has no OOD scorers
    ood: dict | None = None
    # the deciding face's / track's sharpness check (dfd.evaluation.sharpness): {"fine_detail",
    # "threshold", "soft": under it, "active": soft faces are "uncertain" for this bundle}; None without it
    sharpness: dict | None = None
    # a photo's compression check (dfd.evaluation.compression): {"jpeg_quality": estimated from the
    # pixels (100: no JPEG grid), "failing_levels": the quality levels where the validation faces' verdicts
    # broke down, "flagged": nearest one of them and unlike the validation photos' own quality, "active"};
    # None for a video or without the check
    compression: dict | None = None
    uncertain_reason: str | None = None  # why the verdict is "uncertain" when not for its score

    @property
    def ood_members(self) -> list[str]:
        """The members out of domain for the deciding face or track."""
        return list(self.ood["members_out"]) if self.ood else []

    def to_dict(self) -> dict:
        """JSON-able summary (no arrays: crops and heatmaps stay on the object)."""
        return {
            "path": display_path(self.path),
            "kind": self.kind,
            "verdict": self.verdict,
            "p_fake": _r(self.p_fake),
            "member_scores": {k: _r(v) for k, v in self.member_scores.items()},
            "faces": [f.to_dict() for f in self.faces],
            "frames": [
                {"index": f.index, "time_s": round(f.time_s, 3), "p_fake": _r(f.p_fake), "n_faces": f.n_faces}
                for f in self.frames
            ],
            "suspicious_frames": list(self.suspicious_frames),
            "error": self.error,
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "models": list(self.models),
            "threshold": _r(self.threshold),
            "uncertain_band": [_r(v) for v in self.uncertain_band],
            "image_size": list(self.image_size) if self.image_size else None,
            "tracks": [t.to_dict() for t in self.tracks],
            "decided_by": self.decided_by,
            "no_face_reason": self.no_face_reason,
            "ood": None if self.ood is None else {
                "checked": list(self.ood["checked"]), "members_out": list(self.ood["members_out"]),
                "members_far": list(self.ood.get("members_far", [])),
                "members_beyond_range": list(self.ood.get("members_beyond_range", [])),
                "all_out": bool(self.ood["all_out"]),
                "p_fake_in_domain": _r(self.ood.get("p_fake_in_domain")),
                "out_of_domain": bool(self.ood.get("out_of_domain", self.ood["all_out"]))},
            "sharpness": None if self.sharpness is None else {
                "fine_detail": _r(self.sharpness["fine_detail"]), "threshold": _r(self.sharpness["threshold"]),
                "soft": bool(self.sharpness["soft"]), "active": bool(self.sharpness["active"])},
            "compression": None if self.compression is None else {
                "jpeg_quality": _r(self.compression["jpeg_quality"]),
                "failing_levels": list(self.compression["failing_levels"]),
                "flagged": bool(self.compression["flagged"]), "active": bool(self.compression["active"])},
            "uncertain_reason": self.uncertain_reason,
        }


def _r(v, nd: int = 6):
    return None if v is None else round(float(v), nd)


def display_path(path) -> str:
    """``path`` as printable text: undecodable bytes of a non-UTF-8 name become ``\\xNN``."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
