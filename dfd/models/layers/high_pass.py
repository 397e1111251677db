"""``HighPassResidual``: fixed SRM high-pass residuals, the noise-residual input channels of every image family."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

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
