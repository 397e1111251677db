"""Where the face is: the five landmarks validated and fitted to the ArcFace template frame
(:func:`similarity_transform`), the deformed face outline and its soft mask
(:func:`face_mask`), the head-turn proxy (:func:`estimate_yaw`) and the face's scale
relative to the detector crop, which sizes the frequency artefacts."""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from dfd.data.synth.blending import _gaussian
from dfd.data.synth.parameters import _merge, _rng, _sample_mask
from dfd.errors import BadInputError
from dfd.faces.alignment import TEMPLATE_UNIT, transform_points

__all__ = ["CROP_IOD", "face_mask", "similarity_transform", "estimate_yaw"]

# Inter-ocular distance (px) of a face in the detector's input crop (dfd.faces.alignment with
# size=128, margin=0.3). Frequency artefacts (blur, down-scaling) are sized in these "crop
# pixels" so they survive — and are equally strong — whatever the photo's resolution.
CROP_IOD = 31.0

# Face outline (brows → temple → cheek → jaw → chin) in the ArcFace 112 px template frame,
# i.e. where a typical face's brow line and jaw fall once aligned like _TEMPLATE_112.
_TEMPLATE_112 = TEMPLATE_UNIT * 112.0  # the five landmarks in the ArcFace 112 px frame
_OUTLINE_112 = np.array(
    [
        [17, 48], [22, 38], [32, 33], [44, 34], [56, 36], [68, 34], [80, 33], [90, 38], [95, 48],
        [96, 62], [94, 77], [89, 92], [80, 104], [68, 111], [56, 113],
        [44, 111], [32, 104], [23, 92], [18, 77], [16, 62],
    ],
    dtype=np.float64,
)
_FACE_CENTRE_112 = np.array([56.0, 72.0])
_TEMPLATE_IOD = float(np.linalg.norm(_TEMPLATE_112[1] - _TEMPLATE_112[0]))
_FACE_SIZE_112 = 112.0  # "face size" unit: template width, about 3.2 inter-ocular distances
_HARMONIC_AMPLITUDE = 0.045  # radial deformation amplitude of harmonic k is ±this / k
_MIN_SPREAD_PX = 0.5


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) taking
    ``src`` points to ``dst`` points, as a 2x3 matrix (Umeyama 1991). This is the model of
    ``cv2.estimateAffinePartial2D`` without its random-sampling outlier rejection, which
    with five points buys nothing and would make results depend on OpenCV's global RNG."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs**2).sum() / len(src)
    if not np.isfinite(var_s) or var_s < 1e-12:
        raise BadInputError("face landmarks are degenerate (all points coincide); cannot fit a transform")
    cov = xd.T @ xs / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / var_s)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def _check_image(rgb: np.ndarray, name: str) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise BadInputError(f"{name} must be an HxWx3 uint8 RGB array, got {got}")
    if min(rgb.shape[:2]) < 2:
        raise BadInputError(f"{name} is only {rgb.shape[1]}x{rgb.shape[0]} px")


class _FaceGeom(NamedTuple):
    frame: np.ndarray  # 2x3 similarity, ArcFace-112 template frame -> image
    scale: float  # image px per template px
    yaw: float  # nose offset from the eye/mouth midline, in inter-ocular distances (signed)

    @property
    def face_px(self) -> float:
        return self.scale * _FACE_SIZE_112

    def centre(self) -> np.ndarray:
        return transform_points(_FACE_CENTRE_112[None], self.frame)[0]


def _face_geom(landmarks, what: str = "landmarks") -> _FaceGeom:
    """Validate the landmarks and fit the template frame to them."""
    try:
        pts = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must be a (5, 2) array of x, y pixel coordinates") from None
    if pts.shape != (5, 2):
        raise BadInputError(f"{what} must have shape (5, 2) (eyes, nose, mouth corners), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise BadInputError(f"{what} contain NaN or infinite coordinates")
    spread = float(np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean()))
    if spread < _MIN_SPREAD_PX:
        raise BadInputError(
            f"{what} are degenerate: the five points (nearly) coincide (spread {spread:.2f} px); "
            "cannot locate a face region"
        )
    matrix = similarity_transform(_TEMPLATE_112, pts)
    scale = float(np.hypot(*matrix[:, 0]))
    template_spread = float(np.sqrt(((_TEMPLATE_112 - _TEMPLATE_112.mean(0)) ** 2).sum(1).mean()))
    if scale * template_spread < 0.25 * spread:  # no rotation+scale fits: mirrored or scrambled order
        raise BadInputError(
            f"{what} do not look like a face (wrong point order or mirrored?); expected left eye, "
            "right eye, nose, mouth left, mouth right"
        )
    inv = cv2.invertAffineTransform(matrix)
    t = transform_points(pts, inv)
    midline = (t[0, 0] + t[1, 0] + t[3, 0] + t[4, 0]) / 4.0
    yaw = float((t[2, 0] - midline) / _TEMPLATE_IOD)
    return _FaceGeom(matrix, scale, yaw)


def estimate_yaw(landmarks) -> float:
    """Signed head-turn proxy from the five landmarks: the nose's offset from the eye/mouth
    midline in inter-ocular distances (about 0 frontal, ±0.4 for a three-quarter view;
    negative = nose towards image-left). Pair swap donors and targets with similar values
    (say within 0.15): a turned donor only covers part of a frontal target's face."""
    return _face_geom(landmarks).yaw


