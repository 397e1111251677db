"""The one face detector of dfd: MTCNN (bundled weights, offline; its networks in
:mod:`dfd.faces.mtcnn_networks`), batched.

Every user — data preparation, the dataset builds, clip crops and tracking, the inference
engine — runs :class:`FaceDetector`; they differ only in their :class:`DetectorSettings`,
named below (``INFERENCE``, ``DATA_PREP``, ...). One rule turns settings into the image MTCNN
searches (:meth:`DetectorSettings.scale`): the image is shrunk so that a ``min_face_size``
face (px in the ORIGINAL image) becomes MTCNN's 12 px window, and its longer side is at most
``max_side``; it is never enlarged. MTCNN then always runs with ``min_face_size=12``, so its
pyramid starts at scale 1 and only shrinks. (mtcnn 1.0 itself is unsafe there: with
``min_face_size`` > 12 its pyramid gets levels under 12 px, PNet fails on them and *every*
face of the image is silently lost, e.g. ``single_face.jpg`` at 384 px with
``min_face_size=27``; dfd's MTCNN drops those levels, :func:`dfd.faces.mtcnn_networks._pyramid_fixed`, which only
the region searches of videos need: they look for faces near a known size.)

When nothing is found, two retries (:attr:`DetectorSettings.retry`) recover faces people see:

* **padded**: MTCNN needs context around a face and misses tight crops and pre-aligned face
  images (a face filling the image; UTKFace's 200 px crops, close-up portraits). The image is
  padded by :data:`PAD_FRACTION` of its longer side on every side with mid grey and searched
  again at the ORIGINAL image's scale; a face whose centre lies in the original image is kept
  (boxes may then reach past its border). Measured on crossdomain_dev's photos with the
  inference settings: no face in 97 of 580 (UTKFace 74/260, SDFD 22/160, tpdne 1/160) before,
  3 after; mid grey recovered more than black, edge-replicated or mirrored borders, 0.5 more than
  0.25 or 1.0 (docs/experiments.md, "Face recall").
* **finer**: an image shrunk by ``max_side`` (a large photo or a 1080p frame, where the smallest
  face kept is then larger than ``min_face_size``) is searched again at twice the scale (at
  most the scale ``min_face_size`` asks for, and :data:`FINER_MAX_PIXELS` pixels): faces half
  as large are found. The clip crops' old whole-clip retry at twice ``max_side``, per frame.
* **rotated** (:attr:`DetectorSettings.retry_rotated`): a photo whose orientation was lost (no
  EXIF rotation, a scan, a screenshot of a turned phone) is searched turned by a quarter, three
  quarters and a half; faces come back in the original's pixels with the upright face's
  landmark order, so the aligned crop is upright. MTCNN itself finds faces tilted up to about
  30 degrees and many three-quarter views; full profiles stay beyond it. Off for video frames
  (the container's rotation is applied when decoding), where a frame without a face is common
  and each search costs time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from dfd.faces.mtcnn_networks import MTCNN_LOCK, compiled_mtcnn
from dfd.faces.plausibility import implausible_because
from dfd.faces.types import LANDMARK_NAMES, Face

MTCNN_WINDOW = 12  # px: the smallest face MTCNN's proposal network sees at scale 1
PAD_FRACTION = 0.5  # the padded retry's margin on every side, as a share of the longer side
PAD_VALUE = 128  # mid grey: recovered more tight crops than black, replicated or mirrored borders
REGION_SIDE = 160  # px: a searched region's shorter side at most (its face ~80 px, over ONet's 48 px input)
# A region made for a face is searched for faces down to this share of that face's size, not
# down to MTCNN's 12 px window: a face rarely halves its size between two keyframes (the next
# whole search finds it if it does), and the pyramid's finest levels are ~80% of its work.
REGION_SMALLEST_FACE = 0.5
REGION_STEP = 32  # px: region copies are padded to multiples of this, so that many share one MTCNN call
FINER_MAX_PIXELS = 1_500_000  # px: the finer retry's searched copy is at most this large


@dataclass(frozen=True)
class DetectorSettings:
    """What a detection depends on besides the pixels."""

    max_side: int  # px: longest side of the image MTCNN searches
    min_face_size: float  # px in the original image: the smallest face looked for
    min_confidence: float = 0.9  # MTCNN's final (ONet) score a face needs
    retry: bool = True  # search again (padded, then finer) an image where no face was found
    # then also turned a quarter, half and three quarters (a photo whose orientation was lost)
    retry_rotated: bool = True

    def __post_init__(self):
        if not self.max_side >= MTCNN_WINDOW:
            raise ValueError(f"max_side must be at least {MTCNN_WINDOW} px, not {self.max_side!r}")
        if not self.min_face_size > 0:
            raise ValueError(f"min_face_size must be a positive number of pixels, not {self.min_face_size!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence!r}")

    def scale(self, height: int, width: int) -> float:
        """The one rule: how much an image of ``height`` x ``width`` is shrunk for MTCNN (at
        most 1)."""
        return min(1.0, self.max_side / max(height, width), MTCNN_WINDOW / max(1.0, float(self.min_face_size)))

    def finer_scale(self, height: int, width: int) -> float | None:
        """The finer retry's scale for an image the first search shrank by ``max_side``, or
        None when that search already ran at the scale ``min_face_size`` asks for."""
        first = self.scale(height, width)
        finer = min(1.0, 2.0 * first, MTCNN_WINDOW / max(1.0, float(self.min_face_size)),
                    (FINER_MAX_PIXELS / max(1.0, float(height) * float(width))) ** 0.5)
        return finer if finer > first * 1.25 else None

    def to_dict(self) -> dict:
        return asdict(self)


# The settings of each user, in one place. Each keeps the smallest face and the search scale
# it had before the detectors were unified (eager MTCNN given min_face_size on a max_side copy).
# The engine (`dfd scan`, the app): faces from 20 px, searched at <= 384 px, so a photo of up to
# 640 px is searched at data preparation's scale (0.6) and its crops are the members' training
# crops pixel for pixel. Faces from 40 px (a 0.3 search) gave dfd-default's test photos crops
# 19 grey levels off theirs (median; landmarks from a 30 px face) and a file-level ROC-AUC of
# 0.781 against 0.833 on the same photos' prepared crops (scripts/measure_file_verdicts.py,
# docs/experiments.md session 21). A 1024 px photo is searched at 384 px (~50 ms end to end on
# the 2-core dev CPU against ~500 ms for plain MTCNN at full size: scripts/bench_inference.py).
INFERENCE = DetectorSettings(max_side=384, min_face_size=20)
# Data preparation (FaceCropper) and the video dataset's photos: faces from 20 px, photos
# searched at <= 640 px.
DATA_PREP = DetectorSettings(max_side=640, min_face_size=20)
# The default dataset's choice of real photos: faces from 16 px, searched at <= 640 px.
DEFAULT_DATASET = DetectorSettings(max_side=640, min_face_size=16)
# Clip crops, video scoring and the video study: once a 320 px copy searched from 20 px faces,
# i.e. a 192 px copy searched from MTCNN's 12 px window (faces fill a good part of a video; a
# 720p frame is searched from 80 px faces, and from 40 px by the finer retry when none is found).
VIDEO = DetectorSettings(max_side=192, min_face_size=20, retry_rotated=False)
# The video dataset's source videos (360p-540p): faces from 20 px, searched at <= 480 px (what
# a 320 px copy came to when MTCNN was given 8-20 px faces on it, i.e. enlarged it up to 1.5x).
VIDEO_SOURCES = DetectorSettings(max_side=480, min_face_size=20, retry_rotated=False)


def faces_from_mtcnn(raw, sx: float, sy: float, min_confidence: float) -> list[Face]:
    """The one parser of MTCNN output: its detections on a copy resized by ``sx``, ``sy``
    (copy px per original px) -> :class:`Face` objects in the original image's coordinates,
    confident ones only, largest first, landmarks image-left first (as everywhere in dfd)."""
    faces = []
    for r in raw or []:
        if not isinstance(r, dict) or float(r["confidence"]) < min_confidence:
            continue
        x, y, bw, bh = (float(v) for v in r["box"])
        kp = r["keypoints"]
        pts = np.array([kp[name] for name in LANDMARK_NAMES], dtype=np.float64) / [sx, sy]
        if pts[0, 0] > pts[1, 0]:  # MTCNN names eyes from the viewer's side already; make sure
            pts[[0, 1]] = pts[[1, 0]]
        if pts[3, 0] > pts[4, 0]:
            pts[[3, 4]] = pts[[4, 3]]
        faces.append(Face((x / sx, y / sy, bw / sx, bh / sy), float(r["confidence"]), pts))
    faces.sort(key=lambda f: -f.area)
    return faces


MTCNN_PYRAMID_FACTOR = 0.709  # mtcnn's scale_factor: each pyramid level is 0.709 of the one before


def _skip_levels(face: float) -> float:
    """The ``min_face_size`` whose pyramid is MTCNN's full one (from its 12 px window) less
    the levels that only find faces under ``face`` px: the same levels, bit for bit, as
    whole steps of the factor (so cuts searched for similar sizes also share one call)."""
    if not face > MTCNN_WINDOW:
        return float(MTCNN_WINDOW)
    k = int(np.floor(np.log(face / MTCNN_WINDOW) / -np.log(MTCNN_PYRAMID_FACTOR)))
    return MTCNN_WINDOW / MTCNN_PYRAMID_FACTOR**k


class FaceDetector:
    """Faces in images: ``detect(rgb)``, or ``detect_batch(images)`` where same-sized images
    (video frames) share one MTCNN call per ``batch_size`` images. ``FaceDetector(VIDEO)``;
    keyword arguments change single settings (``FaceDetector(DATA_PREP, max_side=320)``).
    Every instance shares the process's one compiled MTCNN (:func:`compiled_mtcnn`), so
    instances cost nothing and are safe to use from several threads."""

    VERSION = 5  # bump when detection changes: part of cache_tag (2: one compiled detector, MTCNN at 12 px; 3: retries;
    # 4: the rotated retry; 5: MTCNN's networks run by TensorFlow Lite, regions searched from a face size)

    def __init__(self, preset: DetectorSettings = DATA_PREP, **changes):
        if not isinstance(preset, DetectorSettings):
            raise TypeError(f"preset must be DetectorSettings (e.g. dfd.faces.detection.VIDEO), not {preset!r}")
        self._config = replace(preset, **changes) if changes else preset

    @property
    def config(self) -> DetectorSettings:
        return self._config

    @property
    def settings(self) -> dict:
        """What a detection depends on besides the pixels (part of the face-crop cache key)."""
        return self._config.to_dict()

    @property
    def cache_tag(self) -> str:
        """A short name for "detections made this way" (detector version and settings), for
        caches of detections keyed by file."""
        key = json.dumps({"v": self.VERSION, **self.settings}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:10]

    @property
    def max_side(self) -> int:
        return self._config.max_side

    @property
    def min_face_size(self) -> float:
        return self._config.min_face_size

    @property
    def min_confidence(self) -> float:
        return self._config.min_confidence

    @property
    def networks(self):
        """The compiled MTCNN this detector runs (one per process)."""
        return compiled_mtcnn()

    def with_settings(self, **changes) -> FaceDetector:
        """A detector with some settings changed (e.g. a finer ``max_side``), on the same
        compiled networks."""
        return type(self)(self._config, **changes)

    def scale(self, height: int, width: int) -> float:
        return self._config.scale(height, width)

    def __repr__(self) -> str:
        return f"FaceDetector({self._config!r})"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images, batch_size: int = 32) -> list[list[Face]]:
        """Faces of each (H, W, 3) image, largest first; images where none is found are
        searched again padded, then finer (:attr:`DetectorSettings.retry`)."""
        images = list(images)
        for im in images:
            if getattr(im, "ndim", 0) != 3 or im.shape[2] != 3:
                raise ValueError(f"face detection takes (H, W, 3) RGB images, got shape {getattr(im, 'shape', None)}")
        out = self._search(images, [self._config.scale(*im.shape[:2]) for im in images], batch_size)
        if not self._config.retry:
            return out
        # only images the first search could read (a copy that holds one 12 px window)
        missed = [i for i, faces in enumerate(out) if not faces and _searchable(images[i].shape[:2], self._config)]
        if missed:
            for i, faces in zip(missed, self._padded_search([images[i] for i in missed], batch_size)):
                out[i] = faces
        finer = [i for i in missed if not out[i] and self._config.finer_scale(*images[i].shape[:2])]
        if finer:
            scales = [self._config.finer_scale(*images[i].shape[:2]) for i in finer]
            for i, faces in zip(finer, self._search([images[i] for i in finer], scales, batch_size)):
                out[i] = faces
        missed = [i for i in missed if not out[i]]
        if missed and self._config.retry_rotated:
            for i, faces in zip(missed, self._rotated_search([images[i] for i in missed], batch_size)):
                out[i] = faces
        return out

    def detect_in_regions(self, images, regions, batch_size: int = 32) -> list[list[Face]]:
        """Faces of each image searched only inside its regions (``(x0, y0, x1, y1)`` boxes in
        the image's pixels, one list per image, not overlapping), at the scale the whole image
        would be searched at, or smaller where a region's shorter side would exceed
        :data:`REGION_SIDE` px (a large face needs no more pixels than ONet's 48 px input): each
        region is cut, shrunk and padded in mid grey to a shared size (multiples of
        :data:`REGION_STEP` px) so that regions of many frames share one MTCNN call. Faces come back in the image's
        pixels, largest first; a face centred in the padding is dropped. A region with a fifth
        value (:class:`dfd.faces.keyframes.Region`'s ``face``: the longer side of the smallest face
        it was made for, px) is searched for faces of at least :data:`REGION_SMALLEST_FACE` of
        that size only. No retries: the caller decides what a region without a face means
        (:func:`dfd.faces.keyframes.detect_sequence`)."""
        images, regions = list(images), [list(r) for r in regions]
        if len(images) != len(regions):
            raise ValueError(f"one list of regions per image: {len(images)} images, {len(regions)} lists")
        cuts, where, smallest = [], [], []  # the padded cuts, (image, x0, y0, sx, sy, cut w, cut h) of each,
        # and the smallest face (px in the cut) each is searched for
        for i, (im, boxes) in enumerate(zip(images, regions)):
            h, w = im.shape[:2]
            whole = self._config.scale(h, w)
            for box in boxes:
                x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
                x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
                if x1 <= x0 or y1 <= y0:
                    continue
                # a large face needs no more pixels than ONet's 48 px input: a region's shorter side
                # is searched at REGION_SIDE px at most (a face's region is twice its size)
                scale = min(whole, REGION_SIDE / min(x1 - x0, y1 - y0))
                cw, ch = _copy_size(y1 - y0, x1 - x0, scale)
                if min(cw, ch) < MTCNN_WINDOW:
                    continue  # no 12 px window fits: no face can be found there
                cut = im[y0:y1, x0:x1]
                small = cv2.resize(cut, (cw, ch), interpolation=cv2.INTER_AREA) if scale < 1.0 else cut
                pw, ph = -(-cw // REGION_STEP) * REGION_STEP, -(-ch // REGION_STEP) * REGION_STEP
                cuts.append(cv2.copyMakeBorder(np.ascontiguousarray(small), 0, ph - ch, 0, pw - cw,
                                               cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3))
                where.append((i, x0, y0, cw / (x1 - x0), ch / (y1 - y0), cw, ch))
                face = float(box[4]) if len(box) > 4 else 0.0  # Region.face; plain boxes: from 12 px
                smallest.append(_skip_levels(REGION_SMALLEST_FACE * face * scale))
        out: list[list[Face]] = [[] for _ in images]
        found = self._search(cuts, [1.0] * len(cuts), batch_size, smallest)
        for (i, x0, y0, sx, sy, cw, ch), faces in zip(where, found):
            for f in faces:
                x, y, bw, bh = f.box  # in the cut's pixels
                if 0 <= x + bw / 2 <= cw and 0 <= y + bh / 2 <= ch:
                    out[i].append(Face((x / sx + x0, y / sy + y0, bw / sx, bh / sy), f.score,
                                       f.landmarks / [sx, sy] + [x0, y0]))
        for faces in out:
            faces.sort(key=lambda f: -f.area)
        return out

    def _rotated_search(self, images, batch_size: int) -> list[list[Face]]:
        """Each image turned by a quarter, a half and three quarters and searched; the faces of
        the turn with the most confident face, mapped back into the original's pixels. The
        landmarks keep the upright face's order (its left eye first), so alignment gives an
        upright crop."""
        out = []
        for im in images:
            h, w = im.shape[:2]
            turned = [np.ascontiguousarray(np.rot90(im, k)) for k in QUARTER_TURNS]
            found = self._search(turned, [self._config.scale(*t.shape[:2]) for t in turned], batch_size)
            # three more searches of an image with no upright face find patterns too (a dress print at 0.95):
            # a turned face must be very confident and face-shaped where it was found, upright
            found = [[f for f in faces if f.score >= ROTATED_MIN_CONFIDENCE and implausible_because(f) is None]
                     for faces in found]
            best = max(zip(QUARTER_TURNS, found), key=lambda kf: max((f.score for f in kf[1]), default=0.0))
            k, faces = best
            out.append([_unturned(f, k, h, w) for f in faces])
        return out

    def _padded_search(self, images, batch_size: int) -> list[list[Face]]:
        """Each image padded by PAD_FRACTION of its longer side in mid grey, searched at the
        original image's scale; faces back in the original's pixels, those centred in it only."""
        padded, margins, scales = [], [], []
        for im in images:
            h, w = im.shape[:2]
            m = int(round(PAD_FRACTION * max(h, w)))
            padded.append(cv2.copyMakeBorder(im, m, m, m, m, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3))
            margins.append(m)
            scales.append(self._config.scale(h, w))
        out = []
        for im, m, faces in zip(images, margins, self._search(padded, scales, batch_size)):
            h, w = im.shape[:2]
            kept = []
            for f in faces:
                x, y, bw, bh = f.box
                if 0 <= x - m + bw / 2 <= w and 0 <= y - m + bh / 2 <= h:
                    kept.append(Face((x - m, y - m, bw, bh), f.score, f.landmarks - m))
            out.append(kept)
        return out

    def _search(self, images, scales, batch_size: int, smallest=None) -> list[list[Face]]:
        """One MTCNN search of each image at its scale (for faces of at least ``smallest`` px
        in the searched copy, per image; MTCNN's 12 px window when None); same-sized images at
        the same scale share one call per ``batch_size`` images."""
        out: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple, list[int]] = {}
        smallest = [MTCNN_WINDOW] * len(images) if smallest is None else list(smallest)
        for i, (im, scale) in enumerate(zip(images, scales)):
            groups.setdefault((*im.shape[:2], float(scale), max(float(MTCNN_WINDOW), float(smallest[i]))), []).append(i)
        for (h, w, scale, min_face), members in groups.items():
            size = _copy_size(h, w, scale)
            if min(size) < MTCNN_WINDOW or min(h, w) < MTCNN_WINDOW:
                continue  # no 12 px window fits: no face can be found
            sx, sy = size[0] / w, size[1] / h  # exact back-projection (sizes are rounded)
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                small = [np.ascontiguousarray(cv2.resize(images[i], size, interpolation=cv2.INTER_AREA)
                                              if scale < 1.0 else images[i]) for i in chunk]
                with MTCNN_LOCK:
                    raw = self.networks.detect_faces(small if len(small) > 1 else small[0],
                                                     min_face_size=min_face)
                if len(small) == 1:
                    raw = [raw]
                raw = list(raw) + [[] for _ in range(len(chunk) - len(raw))]
                for i, r in zip(chunk, raw):
                    out[i] = faces_from_mtcnn(r, sx, sy, self._config.min_confidence)
        return out


QUARTER_TURNS = (1, 3, 2)  # np.rot90's k (counter-clockwise quarter turns), most likely first
ROTATED_MIN_CONFIDENCE = 0.99  # MTCNN score a face found turned needs (a turned photo's face scores ~0.9999)


def _unturn_points(pts: np.ndarray, k: int, h: int, w: int) -> np.ndarray:
    """Points of ``np.rot90(image, k)`` back in the ``h`` x ``w`` image's pixels."""
    x, y = pts[:, 0], pts[:, 1]
    if k == 1:
        return np.stack([w - y, x], axis=1)
    if k == 2:
        return np.stack([w - x, h - y], axis=1)
    if k == 3:
        return np.stack([y, h - x], axis=1)
    return pts.copy()


def _unturned(face: Face, k: int, h: int, w: int) -> Face:
    x, y, bw, bh = face.box
    corners = _unturn_points(np.array([[x, y], [x + bw, y + bh]], np.float64), k, h, w)
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), face.score,
                _unturn_points(np.asarray(face.landmarks, np.float64), k, h, w))


def _copy_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(width, height)`` of the copy MTCNN searches at ``scale``."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def _searchable(shape, config: DetectorSettings) -> bool:
    """Whether an image of ``shape`` (h, w) and its copy at ``config``'s scale hold one 12 px window."""
    h, w = shape
    return min(h, w) >= MTCNN_WINDOW and min(_copy_size(h, w, config.scale(h, w))) >= MTCNN_WINDOW
