"""``GroupedConv2D``: a grouped convolution that is fast on CPU (the ResNeXt family's)."""

from __future__ import annotations

import keras
from keras import ops

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
