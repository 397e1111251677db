"""``cnn``: a plain Conv-BN-ReLU stack (the design's "CNN"), plus the building blocks the other
families share.

Every dfd image model follows one contract (see :mod:`dfd.models.registry`):

* input ``(S, S, 3)`` float32 RGB pixels in [0, 255]; scaling happens inside the model;
* output ``(batch, 1)`` sigmoid = P(fake) (label 1 = fake), layer ``"p_fake"``;
* the last spatial feature map (for Grad-CAM) is the layer ``"features"``;
* the pooled face embedding is the layer ``"embedding"`` (re-used by the video model).
"""

from __future__ import annotations

import keras
from keras import layers

from dfd.models.layers import HighPassResidual

# How raw pixels become network input; written into model cards.
PREPROCESSING = "float32 RGB pixels in [0, 255]; the model itself rescales them to [-1, 1]"
SRM_PREPROCESSING = (
    PREPROCESSING + " and concatenates fixed SRM high-pass residuals (HighPassResidual)"
)


def image_input(input_size: int) -> keras.KerasTensor:
    return keras.Input((input_size, input_size, 3), dtype="float32", name="pixels")


def preprocess(pixels, config: dict):
    """Raw [0, 255] pixels -> [-1, 1] RGB, optionally with the SRM residual channels.

    The SRM branch reads the raw pixels so its truncation threshold is in pixel units."""
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(pixels)
    if config.get("srm", False):
        residual = HighPassResidual(
            kernels=tuple(config.get("srm_kernels", ("kb", "kv", "edge"))),
            truncate=config.get("srm_truncate", 3.0),
            name="srm",
        )(pixels)
        x = layers.Concatenate(name="rgb_srm")([x, residual])
    return x


# Keras' default BN momentum (0.99) needs thousands of steps before the moving statistics
# match the batch ones; our CPU-sized runs are a few hundred steps, and with 0.99 the
# inference-mode outputs were saturated (val acc 0.5 at train acc 1.0 on a synthetic task).
DEFAULT_BN_MOMENTUM = 0.9


def batch_norm(name: str, momentum: float = DEFAULT_BN_MOMENTUM, **kwargs):
    return layers.BatchNormalization(momentum=momentum, name=name, **kwargs)


def conv_bn_relu(
    x, filters: int, name: str, kernel_size: int = 3, strides: int = 1, relu_name=None,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
):
    # no conv bias: BatchNorm's beta does that job
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    x = batch_norm(f"{name}_bn", bn_momentum)(x)
    return layers.ReLU(name=relu_name or f"{name}_relu")(x)


def conv_trunk(
    x, widths, convs_per_stage, last_name: str = "features", bn_momentum: float = DEFAULT_BN_MOMENTUM
):
    """Stages of Conv-BN-ReLU blocks, 2x max-pool between stages.

    ``convs_per_stage`` is one int for every stage or a list with one entry per stage.

    No stride-2 stem: the first stage runs at full resolution because blending and
    up-sampling artifacts are a pixel or two wide and a strided stem would alias them away.
    The last ReLU is named ``last_name`` so Grad-CAM can find it."""
    depths = _per_stage(convs_per_stage, len(widths), "convs_per_stage")
    for s, (width, depth) in enumerate(zip(widths, depths), start=1):
        if s > 1:
            x = layers.MaxPooling2D(2, name=f"s{s}_pool")(x)
        for c in range(1, depth + 1):
            last = s == len(widths) and c == depth
            x = conv_bn_relu(
                x, width, name=f"s{s}_c{c}", relu_name=last_name if last else None,
                bn_momentum=bn_momentum,
            )
    return x


def _per_stage(value, stages: int, what: str) -> list[int]:
    if isinstance(value, int):
        return [value] * stages
    if len(value) != stages:
        raise ValueError(f"{what} has {len(value)} entries but there are {stages} stages")
    return [int(v) for v in value]


def head_features(embedding, config: dict):
    """embedding -> [dense-ReLU] -> [dropout]: what the classifier's last Dense reads."""
    x = embedding
    if config.get("dense_units", 0):
        x = layers.Dense(config["dense_units"], activation="relu", name="head_dense")(x)
    if config.get("dropout", 0.0):
        x = layers.Dropout(config["dropout"], name="head_dropout")(x)
    return x


def classifier_head(embedding, config: dict):
    """embedding -> [dense-ReLU] -> dropout -> Dense(1, sigmoid) named ``p_fake``."""
    x = head_features(embedding, config)
    # float32 output even under a mixed-precision policy, so probabilities stay calibrated
    return layers.Dense(1, activation="sigmoid", dtype="float32", name="p_fake")(x)


def conv_embedding(view, config: dict):
    """Pixels -> the trunk's pooled face embedding (layer ``"embedding"``): preprocessing, the
    Conv-BN-ReLU stages and global average pooling."""
    x = preprocess(view, config)
    x = conv_trunk(
        x, config["widths"], config["convs_per_stage"],
        bn_momentum=config.get("bn_momentum", DEFAULT_BN_MOMENTUM),
    )
    return layers.GlobalAveragePooling2D(name="embedding")(x)


def build(config: dict, input_size: int, name: str = "cnn") -> keras.Model:
    pixels = image_input(input_size)
    return keras.Model(pixels, classifier_head(conv_embedding(pixels, config), config), name=name)
