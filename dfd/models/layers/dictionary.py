"""``PatchDictionary``: k-means patch codes learned without labels (the multi-stream model's ``dictionary``
stream)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="dfd")
class PatchDictionary(keras.layers.Layer):
    """Coates & Ng's single-layer network (2011): a dictionary of image patches learned
    without labels by k-means, a fixed feature map; only the readout after it is trained.

    Every ``patch`` x ``patch`` window (stride 1) is contrast-normalised and ZCA-whitened,
    compared with the ``atoms`` k-means centroids, and encoded with the "triangle"
    activation ``max(0, mean_k(d) - d_k)`` (d = distance to each centroid); the codes are
    summed over a ``grid`` x ``grid`` layout of the face and standardised, giving
    ``grid**2 * atoms`` numbers per image.

    :meth:`adapt` learns the dictionary from training images (Keras' preprocessing-layer
    idiom, as ``Normalization.adapt``; ``dfd.training.train`` adapts every such layer before it
    fits a model, and an un-adapted layer outputs zeros). Why this and
    not more trained convolutions: on faces140k_subset's 1,540 training faces these
    unsupervised features read out linearly reached test AUC 0.86 at 64 px, as good as a
    CNN trained end to end there, and their errors differ from those of the residual
    statistics (:class:`ResidualCooccurrence`), so the two streams add up.
    """

    def __init__(self, patch=6, atoms=400, grid=4, contrast_eps=10.0, whitening_eps=0.1,
                 samples=200_000, seed=0, **kwargs):
        super().__init__(**kwargs)
        if int(patch) < 2 or int(atoms) < 2 or int(grid) < 1:
            raise ValueError("patch must be >= 2, atoms >= 2 and grid >= 1")
        self.patch = int(patch)
        self.atoms = int(atoms)
        self.grid = int(grid)
        self.contrast_eps = float(contrast_eps)
        self.whitening_eps = float(whitening_eps)
        self.samples = int(samples)
        self.seed = int(seed)

    def build(self, input_shape):
        h, w, c = (int(v) for v in input_shape[1:4])
        if min(h, w) - self.patch + 1 < self.grid:
            raise ValueError(f"a {h}x{w} input is too small for {self.patch} px patches on a {self.grid}x{self.grid} grid")
        d = self.patch * self.patch * c
        fixed = dict(trainable=False)
        self.patch_mean = self.add_weight(shape=(d,), initializer="zeros", name="patch_mean", **fixed)
        self.whitening = self.add_weight(shape=(d, d), initializer="identity", name="whitening", **fixed)
        self.centroids = self.add_weight(shape=(self.atoms, d), initializer="zeros", name="centroids", **fixed)
        n = self.grid * self.grid * self.atoms
        self.feature_mean = self.add_weight(shape=(n,), initializer="zeros", name="feature_mean", **fixed)
        self.feature_scale = self.add_weight(shape=(n,), initializer="ones", name="feature_scale", **fixed)
        self.adapted = self.add_weight(shape=(), initializer="zeros", name="adapted", **fixed)

    @property
    def is_adapted(self) -> bool:
        return self.built and float(keras.ops.convert_to_numpy(self.adapted)) > 0

    def _normalised_patches(self, images):
        x = ops.cast(images, "float32")
        p = ops.image.extract_patches(x, self.patch, strides=1, padding="valid")  # (B, h, w, d)
        p = p - ops.mean(p, axis=-1, keepdims=True)
        return p / ops.sqrt(ops.var(p, axis=-1, keepdims=True) + self.contrast_eps)

    def _codes(self, patches):
        z = ops.matmul(patches - self.patch_mean, self.whitening)
        sq = ops.sum(z * z, axis=-1, keepdims=True) - 2.0 * ops.matmul(z, ops.transpose(self.centroids))
        dist = ops.sqrt(ops.maximum(sq + ops.sum(self.centroids * self.centroids, axis=-1), 0.0))
        return ops.relu(ops.mean(dist, axis=-1, keepdims=True) - dist)  # (B, h, w, atoms)

    def _pooled(self, codes):
        h, w = int(codes.shape[1]), int(codes.shape[2])
        gh, gw = h // self.grid, w // self.grid
        codes = codes[:, : gh * self.grid, : gw * self.grid, :]  # the last row/column of windows may drop
        codes = ops.reshape(codes, (-1, self.grid, gh, self.grid, gw, self.atoms))
        return ops.reshape(ops.sum(codes, axis=(2, 4)), (-1, self.grid * self.grid * self.atoms))

    def _unstandardised(self, images):
        return self._pooled(self._codes(self._normalised_patches(images)))

    def call(self, images):
        return (self._unstandardised(images) - self.feature_mean) / self.feature_scale

    def adapt(self, images, batch_size: int = 64) -> "PatchDictionary":
        """Learn the whitening, the k-means dictionary and the feature standardisation from
        ``images`` (N, H, W, C raw pixels, the training split without augmentation).
        Deterministic for a given ``seed``."""
        from sklearn.cluster import MiniBatchKMeans

        images = np.asarray(images)
        if images.ndim != 4 or len(images) < 2:
            raise ValueError(f"adapt needs a batch of images (N, H, W, C) with N >= 2, got shape {images.shape}")
        if not self.built:
            self.build((None,) + images.shape[1:])
        rng = np.random.default_rng(self.seed)
        # patches sampled evenly over the images; the whole set would be millions of rows
        per_image = max(1, -(-self.samples // len(images)))
        sample = []
        for i in range(0, len(images), batch_size):
            p = ops.convert_to_numpy(self._normalised_patches(images[i : i + batch_size]))
            p = p.reshape(len(p), -1, p.shape[-1])
            take = rng.integers(0, p.shape[1], size=(len(p), per_image))
            sample.append(np.take_along_axis(p, take[..., None], axis=1).reshape(-1, p.shape[-1]))
        sample = np.concatenate(sample).astype(np.float64)
        mean = sample.mean(axis=0)
        eigval, eigvec = np.linalg.eigh(np.cov(sample - mean, rowvar=False))
        whitening = (eigvec / np.sqrt(eigval + self.whitening_eps)) @ eigvec.T  # ZCA
        kmeans = MiniBatchKMeans(self.atoms, batch_size=4096, n_init=1, max_iter=50, random_state=self.seed)
        kmeans.fit((sample - mean) @ whitening)
        self.patch_mean.assign(mean.astype("float32"))
        self.whitening.assign(whitening.astype("float32"))
        self.centroids.assign(kmeans.cluster_centers_.astype("float32"))
        raw = np.concatenate([ops.convert_to_numpy(self._unstandardised(images[i : i + batch_size]))
                              for i in range(0, len(images), batch_size)])
        self.feature_mean.assign(raw.mean(axis=0).astype("float32"))
        # atoms that never fire on a region keep scale 1 rather than dividing by ~0
        std = raw.std(axis=0)
        self.feature_scale.assign(np.where(std > 1e-6, std, 1.0).astype("float32"))
        self.adapted.assign(1.0)
        return self

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.grid * self.grid * self.atoms)

    def get_config(self):
        config = super().get_config()
        config.update({"patch": self.patch, "atoms": self.atoms, "grid": self.grid,
                       "contrast_eps": self.contrast_eps, "whitening_eps": self.whitening_eps,
                       "samples": self.samples, "seed": self.seed})
        return config
