"""Pseudo-fakes for whole-face synthesis from real photos: the image rebuilt through a
generator-like up-sampler (the AutoGAN idea, Zhang et al. 2019: GAN and diffusion decoders
up-sample feature maps, and that leaves periodic traces in the spectrum a detector can learn
from real images and their up-sampled reconstructions alone).

The photo is reduced by 2 (or 4) with area averaging and brought back by one of the
up-samplers generators use — a transposed convolution (zeros inserted, then a small kernel
whose four phases do not sum alike: the checkerboard) or nearest-neighbour up-sampling
followed by a small smoothing convolution — with a random kernel each time. No face region is
involved: the whole image is synthesised, as a GAN portrait is; the returned mask is all ones.
"""

from __future__ import annotations

import cv2
import numpy as np

from dfd.data.synth.geometry import _check_image

__all__ = ["upsampling_trace", "sample_upsampling_params", "UPSAMPLERS"]

UPSAMPLERS = ("transposed", "nearest_conv")


def sample_upsampling_params(rng: np.random.Generator) -> dict:
    """Every random choice of one reconstruction as a JSON-able dict."""
    kernel = int(rng.choice([3, 4]))
    return {
        "kind": "upsample",
        "factor": int(rng.choice([2, 2, 2, 4])),
        "upsampler": UPSAMPLERS[int(rng.integers(len(UPSAMPLERS)))],
        "kernel": kernel,
        # a tent (bilinear) kernel perturbed by this much noise, relative to its peak
        "kernel_noise": float(rng.uniform(0.05, 0.4)),
        "kernel_seed": int(rng.integers(2**31)),
        "blend_ratio": float(rng.choice([0.5, 0.75, 1.0, 1.0])),
    }


def _kernel(size: int, noise: float, seed: int) -> np.ndarray:
    tent = 1.0 - np.abs(np.arange(size) - (size - 1) / 2.0) / (size / 2.0)
    k = np.outer(tent, tent)
    k = k + noise * k.max() * np.random.default_rng(seed).standard_normal(k.shape)
    return np.maximum(k, 0.0) + 1e-6


def _up2(img: np.ndarray, upsampler: str, k: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if upsampler == "transposed":
        up = np.zeros((2 * h, 2 * w, 3), np.float32)
        up[::2, ::2] = img
        # each output pixel sees the input through one phase of k; phases sum unequally
        out = cv2.filter2D(up, -1, (4.0 * k / k.sum()).astype(np.float32), borderType=cv2.BORDER_REFLECT101)
    elif upsampler == "nearest_conv":
        up = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
        out = cv2.filter2D(up, -1, (k / k.sum()).astype(np.float32), borderType=cv2.BORDER_REFLECT101)
    else:
        raise ValueError(f"upsampler must be one of {UPSAMPLERS}, not {upsampler!r}")
    return out


def upsampling_trace(rgb: np.ndarray, rng=None, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` rebuilt through a random generator-like up-sampler. Returns ``(fake uint8
    HxWx3, mask float32 HxW of ones)``; the same ``params`` give the same output."""
    _check_image(rgb, "image")
    if params is None:
        params = sample_upsampling_params(rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng))
    h, w = rgb.shape[:2]
    factor = int(params["factor"])
    sh, sw = max(2, -(-h // factor)), max(2, -(-w // factor))
    x = cv2.resize(rgb.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    k = _kernel(int(params["kernel"]), float(params["kernel_noise"]), int(params["kernel_seed"]))
    while x.shape[0] < h or x.shape[1] < w:
        x = _up2(x, params["upsampler"], k)
    x = x[:h, :w]
    a = float(np.clip(params["blend_ratio"], 0.0, 1.0))
    out = rgb.astype(np.float32) + a * (x - rgb.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), np.ones((h, w), np.float32)
