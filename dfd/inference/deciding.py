"""Who decides a verdict: which faces (images) and tracks (videos) may set it, and why a file
has no usable face.

One owner for these rules; :mod:`dfd.inference.engine` (images) and
:mod:`dfd.inference.video` (videos) apply them. The thresholds are first choices, not yet
measured (issue 16 asks for a measured rule).

* Images: a face much smaller than the main face (:func:`dfd.faces.choose_main_face`), under
  :data:`MIN_AREA_SHARE_OF_MAIN` of its area, is scored and shown but does not decide: a
  background face or a face on a poster must not outvote the person photographed. Nor does a
  face whose landmarks are unlike a face's (:mod:`dfd.faces.plausibility`: cartoons, patterns),
  unless every face is. The most suspicious of the remaining faces decides.
* Videos: a track whose landmarks are unlike a face's in most frames, one seen in under
  :data:`MIN_TRACK_SHARE` of the sampled frames, or whose
  median face is under :data:`MIN_DECIDING_FACE_PX`, is shown but does not decide, unless no
  other track may (then every track may). The most suspicious track that may decide does.
* No usable face: faces under :data:`MIN_SCORED_FACE_PX` are not scored at all; a video needs
  a scored face in :data:`MIN_FRAMES_WITH_FACE` sampled frames. :func:`no_face_reason` says
  which of :data:`NO_FACE_REASONS` applies.
"""

from __future__ import annotations

import numpy as np

from dfd.faces import Face, choose_main_face

# A face under 1/16 of the main face's area (a quarter of its width) is a bystander, a face
# in a picture on the wall or an inset: shown, never the one that decides.
MIN_AREA_SHARE_OF_MAIN = 1.0 / 16.0
# A track seen in under a quarter of the sampled frames is as often a false detection or an
# inset (the FF++ news clip of issue 16) as a person: it does not decide alone.
MIN_TRACK_SHARE = 0.25
# px, short side of the face box: a face this small is upscaled 3x or more into a 128 px crop,
# where the members see blur more than manipulation (a video track this small does not decide).
MIN_DECIDING_FACE_PX = 40.0
# px: smaller faces are not scored at all; the training data's faces start at 16 px
# (dfd.faces.detection.DEFAULT_DATASET), so the members never saw smaller ones.
MIN_SCORED_FACE_PX = 16.0
# sampled frames with a scored face a video needs (or all of them, when fewer are sampled):
# a lone detection in a video is as often a false one as a person.
MIN_FRAMES_WITH_FACE = 2

# The video rule (dfd.evaluation.video_rules) over the faces that may decide. Measured with the
# dfd-default bundle (python -m dfd.external.video_rules; docs/experiments.md "Video rules"):
# on crossdomain_dev's 72 FF++ videos it had the lowest log loss (0.752, vs 0.814 for the old
# per-track top-k mean) and the highest AUC (0.643 vs 0.638), 8 vs 15 of 24 real videos over
# 0.5; on the 44 default test clips it equals the per-track mean (AUC 0.690 vs 0.671, log loss
# 0.725 vs 0.691, 0 vs 5 of 22 real clips over 0.5). The mean rules won AUC on both sets. The
# temporal model (notebook 06) won on the default clips it was trained on (AUC 0.767) but lost
# on FF++ (0.578), so the engine does not use it.
VIDEO_RULE = "frame_max_mean"

