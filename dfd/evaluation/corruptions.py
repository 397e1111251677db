"""Common image degradations (JPEG, blur, down-scaling, noise) and the robustness sweep that
scores the members and the ensemble under each of them."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from dfd.metrics import roc_auc
from dfd.evaluation.study import score_images


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma))


def _downscale(img: np.ndarray, factor: float) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


# corruption -> levels; the sweep adds the clean images first (corruption "none")
CORRUPTIONS: dict[str, list] = {
    "jpeg_quality": [90, 70, 50, 30],
    "gaussian_blur_sigma": [1.0, 2.0],
    "downscale": [0.5, 0.25],
    "gaussian_noise_sigma": [5.0, 10.0],
}


def corrupt(images: np.ndarray, kind: str, level, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fn = {
        "jpeg_quality": lambda im: _jpeg(im, level),
        "gaussian_blur_sigma": lambda im: _blur(im, level),
        "downscale": lambda im: _downscale(im, level),
        "gaussian_noise_sigma": lambda im: _noise(im, level, rng),
    }[kind]
    return np.stack([fn(im) for im in images])


def robustness_sweep(models: dict, images: np.ndarray, labels: np.ndarray, combine=None, seed: int = 0) -> pd.DataFrame:
    """AUC of every member (and of ``combine(P) -> p``, the ensemble) under each corruption."""
    rows = []
    settings = [("none", 0)] + [(k, lv) for k, levels in CORRUPTIONS.items() for lv in levels]
    for kind, level in settings:
        x = images if kind == "none" else corrupt(images, kind, level, seed)
        P = score_images(models, x)
        scores = {name: P[:, j] for j, name in enumerate(models)}
        if combine is not None:
            scores["ensemble"] = combine(P)
        for name, p in scores.items():
            rows.append({"corruption": kind, "level": level, "model": name, "auc": roc_auc(labels, p)})
    return pd.DataFrame(rows)
