"""Grad-CAM heatmaps as colours: a "jet" image, blended over a face crop, or RGBA to
paint over a face box. Display only (numpy and OpenCV; no Qt)."""

from __future__ import annotations

import cv2
import numpy as np


def heatmap_rgb(heatmap: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A [0, 1] heatmap as an RGB ``uint8`` "jet" image, optionally resized to (w, h)."""
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    h = np.clip(h, 0.0, 1.0)
    if size is not None and (h.shape[1], h.shape[0]) != tuple(size):
        h = cv2.resize(h, tuple(int(v) for v in size), interpolation=cv2.INTER_LINEAR)
    bgr = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def blend_heatmap(crop_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``crop_rgb`` with the heatmap blended over it; the blend is weighted by the heat so
    cold regions keep the face visible."""
    crop = np.asarray(crop_rgb, dtype=np.float32)
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    if heat.shape[:2] != crop.shape[:2]:
        heat = cv2.resize(heat, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = heatmap_rgb(heat).astype(np.float32)
    w = (alpha * (0.35 + 0.65 * heat))[..., None]
    return np.clip(crop * (1.0 - w) + colour * w, 0, 255).astype(np.uint8)


def heatmap_rgba(heatmap: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The heatmap as RGBA with transparency following the heat (to paint over a box)."""
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    rgb = heatmap_rgb(heat)
    a = (255 * alpha * np.clip(heat * 1.4, 0.0, 1.0)).astype(np.uint8)
    return np.dstack([rgb, a])
