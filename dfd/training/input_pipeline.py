"""Input pipeline from a prepared manifest: crops decoded once into memory, then tf.data
with on-the-fly augmentation for training — flips, small affine, colour jitter, Gaussian
blur, random JPEG re-compression (quality 40-100), and the processing a file meets on its way
to an analyst — down-and-up resizing, sensor noise, WebP re-compression — applied to both
classes alike so that neither container, quality nor size tells them apart — and none at
evaluation. Training on fresh fakes (:mod:`dfd.training.synthesis`) goes through
:func:`make_fresh_fake_dataset`, the same augmentation after the synthesis.

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
    # processing invariance (off by default, so older recipes train as they did)
    resize_prob: float = 0.0
    resize_scale: tuple[float, float] = (0.25, 1.0)  # shrunk by this factor, then back to size
    noise_prob: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # Gaussian noise, grey levels
    webp_prob: float = 0.0  # WebP round trip, drawn when no JPEG one was
    webp_quality: tuple[int, int] = (30, 100)

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


def _webp_round_trip(x, quality):
    """float [0,1] HxWx3 -> the same after a WebP save at ``quality`` (OpenCV's codec)."""
    ok, buf = cv2.imencode(".webp", cv2.cvtColor(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8),
                                                 cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:  # a build without WebP: leave the image as it is rather than fail training
        return x.astype(np.float32)
    return (cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) / 255.0).astype(np.float32)


def _processing(x, seed, cfg: AugmentConfig, size: int):
    """Resize down and back, noise; seeds independent of the other augmentations' (so
    recipes without these options augment bit for bit as before)."""
    s = tf.random.experimental.stateless_split(tf.stack([seed[1], seed[0]]), num=4)
    if cfg.resize_prob > 0:
        coin, f, up = tf.unstack(tf.random.stateless_uniform([3], s[0]))
        factor = cfg.resize_scale[0] + f * (cfg.resize_scale[1] - cfg.resize_scale[0])
        small = tf.maximum(8, tf.cast(tf.round(size * factor), tf.int32))

        def resized():
            y = tf.image.resize(x, tf.stack([small, small]), method="area")
            # bilinear or bicubic back up: the up-samplers of common tools
            y = tf.cond(up < 0.5, lambda: tf.image.resize(y, [size, size], method="bilinear"),
                        lambda: tf.image.resize(y, [size, size], method="bicubic"))
            return tf.clip_by_value(y, 0.0, 1.0)

        x = tf.cond(coin < cfg.resize_prob, resized, lambda: x)
    if cfg.noise_prob > 0:
        coin, sig = tf.unstack(tf.random.stateless_uniform([2], s[1]))
        sigma = (cfg.noise_sigma[0] + sig * (cfg.noise_sigma[1] - cfg.noise_sigma[0])) / 255.0
        noise = tf.random.stateless_normal([size, size, 3], s[2]) * sigma
        x = tf.cond(coin < cfg.noise_prob, lambda: tf.clip_by_value(x + noise, 0.0, 1.0), lambda: x)
    return x, s[3]


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
    webp_seed = None
    if cfg.resize_prob > 0 or cfg.noise_prob > 0 or cfg.webp_prob > 0:
        x, webp_seed = _processing(x, seed, cfg, size)
    coin = tf.random.stateless_uniform([], seeds[8])
    if cfg.jpeg_prob > 0:
        x = tf.cond(
            coin < cfg.jpeg_prob,
            lambda: tf.image.stateless_random_jpeg_quality(x, cfg.jpeg_quality[0], cfg.jpeg_quality[1], seeds[9]),
            lambda: x,
        )
        x = tf.reshape(x, [size, size, 3])
    if cfg.webp_prob > 0:
        q = tf.random.stateless_uniform([], webp_seed, cfg.webp_quality[0], cfg.webp_quality[1] + 1, dtype=tf.int32)
        x = tf.cond(
            tf.logical_and(coin >= cfg.jpeg_prob, coin < cfg.jpeg_prob + cfg.webp_prob),
            lambda: tf.numpy_function(_webp_round_trip, [x, q], tf.float32, stateful=False),
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
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    return _augmented_batches(ds, batch_size, seed, augment or AugmentConfig(), size)


def _augmented_batches(ds: tf.data.Dataset, batch_size: int, seed: int, cfg: AugmentConfig, size: int) -> tf.data.Dataset:
    """(uint8 image, label) examples -> augmented training batches, each image with its own
    seed from one seeded stream (so a run is repeatable)."""
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))
    ds = ds.map(lambda xy, s: (augment_image(tf.cast(xy[0], tf.float32), s, cfg, size), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)


def make_fresh_fake_dataset(fakes, batch_size: int, seed: int = 0, augment: AugmentConfig | None = None) -> tf.data.Dataset:
    """Training batches from a :class:`~dfd.training.synthesis.FreshFakes`: epoch after epoch
    of its real crops and new fakes, augmented like :func:`make_dataset`'s; repeats forever."""
    size = fakes.reals.shape[1]
    cfg = augment or AugmentConfig()

    def examples():
        epoch = 0
        while True:
            x, y, _ = fakes.epoch(epoch)
            for i in range(len(y)):
                yield x[i], np.float32([y[i]])
            epoch += 1

    ds = tf.data.Dataset.from_generator(examples, output_signature=(
        tf.TensorSpec((size, size, 3), tf.uint8), tf.TensorSpec((1,), tf.float32)))
    return _augmented_batches(ds, batch_size, seed, cfg, size)