# Bumped whenever a rule of the engine that changes verdicts or scores changes (who decides,
# the video rule, face-detection retries): part of the external evaluation's cache key, so
# cached results of an older engine are analysed again. 1: issue 16's who-decides rules;
# 2: the detector's padded/finer retries and the measured video rule; 3: landmark plausibility;
# 4: the rotated retry (photos) and keyframe search (videos, dfd.faces.keyframes); 5: MTCNN and
# the members run by TensorFlow Lite (dfd.lite: the same graphs, float32 rounding apart); 6: video
# regions searched for faces from half the size of the keyframe face they were made for; 7: video
# keyframes spaced from MIN_TRACK_SHARE (dfd.inference.video.keyframe_spacing: 32 frames, every 8th);
# 8: a verdict that the members in domain alone do not give is "uncertain" (EnsembleBundle.uncertain_reason);
# 9: a face softer than the validation faces is "uncertain" where the bundle's sharpness check is active;
# 10: photos searched for faces from 20 px (dfd.faces.detection.INFERENCE), as data preparation does;
# 11: a photo saved at a JPEG quality where the validation faces' verdicts broke down is "uncertain"
# where the bundle's compression check is active (dfd.evaluation.compression).
ENGINE_RULES_VERSION = 11

NO_FACE_FOUND = "no face found"
FACES_TOO_SMALL = "faces too small"
TOO_FEW_FRAMES = "too few frames with a face"
NO_FACE_REASONS = (NO_FACE_FOUND, FACES_TOO_SMALL, TOO_FEW_FRAMES)


def face_px(box) -> float:
    """A face's size: the short side of its (x, y, w, h) box, in px."""
    return float(min(box[2], box[3]))


def scored_faces(faces: list[Face]) -> list[Face]:
    """The faces worth scoring: those at least :data:`MIN_SCORED_FACE_PX` on their short side."""
    return [f for f in faces if face_px(f.box) >= MIN_SCORED_FACE_PX]


def no_face_reason(found: list[list[Face]], n_with_face: int = 0) -> str:
    """Why a file has no usable face. ``found``: every face the detector found, one list per
    image (one for a photo, one per sampled frame of a video); ``n_with_face``: how many of
    them gave a scored face (a video with too few of them)."""
    if n_with_face > 0:
        return TOO_FEW_FRAMES
    if any(found) and not any(scored_faces(faces) for faces in found):
        return FACES_TOO_SMALL
    return NO_FACE_FOUND  # none found, or none that could be cropped (degenerate landmarks)


def enough_frames(n_with_face: int, n_frames: int) -> bool:
    """Whether ``n_with_face`` of ``n_frames`` sampled frames with a face give a video verdict."""
    return n_with_face >= min(MIN_FRAMES_WITH_FACE, n_frames) and n_with_face > 0


def deciding_faces(boxes: list, scores: list[float], image_shape, plausible: list[bool] | None = None) -> list[int]:
    """Indices of the faces of one image that may decide its verdict: all but those under
    :data:`MIN_AREA_SHARE_OF_MAIN` of the main face's area (the main face always may), and
    but those whose landmarks are unlike a face's (``plausible`` False,
    :mod:`dfd.faces.plausibility`) — unless that would leave none."""
    if not boxes:
        return []
    faces = [Face(tuple(b), float(s), np.zeros((5, 2))) for b, s in zip(boxes, scores)]
    main = choose_main_face(faces, image_shape)
    may = [i for i, f in enumerate(faces) if f is main or f.area >= MIN_AREA_SHARE_OF_MAIN * main.area]
    if plausible is not None:
        may = [i for i in may if plausible[i]] or may
    return may


def track_exclusion(share_of_frames: float, median_face_px: float, implausible_share: float = 0.0) -> str | None:
    """Why a track may not decide on its own (None: it may). ``implausible_share``: the
    share of its frames whose landmarks are unlike a face's (over half: it may not)."""
    if implausible_share > 0.5:
        return f"landmarks unlike a face in {implausible_share:.0%} of its frames"
    if share_of_frames < MIN_TRACK_SHARE:
        return f"seen in {share_of_frames:.0%} of the frames (under {MIN_TRACK_SHARE:.0%})"
    if median_face_px < MIN_DECIDING_FACE_PX:
        return f"face {median_face_px:.0f} px (under {MIN_DECIDING_FACE_PX:.0f} px)"
    return None
