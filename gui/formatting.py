"""How the app writes numbers and counts for people: one place for percentages, seconds,
plurals and verdict words, so every label, tooltip, status message and report says them
the same way (and none says "1 files" or "100% %")."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

VERDICT_LABELS = {
    "fake": "Fake",
    "real": "Real",
    "uncertain": "Uncertain",
    "no_face": "No face",
    "error": "Error",
    "cancelled": "Cancelled",
    "queued": "Queued",
    "running": "Analysing…",
}

# what a verdict means, in the result view and the HTML report
VERDICT_EXPLANATIONS = {
    "fake": "The detector finds this face manipulated: its calibrated probability of being fake "
            "is above the uncertain band.",
    "real": "The detector finds no sign of manipulation: the calibrated probability of being fake "
            "is below the uncertain band.",
    "uncertain": "The score is too close to the decision line to trust either answer. This is not "
                 "evidence for real or for fake; check the file another way.",
    "no_face": "No face was found, so nothing was checked: the detector only judges faces.",
    "cancelled": "The analysis was cancelled. Press Ctrl+R to analyse it again.",
    "queued": "Waiting to be analysed.",
    "running": "Analysing…",
}

NOTHING = "–"  # shown where there is no number (no face, not analysed)

# why a file has no usable face (the engine's no_face_reason), in plain words
NO_FACE_REASON_TEXTS = {
    "no face found": VERDICT_EXPLANATIONS["no_face"],
    "faces too small": "Faces were found, but all of them are too small to judge, so nothing was "
                       "checked. A larger or sharper copy of the file may work.",
    "too few frames with a face": "A face showed in too few of the sampled frames to judge the "
                                  "video, so nothing was checked. Analysing more frames may help.",
}


def out_of_domain_text(result) -> str | None:
    """Why an "uncertain" verdict was given although the score alone would decide: the face
    is unlike the data the models were trained on, softer than the faces they were checked on,
    or saved at a JPEG quality their verdicts do not hold on (the engine's ``uncertain_reason``,
    in its order: out of domain, then an active sharpness check, then an active compression
    check), in plain words with the models whose check fired; None when that is not the reason."""
    if not getattr(result, "uncertain_reason", None):
        return None
    ood = getattr(result, "ood", None) or {}
    sharp = getattr(result, "sharpness", None) or {}
    if not ood.get("out_of_domain") and sharp.get("soft") and sharp.get("active"):
        return ("This face has less fine detail than the faces these models were checked on: the file looks "
                "blurred, downscaled or enlarged. On such copies of their own validation faces the models' "
                "verdicts were wrong too often to trust, so none is given; check a sharper or original "
                "copy of the file.")
    jpeg = getattr(result, "compression", None) or {}
    if not ood.get("out_of_domain") and jpeg.get("flagged") and jpeg.get("active"):
        return (f"This photo was saved as a JPEG of quality about {jpeg['jpeg_quality']:.0f}. On copies of their own "
                "validation faces saved at such a quality, these models' verdicts were wrong too often to trust, so "
                "none is given; check the original or a copy saved as the models' own data was.")
    if ood.get("members_far") and not ood.get("all_out"):
        which = f"far out of domain for: {', '.join(ood['members_far'])}"
    elif ood.get("members_out") and not ood.get("all_out"):
        which = (f"out of domain for: {', '.join(ood['members_out'])}, and the other models alone do not give "
                 "the same verdict")
    else:
        which = f"out of domain for: {', '.join(ood.get('members_out', [])) or 'every model'}"
    return ("This face is unlike the data these models were trained on, so their score cannot be "
            f"trusted ({which}). It may be a drawing, a heavily compressed, blurred or resized copy, "
            "a photo from a source unlike the training data, or not a photo of a face; check the "
            "file another way.")


def left_out_text(result) -> str | None:
    """Which models the score of the deciding face or track leaves out because their own score
    lies beyond every score they gave on their validation faces; None when none is."""
    left = (getattr(result, "ood", None) or {}).get("members_beyond_range") or []
    if not left:
        return None
    return (f"Not counted in this score: {', '.join(left)} (its score for this face lies beyond any it gave "
            "on the faces it was checked on, as heavy compression can cause); the other models decide.")


def no_face_text(reason: str | None) -> str:
    """What a "no face" verdict means for this file; an unknown or missing reason gets the
    general sentence (results from before the reason existed have none)."""
    return NO_FACE_REASON_TEXTS.get(reason or "", VERDICT_EXPLANATIONS["no_face"])


def track_summary(track) -> str:
    """One person of a video in words: 'Person 1 · 12 of 12 frames · 110 px · P(fake) 23.0% ·
    decides' (or '· shown only: <why>'); ``track`` is a TrackResult."""
    n_frames = round(track.frames_seen / track.share_of_frames) if track.share_of_frames else 0
    decides = "decides" if track.decides else f"shown only: {track.excluded_because or 'does not decide'}"
    return " · ".join([f"Person {track.track_id + 1}", f"{track.frames_seen} of {count(n_frames, 'frame')}",
                       f"{track.face_px:.0f} px", f"P(fake) {percent(track.p_fake)}", decides])


