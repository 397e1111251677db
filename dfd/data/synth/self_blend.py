"""Self-blended images (SBI), Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended
Images", CVPR 2022: the face blended back into the photo from a colour-jittered,
frequency-altered, slightly warped copy of itself."""

from __future__ import annotations

import cv2
import numpy as np

from dfd.data.synth.blending import _blend, _gaussian, _resample
from dfd.data.synth.geometry import (
    _check_image,
    _FaceGeom,
    _mask_with_roi,
    _px_per_crop_px,
    _resample_factor,
    _roi,
)
from dfd.data.synth.parameters import _FREQ_OPS, _resolve

__all__ = ["self_blend"]


def _sbi_color(img: np.ndarray, weight: np.ndarray, cp: dict) -> np.ndarray:
    x = img + np.asarray(cp["rgb_shift"], np.float32)
    hsv = cv2.cvtColor(np.clip(x / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + float(cp["hue"]), 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + float(cp["sat"])), 0, 1)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    sel = weight > 0.5
    mean = x[sel].mean(0) if sel.any() else x.reshape(-1, 3).mean(0)
    x = (x - mean) * (1.0 + float(cp["contrast"])) + mean + float(cp["brightness"]) * 255.0
    return np.clip(x, 0, 255)


def _sbi_freq(img: np.ndarray, fp: dict, geom: _FaceGeom) -> np.ndarray:
    unit = _px_per_crop_px(geom)
    strength = float(np.clip(fp["strength"], 0, 1))
    op = fp["op"]
    if op == "blur":
        return _gaussian(img, (0.3 + 0.6 * strength) * unit)
    if op == "sharpen":  # unsharp mask
        soft = _gaussian(img, 1.0 * unit)
        return np.clip(img + (0.25 + 0.6 * strength) * (img - soft), 0, 255)
    if op == "downscale":
        return np.clip(_resample(img, _resample_factor(0.9 - 0.3 * strength, geom)), 0, 255)
    if op == "none":
        return img
    raise ValueError(f"params['freq']['op'] must be one of {_FREQ_OPS}, not {op!r}")


def self_blend(rgb: np.ndarray, landmarks, rng=None, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Self-blended image (SBI, Shiohara & Yamasaki 2022) on the full photo.

    A copy of the face region is colour-jittered (RGB shift, hue, saturation, brightness,
    contrast), frequency-altered (blur, unsharp-mask sharpening or down-and-up sampling,
    sized in detector-crop pixels), and warped by a small scale (0.95–1.05) and shift (a
    few % of the face size) about the face centre; it is blended back through
    :func:`face_mask` times a blend ratio from {0.25, 0.5, 0.75, 1}. Returns
    ``(fake uint8 HxWx3, mask float32 HxW)``: the manipulated region (the blurred face
    mask); the blend weight actually used is ``mask * params["blend_ratio"]``."""
    _check_image(rgb, "image")
    p = _resolve("sbi", rng, params)
    mask, support, geom = _mask_with_roi(rgb.shape, landmarks, p["mask"])
    alpha = mask * np.float32(np.clip(float(p["blend_ratio"]), 0.0, 1.0))
    face_px = geom.face_px
    unit = _px_per_crop_px(geom)
    wp = p["warp"]
    pad = 0.1 * face_px + 4.0 * unit + 4.0
    box = _roi(support[0], support[1], support[2] - 1, support[3] - 1, pad, rgb.shape)
    x0, y0, x1, y1 = box
    roi = rgb[y0:y1, x0:x1].astype(np.float32)
    weight = mask[y0:y1, x0:x1]

    target = _sbi_color(roi, weight, p["color"])
    target = _sbi_freq(target, p["freq"], geom)
    cx, cy = geom.centre() - [x0, y0]
    s = float(wp["scale"])
    warp = np.array(
        [[s, 0.0, (1 - s) * cx + float(wp["tx"]) * face_px], [0.0, s, (1 - s) * cy + float(wp["ty"]) * face_px]]
    )
    target = cv2.warpAffine(
        target, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
    )
    fake = _blend(rgb, target, alpha, box)
    return fake, mask