def _mask_outline(geom: _FaceGeom, mp: dict) -> np.ndarray:
    """The deformed face outline in image coordinates (dense closed polygon).

    A turned head (nose off the eye/mouth midline) has its far cheek hidden: the outline is
    pulled in horizontally on the side the nose points to, so the mask does not reach over
    the face contour onto the background."""
    pts = _OUTLINE_112
    # densify so the radial deformation bends edges, not just corners
    nxt = np.roll(pts, -1, axis=0)
    t = np.linspace(0.0, 1.0, 6, endpoint=False)[None, :, None]
    dense = (pts[:, None, :] * (1 - t) + nxt[:, None, :] * t).reshape(-1, 2)
    c = _FACE_CENTRE_112
    rel = dense - c
    turn = max(0.0, abs(geom.yaw) - 0.06)
    if turn > 0:
        far = np.sign(rel[:, 0]) == np.sign(geom.yaw)
        rel[far, 0] *= max(0.4, 1.0 - 1.6 * turn)
    theta = np.arctan2(rel[:, 1], rel[:, 0])
    radial = np.ones_like(theta)
    for k, (a, b) in enumerate(mp["fourier"], start=1):
        radial += _HARMONIC_AMPLITUDE / k * (float(a) * np.cos(k * theta) + float(b) * np.sin(k * theta))
    rel = rel * radial[:, None]
    rot = math.radians(float(mp["rot"]))
    rmat = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    affine = rmat @ np.array([[float(mp["scale_x"]), float(mp["shear"])], [0.0, float(mp["scale_y"])]])
    shift = np.array([float(mp["shift_x"]), float(mp["shift_y"])]) * _FACE_SIZE_112
    deformed = c + rel @ affine.T + shift
    return transform_points(deformed, geom.frame)


def _roi(x0: float, y0: float, x1: float, y1: float, pad: float, shape) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return (
        max(0, int(math.floor(x0 - pad))),
        max(0, int(math.floor(y0 - pad))),
        min(w, int(math.ceil(x1 + pad)) + 1),
        min(h, int(math.ceil(y1 + pad)) + 1),
    )


def _raster(poly: np.ndarray, origin, size, sigma: float) -> np.ndarray:
    """Soft mask of a polygon in a ``size`` = (w, h) window whose top-left is ``origin``."""
    shift_bits = 4
    local = np.round((poly - np.asarray(origin, np.float64)) * (1 << shift_bits)).astype(np.int32)
    sub = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(sub, [local], 255, lineType=cv2.LINE_AA, shift=shift_bits)
    soft = _gaussian(sub.astype(np.float32) / 255.0, sigma)
    soft[soft < 1.0 / 255.0] = 0.0  # exact zeros outside; a < 1/255 weight cannot change a pixel anyway
    return np.clip(soft, 0.0, 1.0, out=soft)


def _mask_sigma(geom: _FaceGeom, mp: dict) -> float:
    return max(0.3, float(mp["blur"]) * geom.face_px)


def _mask_with_roi(shape, landmarks, mp: dict) -> tuple[np.ndarray, tuple[int, int, int, int], _FaceGeom]:
    """Full-size mask, the bounding box (x0, y0, x1, y1) of its support, the face geometry."""
    geom = _face_geom(landmarks)
    sigma = _mask_sigma(geom, mp)
    poly = _mask_outline(geom, mp)
    h, w = shape[:2]
    x0, y0, x1, y1 = _roi(*poly.min(0), *poly.max(0), 3.0 * sigma + 3.0, (h, w))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise BadInputError("the face region lies outside the image")
    soft = _raster(poly, (x0, y0), (x1 - x0, y1 - y0), sigma)
    ys, xs = np.nonzero(soft)
    if len(ys) == 0:
        raise BadInputError("the face region lies outside the image")
    mask = np.zeros((h, w), np.float32)
    mask[y0:y1, x0:x1] = soft
    support = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
    return mask, support, geom


def face_mask(shape, landmarks, rng=None, params: dict | None = None) -> np.ndarray:
    """Soft face-region mask (``float32`` HxW in [0, 1]) from the five landmarks.

    The template outline (brow line, temples, cheeks, jaw, chin) is mapped into the image
    with the landmark similarity fit, deformed (random anisotropic scale, shear, rotation,
    shift and a smooth radial wobble of up to five harmonics) and its edge blurred with a
    random Gaussian (sigma 0.8–5 % of the face size); values below 1/255 are set to 0, so the
    mask is exactly 0 outside the blurred outline. ``params`` is the mask dict of
    :func:`sample_params` (or a whole manipulation dict holding one under ``"mask"``)."""
    if params is not None and "mask" in params:
        params = params["mask"]
    mp = _sample_mask(_rng(rng))
    if params:
        mp = _merge(mp, params)
    return _mask_with_roi(tuple(shape), landmarks, mp)[0]


def _crop_zoom(geom: _FaceGeom) -> float:
    """Image pixels per detector-crop pixel for this face (< 1 for faces smaller than the crop)."""
    return geom.scale * _TEMPLATE_IOD / CROP_IOD


def _px_per_crop_px(geom: _FaceGeom) -> float:
    """Filter sizes: frequency artefacts are sized for the crop the detector sees, but
    never below one image pixel."""
    return max(1.0, _crop_zoom(geom))


def _resample_factor(resolution: float, geom: _FaceGeom) -> float:
    """Image-space down-scale factor that leaves the face at ``resolution`` (< 1) of the
    detector crop's. A face already smaller than the crop gets a milder loss
    (``resolution ** zoom``) instead of none, so small photos keep the artefact."""
    zoom = _crop_zoom(geom)
    return resolution / zoom if zoom >= 1.0 else resolution**zoom