def verdict_label(verdict: str) -> str:
    """'no_face' -> 'No face'; unknown words are made readable the same way."""
    return VERDICT_LABELS.get(verdict, verdict.replace("_", " ").capitalize())


def percent(p: float | None, digits: int = 1) -> str:
    """A probability as a percentage: 0.873 -> '87.3%', None -> '–'."""
    if p is None or not math.isfinite(float(p)):
        return NOTHING
    return f"{100.0 * float(p):.{digits}f}%"


def seconds(t: float | None, digits: int = 1) -> str:
    """A duration or a time in a video: 23.24 -> '23.2 s', None -> '–'."""
    if t is None or not math.isfinite(float(t)):
        return NOTHING
    return f"{float(t):.{digits}f} s"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '2 files', '0 files' ('face crop' -> 'face crops'; irregular plurals given)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def threshold_text(threshold: float, band: tuple[float, float]) -> str:
    """'Threshold 50% · uncertain from 40% to 60%' (no band: 'Threshold 50%')."""
    lo, hi = band
    text = f"Threshold {percent(threshold, 0)}"
    return f"{text} · uncertain from {percent(lo, 0)} to {percent(hi, 0)}" if hi > lo else text


def frame_caption(time_s: float | None, p_fake: float | None, index: int) -> str:
    """The label under a thumbnail of the "most suspicious frames" strip: where the frame
    is and its P(fake), e.g. '23.2 s · 87%' ('#12' stands for a frame without a time)."""
    where = f"#{index}" if time_s is None else seconds(time_s)
    return where if p_fake is None else f"{where} · {percent(p_fake, 0)}"


def frame_summary(index: int, time_s: float | None, p_fake: float | None, n_faces: int) -> str:
    """One sampled frame in words: 'Frame 12 · 0.48 s · P(fake) 87.3% · 1 face'."""
    score = "no face" if p_fake is None else f"P(fake) {percent(p_fake)}"
    bits = [f"Frame {index}"] + ([] if time_s is None else [seconds(time_s, 2)]) + [score]
    return " · ".join(bits + [count(n_faces, "face")])


def timings_text(timings: Mapping[str, float]) -> str:
    """Time per stage: 'decode 0.01 s · faces 0.20 s · total 0.31 s'. Stages that took
    (almost) nothing are left out, the total never."""
    parts = [f"{k.replace('_', ' ')} {seconds(v, 2)}" for k, v in timings.items()
             if isinstance(v, int | float) and (v >= 0.005 or k == "total")]
    return " · ".join(parts)


def verdict_counts(verdicts: Iterable[str]) -> str:
    """'2 fake, 1 real, 1 no face': how many files got each verdict, the commonest first."""
    return ", ".join(f"{n} {verdict_label(v).lower()}" for v, n in Counter(verdicts).most_common())
