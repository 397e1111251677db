"""Pixel operations shared by the manipulations: Gaussian filtering, down-and-up
re-sampling, the mask-weighted blend that leaves every pixel outside the mask untouched,
Reinhard colour transfer in CIE LAB and Poisson blending (``cv2.seamlessClone``)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.2:
        return img
    k = 2 * int(math.ceil(3.0 * sigma)) + 1
    return cv2.GaussianBlur(img, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT101)


def _resample(img: np.ndarray, factor: float, up_interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Down-scale by ``factor`` (< 1) and back: the resolution loss of a generator / codec."""
    h, w = img.shape[:2]
    sw, sh = max(2, round(w * factor)), max(2, round(h * factor))
    if sw >= w and sh >= h:
        return img
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=up_interp)


def _blend(src: np.ndarray, other: np.ndarray, alpha: np.ndarray, box) -> np.ndarray:
    """``src`` with ``other`` (the box-sized float image) blended in through ``alpha``;
    pixels where alpha == 0 are copied bit for bit."""
    x0, y0, x1, y1 = box
    out = src.copy()
    a = alpha[y0:y1, x0:x1]
    sel = a > 0
    base = src[y0:y1, x0:x1].astype(np.float32)
    mixed = base + a[..., None] * (other.astype(np.float32) - base)
    region = out[y0:y1, x0:x1]
    region[sel] = np.clip(np.rint(mixed[sel]), 0, 255).astype(np.uint8)
    return out


def _rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb01, dtype=np.float32), cv2.COLOR_RGB2LAB)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB)


def _reinhard(donor: np.ndarray, target: np.ndarray, weight: np.ndarray, strength: float) -> np.ndarray:
    """Move the donor's per-channel LAB mean and std inside ``weight`` towards the target's
    (Reinhard et al. 2001); ``strength`` 1 = full transfer. float32 0..255 in and out."""
    sel = weight > 0.5
    if sel.sum() < 4:
        sel = weight > 0
    if sel.sum() < 2:
        return donor
    d_lab = _rgb_to_lab(np.clip(donor / 255.0, 0, 1))
    t_lab = _rgb_to_lab(np.clip(target / 255.0, 0, 1))
    d_px, t_px = d_lab[sel], t_lab[sel]
    mu_d, mu_t = d_px.mean(0), t_px.mean(0)
    sd_d, sd_t = d_px.std(0) + 1e-3, t_px.std(0) + 1e-3
    ratio = np.clip(sd_t / sd_d, 0.5, 2.0) ** strength
    mu = mu_d + strength * (mu_t - mu_d)
    lab = (d_lab - mu_d) * ratio + mu
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    return np.clip(_lab_to_rgb(lab) * 255.0, 0, 255)


def _poisson(donor: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """cv2.seamlessClone (NORMAL_CLONE) of ``donor`` into ``target`` over the mask core
    (weight > 0.5), in place (no shift); None when OpenCV refuses (e.g. a degenerate mask).
    The Poisson boundary runs along the face outline, where the target's own colours are
    imposed — not out in the hair or background that the soft mask's tail reaches."""
    core = weight > 0.5
    if core.sum() < 16:
        core = weight > 0
    clone_mask = np.where(core, 255, 0).astype(np.uint8)
    clone_mask[0, :] = clone_mask[-1, :] = 0  # OpenCV clears the border itself; do it first
    clone_mask[:, 0] = clone_mask[:, -1] = 0  # so the bounding box below is the one it uses
    x, y, w, h = cv2.boundingRect(clone_mask)
    if w < 3 or h < 3:
        return None
    centre = (x + w // 2, y + h // 2)  # makes the destination rectangle equal the source one
    try:  # seamlessClone writes into its mask argument: give it a private copy
        out = cv2.seamlessClone(
            np.ascontiguousarray(donor), np.ascontiguousarray(target), clone_mask.copy(), centre, cv2.NORMAL_CLONE
        )
    except cv2.error:
        return None
    if out is None or out.shape != target.shape:
        return None
    return out
