"""Faces of a video's sampled frames from whole searches of a few keyframes.

Searching every sampled frame whole is most of a video's analysis time (32 frames of 720p:
~2 of 3.4 s on 2 cores, :mod:`scripts.bench_video`), yet a person rarely jumps across the
frame between two sampled frames. :func:`detect_sequence` searches every
``keyframe_every``-th frame (and the last) whole, with the detector's retries, and each frame
between two keyframes only near the faces found on either of them: their boxes grown by
:data:`REGION_GROWTH` of the box's size on every side, overlapping regions merged, at the
scale the whole frame would be searched at (smaller for a large face: :meth:`FaceDetector.detect_in_regions
<dfd.faces.detection.FaceDetector.detect_in_regions>`), for faces from half the size of the
smallest keyframe face a region was made for (:class:`Region`; MTCNN's finest pyramid levels
are most of its work). A face found there is the face a whole-frame search finds: on the bench
clip its landmarks differ from the whole search's by a median 3.6% (90th percentile 5%) of the
inter-ocular distance, what moving the frame by 2 px does to a whole search (3.3%, 5%); the
same with and without the face-size limit. A frame between keyframes is still searched whole when neither
keyframe has a face, or when its regions hold none (the person left, or moved further), so a
face on screen between keyframes is not lost; what can be missed is a second face that shows
only between keyframes while the tracked one stays, i.e. one seen in fewer than
``keyframe_every`` consecutive sampled frames. The engine spaces its keyframes so that such a
face is too short to decide a verdict when there is another track
(:func:`dfd.inference.video.keyframe_spacing`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dfd.faces.types import Face

REGION_GROWTH = 0.5  # a face's region: its box grown by half the box's longer side on every side


class Region(NamedTuple):
    """A part of a frame to search, in its pixels, and the longer side of the smallest face
    it was made for (what :meth:`FaceDetector.detect_in_regions
    <dfd.faces.detection.FaceDetector.detect_in_regions>` needs to look for)."""

    x0: float
    y0: float
    x1: float
    y1: float
    face: float


def face_regions(faces: list[Face], shape: tuple[int, int]) -> list[Region]:
    """The regions to search for ``faces`` seen nearby in time: each box grown by
    :data:`REGION_GROWTH` of its longer side, clipped to the ``shape`` (h, w) frame,
    overlapping ones merged into their union until none overlap."""
    h, w = shape
    boxes = []
    for f in faces:
        x, y, bw, bh = (float(v) for v in f.box)
        g = REGION_GROWTH * max(bw, bh)
        boxes.append([max(0.0, x - g), max(0.0, y - g), min(float(w), x + bw + g), min(float(h), y + bh + g),
                      max(bw, bh)])
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), min(a[4], b[4])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [Region(*b) for b in boxes if b[2] > b[0] and b[3] > b[1]]


def keyframe_positions(n: int, keyframe_every: int) -> list[int]:
    """Which of ``n`` sampled frames are searched whole: every ``keyframe_every``-th and the last."""
    if n <= 0:
        return []
    return sorted(set(range(0, n, max(1, int(keyframe_every)))) | {n - 1})


def detect_sequence(detector, images: list[np.ndarray], keyframe_every: int) -> list[list[Face]]:
    """Faces of each of a video's sampled ``images`` (in time order), keyframes searched whole
    and the frames between them near the keyframes' faces (module doc). ``keyframe_every`` 1
    searches every frame whole: ``detector.detect_batch(images)``."""
    images = list(images)
    if keyframe_every <= 1 or len(images) <= 2:
        return detector.detect_batch(images)
    keys = keyframe_positions(len(images), keyframe_every)
    out: list[list[Face] | None] = [None] * len(images)
    for i, faces in zip(keys, detector.detect_batch([images[i] for i in keys])):
        out[i] = faces
    between = [i for i in range(len(images)) if out[i] is None]
    regions = {}
    for i in between:
        before = out[max(k for k in keys if k < i)]
        after = out[min(k for k in keys if k > i)]
        found = face_regions(list(before) + list(after), images[i].shape[:2])
        if found:
            regions[i] = found
    near = list(regions)
    for i, faces in zip(near, detector.detect_in_regions([images[i] for i in near], [regions[i] for i in near])):
        out[i] = faces
    whole = [i for i in between if not out[i]]  # no face nearby: search the frame whole, with retries
    if whole:
        for i, faces in zip(whole, detector.detect_batch([images[i] for i in whole])):
            out[i] = faces
    return [list(f) for f in out]
