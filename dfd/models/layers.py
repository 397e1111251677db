"""Custom layers shared by every dfd detector.

Everything here is registered under the ``dfd`` package name, so importing this module is
all a process needs before ``keras.models.load_model`` can rebuild a saved detector (see
:mod:`dfd.models.card`). Only ``keras.ops`` is used, no Lambda layers: a saved model must be
loadable with ``safe_mode=True`` and must never carry executable bytecode.
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops

# --------------------------------------------------------------------------------------
# Fixed high-pass ("SRM") residual branch
# --------------------------------------------------------------------------------------

# The three classic SRM residual kernels (Fridrich & Kodovsky 2012) used by RGB-N
# (Zhou et al. 2018): 2nd-order "KB", 4th-order "KV" and a 1-D 2nd-order edge kernel.
# Each sums to zero, so smooth image content cancels and only the high-frequency noise
# residual - where blending, up-sampling and GAN artifacts live - is left.
SRM_KERNELS: dict[str, np.ndarray] = {
    "kb": np.array(
        [[0, 0, 0, 0, 0],
         [0, -1, 2, -1, 0],
         [0, 2, -4, 2, 0],
         [0, -1, 2, -1, 0],
         [0, 0, 0, 0, 0]], dtype=np.float32) / 4.0,
    "kv": np.array(
        [[-1, 2, -2, 2, -1],
         [2, -6, 8, -6, 2],
         [-2, 8, -12, 8, -2],
         [2, -6, 8, -6, 2],
         [-1, 2, -2, 2, -1]], dtype=np.float32) / 12.0,
    "edge": np.array(
        [[0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0],
         [0, 1, -2, 1, 0],
         [0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0]], dtype=np.float32) / 2.0,
}


@keras.saving.register_keras_serializable(package="dfd")
class HighPassResidual(keras.layers.Layer):
    """Fixed SRM high-pass filters applied to every colour channel of raw [0, 255] pixels.

    Output: ``len(kernels) * channels`` residual maps, truncated to ``[-truncate, truncate]``
    (in pixel units, as in SRM steganalysis: large residuals are edges, not artifacts) and
    divided by ``truncate`` so they land in [-1, 1] like the normalised RGB they are
    concatenated with. The kernel is a constant rebuilt from the config, not a weight, so it
    can never be trained or overwritten by a weight file.
    """

    def __init__(self, kernels=("kb", "kv", "edge"), truncate=3.0, **kwargs):
        super().__init__(**kwargs)
        unknown = [k for k in kernels if k not in SRM_KERNELS]
        if unknown:
            raise ValueError(f"unknown SRM kernels {unknown}; choose from {sorted(SRM_KERNELS)}")
        if not kernels:
            raise ValueError("HighPassResidual needs at least one kernel")
        self.kernels = tuple(kernels)
        self.truncate = float(truncate)
        self._kernel = None

    def build(self, input_shape):
        channels = int(input_shape[-1])
        bank = np.stack([SRM_KERNELS[k] for k in self.kernels], axis=-1)  # (5, 5, K)
        # depthwise layout (kh, kw, in_channels, multiplier): same K filters on each channel
        kernel = np.repeat(bank[:, :, None, :], channels, axis=2)
        self._kernel = ops.convert_to_tensor(kernel, dtype=self.compute_dtype)
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        residual = ops.depthwise_conv(x, self._kernel, strides=1, padding="same")
        return ops.clip(residual, -self.truncate, self.truncate) / self.truncate

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], int(input_shape[-1]) * len(self.kernels))

    def get_config(self):
        config = super().get_config()
        config.update({"kernels": list(self.kernels), "truncate": self.truncate})
        return config


# --------------------------------------------------------------------------------------
# Residual co-occurrence statistics (native-resolution "stats" stream)
# --------------------------------------------------------------------------------------

# Full-range BT.601 / JPEG RGB -> YCbCr (what JPEG itself stores): rows are R, G, B weights.
_YCBCR = np.array([[0.299, -0.168736, 0.5],
                   [0.587, -0.331264, -0.418688],
                   [0.114, 0.5, -0.081312]], dtype=np.float32)
_YCBCR_OFFSET = np.array([0.0, 128.0, 128.0], dtype=np.float32)


def _slice_axis(x, start: int, stop: int, axis: int):
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]


@keras.saving.register_keras_serializable(package="dfd")
class ResidualCooccurrence(keras.layers.Layer):
    """Log-histograms of co-occurring pixel residuals, a fixed (untrained) feature map.

    Steganalysis-style features (Fridrich & Kodovsky's rich models; for GAN images
    Nataraj et al. 2019 and Li et al. 2020, who found the chroma channels most telling):
    per channel (RGB and, optionally, JPEG's YCbCr rounded to 8 bits), take the 1st- and
    2nd-order finite differences along rows and along columns, quantise them to integers in
    ``[-truncate, truncate]`` and count how often each triple of neighbouring values occurs
    (``(2T+1)^3`` bins; row and column counts are summed). The output is
    ``log(frequency + 1e-5)``, ``channels * len(orders) * (2T+1)^3`` numbers per image.

    Why a histogram and not more convolutions: with ~1.5k training faces a logistic
    regression on these statistics (``truncate=3``) generalised better (test AUC 0.89 on
    faces140k_subset) than CNNs learning their own high-pass filters from scratch (0.83-0.85).
    Integer counts have no gradient, which is fine: nothing before this layer is trained.
    """

    def __init__(self, colour_spaces=("rgb", "ycbcr"), orders=(1, 2), truncate=2, step=1.0,
                 train_crop=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        unknown = [c for c in colour_spaces if c not in ("rgb", "ycbcr")]
        if unknown or not colour_spaces:
            raise ValueError(f"colour_spaces must be a non-empty subset of ('rgb', 'ycbcr'), got {colour_spaces!r}")
        if not orders or any(int(o) not in (1, 2) for o in orders):
            raise ValueError(f"orders must be a non-empty subset of (1, 2), got {orders!r}")
        if int(truncate) < 1 or float(step) <= 0:
            raise ValueError("truncate must be >= 1 and step > 0")
        self.colour_spaces = tuple(colour_spaces)
        self.orders = tuple(int(o) for o in orders)
        self.truncate = int(truncate)
        self.step = float(step)
        self.train_crop = int(train_crop or 0)  # >0: training counts one random window of this size
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def bins(self) -> int:
        return (2 * self.truncate + 1) ** 3

    def _channels(self, pixels):
        x = ops.cast(pixels, "float32")
        parts = []
        if "rgb" in self.colour_spaces:
            parts.append(x)
        if "ycbcr" in self.colour_spaces:
            ycc = ops.matmul(x, ops.convert_to_tensor(_YCBCR)) + ops.convert_to_tensor(_YCBCR_OFFSET)
            parts.append(ops.round(ops.clip(ycc, 0.0, 255.0)))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def call(self, pixels, training=None):
        if training and self.train_crop and self.train_crop < min(pixels.shape[1:3]):
            pixels = self._random_crop(pixels)
        x = self._channels(pixels)  # (B, H, W, C)
        channels = int(x.shape[-1])
        k = 2 * self.truncate + 1
        per_order = []
        for order in self.orders:
            offsets = ops.arange(channels, dtype="int32") * self.bins  # each channel its own bins
            counts = None
            for axis in (1, 2):  # row and column counts share the histogram
                r = ops.diff(x, n=order, axis=axis)
                q = ops.clip(ops.round(r / self.step), -self.truncate, self.truncate)
                q = ops.cast(q, "int32") + self.truncate
                n = int(q.shape[axis])
                a, b, c = (_slice_axis(q, i, n - 2 + i, axis) for i in range(3))
                code = (a * k + b) * k + c + offsets
                code = ops.reshape(code, (-1, int(np.prod(code.shape[1:]))))
                h = ops.bincount(code, minlength=channels * self.bins)
                counts = h if counts is None else counts + h
            counts = ops.reshape(ops.cast(counts, "float32"), (-1, channels, self.bins))
            freq = counts / ops.maximum(ops.sum(counts, axis=-1, keepdims=True), 1.0)
            per_order.append(ops.reshape(freq, (-1, channels * self.bins)))
        out = per_order[0] if len(per_order) == 1 else ops.concatenate(per_order, axis=-1)
        return ops.log(out + 1e-5)

    def _random_crop(self, pixels):
        # one window per batch: frequencies from a quarter of the face are unbiased estimates
        # of the whole face's, at a quarter of the cost, and the window position varies
        size = self.train_crop
        h, w = int(pixels.shape[1]), int(pixels.shape[2])
        top = keras.random.randint((), 0, h - size + 1, seed=self.seed_generator)
        left = keras.random.randint((), 0, w - size + 1, seed=self.seed_generator)
        zero = ops.zeros((), "int32")
        start = ops.stack([zero, ops.cast(top, "int32"), ops.cast(left, "int32"), zero])
        return ops.slice(pixels, start, (ops.shape(pixels)[0], size, size, int(pixels.shape[3])))

    def compute_output_shape(self, input_shape):
        channels = 3 * len(self.colour_spaces)
        return (input_shape[0], channels * len(self.orders) * self.bins)

    def get_config(self):
        config = super().get_config()
        config.update({"colour_spaces": list(self.colour_spaces), "orders": list(self.orders),
                       "truncate": self.truncate, "step": self.step, "train_crop": self.train_crop,
                       "seed": self.seed})
        return config


def _dct_basis(size: int = 8) -> np.ndarray:
    """The orthonormal 2-D DCT-II basis as a conv kernel (size, size, 1, size**2); output
    channel ``k * size + l`` is mode (k, l), k along rows."""
    n = np.arange(size)
    c = np.sqrt(2.0 / size) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size))
    c[0] /= np.sqrt(2.0)
    basis = np.einsum("ka,lb->abkl", c, c).reshape(size, size, 1, size * size)
    return basis.astype(np.float32)


def _dct_phase_classes(size: int = 8) -> np.ndarray:
    """(size*size, classes) 0/1 matrix merging the grid phases (a, b) that DCTR treats as
    one: a and size - a fold together, so (size//2 + 1)**2 classes."""
    fold = np.minimum(np.arange(size), size - np.arange(size))
    per_axis = size // 2 + 1
    merge = np.zeros((size * size, per_axis * per_axis), dtype=np.float32)
    for a in range(size):
        for b in range(size):
            merge[a * size + b, fold[a] * per_axis + fold[b]] = 1.0
    return merge


# built once: every call (eager inference included) reuses them
_DCT_BASIS = _dct_basis()
_DCT_PHASE_MERGE = _dct_phase_classes()


@keras.saving.register_keras_serializable(package="dfd")
class DctResidualHistogram(keras.layers.Layer):
    """DCTR features (Holub & Fridrich 2015, "Low complexity features for JPEG steganalysis
    using undecimated DCT"), a fixed (untrained) feature map.

    The luma is convolved with the 64 8x8 DCT basis patterns at every offset (the
    "undecimated" DCT), the magnitudes are quantised to ``min(round(|u| / step), truncate)``
    and counted separately for every mode and every position relative to the 8x8 JPEG
    grid, with mirror-symmetric grid positions merged (25 classes). Output: the normalised
    histograms, ``25 * 64 * (truncate + 1)`` numbers per image (8,000 by default).

    Why: a JPEG is quantised on that grid, so how often each DCT mode takes each small
    magnitude at each grid phase describes both the image's fine texture and its compression
    history. On faces140k_subset (JPEG quality 75 for real and fake alike) a logistic
    regression on these reached test AUC 0.91, above the residual co-occurrences (0.89) and
    largely independent of them. ``step`` 4 is the paper's choice for quality 75. A
    horizontal flip barely changes them (|u| only changes sign and the phase classes are
    mirror-symmetric); they assume the image is still on its original grid: resizing, or
    cropping by other than multiples of 8 px, blurs them.
    """

    def __init__(self, step=4.0, truncate=4, **kwargs):
        super().__init__(**kwargs)
        if float(step) <= 0 or int(truncate) < 1:
            raise ValueError("step must be > 0 and truncate >= 1")
        self.step = float(step)
        self.truncate = int(truncate)

    @staticmethod
    def _check(input_shape):
        h, w, c = (int(v) for v in input_shape[1:4])
        if c != 3:
            raise ValueError(f"DctResidualHistogram expects RGB input (3 channels), got {c}")
        if min(h, w) < 16:
            raise ValueError(f"a {h}x{w} input is too small for an 8x8 DCT grid (needs >= 16 px)")

    def build(self, input_shape):
        self._check(input_shape)

    @property
    def features(self) -> int:
        return 25 * 64 * (self.truncate + 1)

    def call(self, pixels):
        self._check(pixels.shape)  # build() runs once; a later call may bring another shape
        x = ops.cast(pixels, "float32")
        luma = ops.matmul(x, ops.convert_to_tensor(_YCBCR[:, :1]))  # (B, H, W, 1)
        u = ops.conv(luma, ops.convert_to_tensor(_DCT_BASIS), strides=1, padding="valid")
        # whole 8x8 cells of offsets only, so every phase is counted equally often
        rows, cols = (int(u.shape[1]) // 8) * 8, (int(u.shape[2]) // 8) * 8
        u = ops.reshape(ops.abs(u[:, :rows, :cols, :]), (-1, rows // 8, 8, cols // 8, 8 * 64))
        # counts per bin from counts above each bin's lower edge, |u| >= (v - 1/2) * step (the
        # last bin also takes everything above); two single-axis sums: 4-5x faster on CPU than
        # one sum over both block axes
        above = [ops.reshape(ops.sum(ops.sum(ops.cast(u >= (v - 0.5) * self.step, "float32"), axis=3), axis=1),
                             (-1, 8, 8, 64))
                 for v in range(1, self.truncate + 1)]  # each (B, 8, 8, 64)
        total = float((rows // 8) * (cols // 8))
        edges = [ops.full_like(above[0], total)] + above + [ops.zeros_like(above[0])]
        bins = ops.stack([edges[v] - edges[v + 1] for v in range(self.truncate + 1)], axis=-1)
        bins = ops.reshape(bins, (-1, 64, 64 * (self.truncate + 1)))  # (B, phase, mode*bin)
        counts = ops.einsum("bpf,pc->bcf", bins, ops.convert_to_tensor(_DCT_PHASE_MERGE))  # (B, 25, mode*bin)
        counts = ops.reshape(counts, (-1, 25, 64, self.truncate + 1))
        freq = counts / ops.sum(counts, axis=-1, keepdims=True)
        return ops.reshape(freq, (-1, self.features))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.features)

    def get_config(self):
        config = super().get_config()
        config.update({"step": self.step, "truncate": self.truncate})
        return config


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


@keras.saving.register_keras_serializable(package="dfd")
class StreamDropout(keras.layers.Layer):
    """Training only: zero one stream's logit for a random ``rate`` of the samples (no
    rescaling; "modality dropout"), so the other stream has to classify those faces on its
    own and one fast-fitting stream cannot carry the whole training loss. Identity at
    inference."""

    def __init__(self, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, logit, training=None):
        if not training or self.rate == 0.0:
            return logit
        kept = keras.random.dropout(ops.ones_like(logit), self.rate, seed=self.seed_generator)
        return logit * ops.cast(kept > 0, logit.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


# --------------------------------------------------------------------------------------
# Grouped convolution that is fast on CPU
# --------------------------------------------------------------------------------------

GROUPED_IMPLS = ("masked", "split", "patches", "native")


@keras.saving.register_keras_serializable(package="dfd")
class GroupedConv2D(keras.layers.Layer):
    """A grouped 2-D convolution, numerically equal to ``Conv2D(groups=G)``.

    Weights use exactly the ``keras.layers.Conv2D(groups=G)`` layout - kernel
    ``(kh, kw, in_channels // G, filters)``, bias ``(filters,)`` - so weights copy across
    in both directions. ``impl`` only changes how the product is computed:

    * ``"split"``: G plain convolutions on channel slices, concatenated (ResNeXt Fig. 3b).
    * ``"masked"``: expand the kernel to a block-diagonal dense kernel
      ``(kh, kw, in, filters)`` and run one ordinary convolution. G x the FLOPs, but oneDNN's
      dense conv is fast enough that it ties with ``split`` on the narrow (32-128 channel)
      bottlenecks used here; the expansion's gradient is zero off the diagonal blocks, so
      they never train.
    * ``"patches"``: im2col with ``extract_patches`` and a block-diagonal einsum.
    * ``"native"``: ``ops.conv`` with the grouped kernel (what ``Conv2D(groups=G)`` does);
      its backward pass is the slow one on CPU.

    Whole ``resnext`` at 128 px, batch 32, on the 2-core dev CPU, train images per
    CPU-second: split 29.2, masked 27.8, patches 11.4, native 2.5 (plain cnn 46.7); see
    :data:`dfd.models.resnext.GROUPED_IMPL_BENCHMARK`.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        groups=1,
        strides=1,
        padding="same",
        use_bias=True,
        impl="split",
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if impl not in GROUPED_IMPLS:
            raise ValueError(f"impl must be one of {GROUPED_IMPLS}, got {impl!r}")
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.groups = int(groups)
        self.strides = _pair(strides)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.impl = impl
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        if self.filters % self.groups:
            raise ValueError(f"filters={filters} is not divisible by groups={groups}")

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        if in_channels % self.groups:
            raise ValueError(f"{in_channels} input channels not divisible by groups={self.groups}")
        self.in_channels = in_channels
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, in_channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        if self.impl in ("masked", "patches"):
            self._eye = ops.eye(self.groups, dtype=self.variable_dtype)
        self.built = True

    def _block_diagonal_kernel(self):
        kh, kw = self.kernel_size
        g, ci, co = self.groups, self.in_channels // self.groups, self.filters // self.groups
        k = ops.reshape(self.kernel, (kh, kw, ci, g, co))
        # full[a, b, (g, i), (h, o)] = k[a, b, i, h, o] * [g == h]
        full = ops.einsum("abiho,gh->abgiho", k, self._eye)
        return ops.reshape(full, (kh, kw, g * ci, g * co))

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if self.impl == "masked":
            full = ops.cast(self._block_diagonal_kernel(), self.compute_dtype)
            out = ops.conv(inputs, full, strides=self.strides, padding=self.padding)
        elif self.impl == "native":
            out = ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)
        elif self.impl == "split":
            xs = ops.split(inputs, self.groups, axis=-1)
            ks = ops.split(kernel, self.groups, axis=-1)
            out = ops.concatenate(
                [ops.conv(x, k, strides=self.strides, padding=self.padding) for x, k in zip(xs, ks)],
                axis=-1,
            )
        else:  # patches
            out = self._patches_conv(inputs, kernel)
        if self.use_bias:
            out = out + ops.cast(self.bias, self.compute_dtype)
        return out

    def _patches_conv(self, inputs, kernel):
        kh, kw = self.kernel_size
        g, ci, co = self.groups, self.in_channels // self.groups, self.filters // self.groups
        patches = ops.image.extract_patches(
            inputs, size=(kh, kw), strides=self.strides, padding=self.padding
        )  # (b, h, w, kh * kw * in), ordered (kh, kw, in)
        shape = ops.shape(patches)
        patches = ops.reshape(patches, (shape[0], shape[1], shape[2], kh * kw, g, ci))
        k = ops.reshape(kernel, (kh * kw, ci, g, co))
        out = ops.einsum("bhwpgi,pigo->bhwgo", patches, k)
        return ops.reshape(out, (shape[0], shape[1], shape[2], g * co))

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides):
            if size is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-size // s))
            else:
                spatial.append((size - k) // s + 1)
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": list(self.kernel_size),
                "groups": self.groups,
                "strides": list(self.strides),
                "padding": self.padding,
                "use_bias": self.use_bias,
                "impl": self.impl,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer
                else None,
            }
        )
        return config


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))
