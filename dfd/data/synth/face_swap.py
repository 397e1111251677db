"""Cross-identity face swap: the classic landmark-based swap (FaceSwap / Face X-ray style
"blended images"): the donor face warped onto the target, colour-matched and feathered or
Poisson-blended in."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dfd.data.synth.blending import _blend, _poisson, _reinhard, _resample
from dfd.data.synth.geometry import (
    _check_image,
    _face_geom,
    _mask_outline,
    _mask_sigma,
    _mask_with_roi,
    _px_per_crop_px,
    _raster,
    _resample_factor,
    _roi,
    similarity_transform,
)
from dfd.data.synth.parameters import _BLENDS, _N_HARMONICS, _resolve
from dfd.errors import BadInputError
from dfd.faces.alignment import transform_points

__all__ = ["face_swap"]

_DONOR_CAP = {  # the donor's own face region: undeformed, a little narrower than the template
    "scale_x": 0.96, "scale_y": 1.0, "rot": 0.0, "shear": 0.0, "shift_x": 0.0, "shift_y": 0.0,
    "fourier": [[0.0, 0.0]] * _N_HARMONICS,
}
_INTERPS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def face_swap(
    target_rgb: np.ndarray,
    target_landmarks,
    donor_rgb: np.ndarray,
    donor_landmarks,
    rng=None,
    params: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-identity face swap: the donor's face pasted onto the target photo.

    The donor is warped with the similarity transform taking its landmarks to the target's
    (plus a small random placement error), optionally down-sampled (generator resolution),
    colour-matched to the target inside the mask (Reinhard mean/std in LAB, partial
    strength) and blended either with the feathered :func:`face_mask` (``blend="feather"``)
    or by Poisson blending (``"poisson"``, ``cv2.seamlessClone`` NORMAL_CLONE, composited
    back through the same mask; falls back to feathering when OpenCV refuses). Returns
    ``(fake uint8 HxWx3, mask float32 HxW)``: the target's face mask, capped by the
    donor's face region; it is the feathering alpha, and with Poisson blending the pasted
    core is where it exceeds 0.5."""
    _check_image(target_rgb, "target image")
    _check_image(donor_rgb, "donor image")
    p = _resolve("swap", rng, params)
    if p["blend"] not in _BLENDS:
        raise ValueError(f"params['blend'] must be one of {_BLENDS}, not {p['blend']!r}")
    if p["interp"] not in _INTERPS:
        raise ValueError(f"params['interp'] must be one of {tuple(_INTERPS)}, not {p['interp']!r}")
    donor_geom = _face_geom(donor_landmarks, "donor landmarks")
    mask, support, geom = _mask_with_roi(target_rgb.shape, target_landmarks, p["mask"])
    face_px = geom.face_px
    unit = _px_per_crop_px(geom)

    # donor → target similarity, then a small placement error about the target face centre
    m = np.vstack([similarity_transform(donor_landmarks, target_landmarks), [0, 0, 1]])
    op = p["offset"]
    cx, cy = geom.centre()
    s, r = float(op["scale"]), math.radians(float(op["rot"]))
    a = s * np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    jitter = np.eye(3)
    jitter[:2, :2] = a
    jitter[:2, 2] = np.array([cx, cy]) - a @ [cx, cy] + np.array([float(op["tx"]), float(op["ty"])]) * face_px
    m = jitter @ m

    pad = 4.0 * unit + 4.0
    box = _roi(support[0], support[1], support[2] - 1, support[3] - 1, pad, target_rgb.shape)
    x0, y0, x1, y1 = box
    size = (x1 - x0, y1 - y0)
    to_roi = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ m

    # Only paste where the donor has face: its own undeformed, pose-aware outline, carried
    # by the same warp, caps the target mask, so neither a random bulge of the mask nor a
    # turned donor brings the donor's contour, hair or background into the paste.
    donor_poly = transform_points(_mask_outline(donor_geom, _DONOR_CAP), to_roi[:2])
    donor_sigma = _mask_sigma(geom, p["mask"])
    donor_alpha = _raster(donor_poly, (0, 0), size, donor_sigma)
    mask[y0:y1, x0:x1] = np.minimum(mask[y0:y1, x0:x1], donor_alpha)
    if not (mask[y0:y1, x0:x1] > 0).any():
        raise BadInputError("the donor face does not overlap the target face region")

    donor = np.ascontiguousarray(donor_rgb)
    zoom = float(np.hypot(*to_roi[:2, 0]))  # target px per donor px
    if zoom < 0.5:  # strong shrink: pre-reduce the donor so the warp does not alias
        pre = zoom * 1.5
        dh, dw = donor_rgb.shape[:2]
        donor = cv2.resize(donor, (max(2, round(dw * pre)), max(2, round(dh * pre))), interpolation=cv2.INTER_AREA)
        to_roi = to_roi @ np.diag([1.0 / pre, 1.0 / pre, 1.0])
    interp = _INTERPS[p["interp"]]
    warped = cv2.warpAffine(donor, to_roi[:2], size, flags=interp, borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
    # generator resolution, in detector-crop pixels; skipped when the up-scaled donor is
    # already that coarse
    down = float(p["downscale"])
    factor = _resample_factor(down, geom)
    if down < 0.999 and factor < 0.98 and factor * zoom < 0.98:
        warped = np.clip(_resample(warped, factor, interp), 0, 255)

    weight = mask[y0:y1, x0:x1]
    roi = target_rgb[y0:y1, x0:x1]
    warped = _reinhard(warped, roi.astype(np.float32), weight, float(np.clip(p["color_strength"], 0, 1)))
    if p["blend"] == "poisson":
        cloned = _poisson(np.clip(np.rint(warped), 0, 255).astype(np.uint8), roi, weight)
        if cloned is not None:
            warped = cloned.astype(np.float32)
    fake = _blend(target_rgb, warped, mask, box)
    return fake, mask
