"""Input pipeline from a prepared manifest: crops decoded once into memory, then tf.data
with on-the-fly augmentation for training — flips, small affine, colour jitter, Gaussian
blur and random JPEG re-compression (quality 40-100), the augmentations cross-dataset
detectors rely on — and none at evaluation.

Every random choice comes from stateless ops fed by a seeded stream, so a run is
repeatable for a given seed."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import tensorflow as tf

from dfd.io.images import load_image


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    affine_scale: float = 0.08  # random zoom in [1, 1 + s] and shift within the zoom margin
    color: float = 0.15  # brightness/contrast/saturation strength; hue is a fifth of it
    blur_prob: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 100)

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(flip=False, affine_scale=0.0, color=0.0, blur_prob=0.0, jpeg_prob=0.0)

    @classmethod
    def from_dict(cls, fields: dict) -> "AugmentConfig":
        """From a recipe's ``augmentation`` (JSON and papermill give lists for the ranges)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def load_images(paths, size: int) -> np.ndarray:
    """Decode crops into one ``(N, size, size, 3)`` uint8 array (area-resized if needed)."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        img = load_image(p)
        if img.shape[:2] != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR)
        out[i] = img
    return out


def split_frame(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    return manifest[manifest.split == split]


def _gaussian_kernel(sigma):
    radius = 3
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-(x**2) / (2.0 * sigma**2))
    k = k / tf.reduce_sum(k)
    return k


def _blur(img, sigma):
    k = _gaussian_kernel(sigma)
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, 3, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, 3, 1])
    x = tf.nn.depthwise_conv2d(img[None], kx, [1, 1, 1, 1], "SAME")
    x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "SAME")
    return x[0]


def augment_image(img, seed, cfg: AugmentConfig, size: int):
    """One training image (float32 [0,255], HxWx3) → augmented image; ``seed`` is int64[2]."""
    seeds = tf.random.experimental.stateless_split(seed, num=10)
    x = img / 255.0
    if cfg.flip:
        x = tf.image.stateless_random_flip_left_right(x, seeds[0])
    if cfg.affine_scale > 0:
        zoom = tf.random.stateless_uniform([], seeds[1], 1.0, 1.0 + cfg.affine_scale)
        crop = tf.cast(tf.round(size / zoom), tf.int32)
        x = tf.image.stateless_random_crop(x, tf.stack([crop, crop, 3]), seeds[2])
        x = tf.image.resize(x, [size, size], method="bilinear")
    if cfg.color > 0:
        x = tf.image.stateless_random_brightness(x, cfg.color * 0.5, seeds[3])
        x = tf.image.stateless_random_contrast(x, 1 - cfg.color, 1 + cfg.color, seeds[4])
        x = tf.image.stateless_random_saturation(x, 1 - cfg.color, 1 + cfg.color, seeds[5])
        x = tf.image.stateless_random_hue(x, cfg.color / 5, seeds[6])
        x = tf.clip_by_value(x, 0.0, 1.0)
    if cfg.blur_prob > 0:
        coin, sig = tf.unstack(tf.random.stateless_uniform([2], seeds[7]))
        sigma = cfg.blur_sigma[0] + sig * (cfg.blur_sigma[1] - cfg.blur_sigma[0])
        x = tf.cond(coin < cfg.blur_prob, lambda: _blur(x, sigma), lambda: x)
    if cfg.jpeg_prob > 0:
        coin = tf.random.stateless_uniform([], seeds[8])
        x = tf.cond(
            coin < cfg.jpeg_prob,
            lambda: tf.image.stateless_random_jpeg_quality(x, cfg.jpeg_quality[0], cfg.jpeg_quality[1], seeds[9]),
            lambda: x,
        )
        x = tf.reshape(x, [size, size, 3])
    return x * 255.0


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    training: bool,
    seed: int = 0,
    augment: AugmentConfig | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 pixels in [0,255], float32 labels (N,1)). Training datasets are
    shuffled, augmented and repeat forever (use ``steps_per_epoch``)."""
    size = images.shape[1]
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32).reshape(-1, 1)))
    if not training:
        return ds.map(lambda x, y: (tf.cast(x, tf.float32), y)).batch(batch_size).prefetch(2)
    cfg = augment or AugmentConfig()
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))
    ds = ds.map(lambda xy, s: (augment_image(tf.cast(xy[0], tf.float32), s, cfg, size), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)
