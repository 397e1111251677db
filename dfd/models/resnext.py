"""``resnext``: a small ResNeXt (Xie et al. 2017, "Aggregated Residual Transformations").

Each bottleneck block is 1x1 reduce -> grouped 3x3 (``cardinality`` groups of
``group_width`` channels) -> 1x1 expand, plus an identity or projection shortcut - the
paper's Fig. 3(c) form, which is exactly equivalent to its Fig. 3(a) split-transform-merge
of ``cardinality`` parallel paths.

The grouped 3x3 is the CPU problem: TensorFlow's ``Conv2D(groups=G)`` has a fast forward
pass on CPU but a very slow backward pass. :class:`~dfd.models.layers.GroupedConv2D`
computes the same function (same weight layout) with a choice of ``impl``; the default
``"split"`` (G plain convs on channel slices, the paper's Fig. 3b early-concatenation form)
was measured fastest per CPU-second - see :data:`GROUPED_IMPL_BENCHMARK`.

The default config was sized for CPU training: a narrow full-resolution stem (16), a
32-wide first stage and most blocks at 1/8 resolution, which trains at ~0.65x the plain
``cnn``'s images/s (the first draft, stem 24 / stage-1 64 / blocks 1-2-2-1, managed 0.46x).
"""

from __future__ import annotations

import keras
from keras import layers

from dfd.models.cnn import DEFAULT_BN_MOMENTUM, batch_norm, classifier_head, conv_bn_relu, image_input, preprocess
from dfd.models.layers import GroupedConv2D

# The whole default ``resnext`` at 128 px, batch 32, on the 2-core dev CPU (TF 2.21 +
# oneDNN), ``scripts/bench_models.py --models cnn --sizes 128 --grouped-impls ...``:
# train images/s (best block, wall clock), inference images/s, train images per CPU-second.
# The machine was shared (load avg ~3.8), so the CPU-second column is the fair comparison;
# with the CPU to itself ``cnn`` trained at ~90 images/s. ``native`` = Conv2D(groups=8).
GROUPED_IMPL_BENCHMARK = {
    #            train/s  infer/s  train/CPU-s
    "cnn (ref)": (48.1, 150.4, 46.7),
    "split":     (30.1, 121.7, 29.2),
    "masked":    (32.3, 146.8, 27.8),
    "patches":   (12.6, 31.1, 11.4),
    "native":    (2.3, 65.1, 2.5),
}


def bottleneck(
    x, filters: int, cardinality: int, group_width: int, strides: int, impl: str, name: str,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
):
    width = cardinality * group_width
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        if strides != 1:
            # ResNet-D shortcut: average-pool then 1x1, instead of a strided 1x1 that would
            # ignore 3 of every 4 pixels
            shortcut = layers.AveragePooling2D(strides, padding="same", name=f"{name}_proj_pool")(x)
        shortcut = layers.Conv2D(
            filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"{name}_proj_conv"
        )(shortcut)
        shortcut = batch_norm(f"{name}_proj_bn", bn_momentum)(shortcut)
    y = conv_bn_relu(x, width, name=f"{name}_reduce", kernel_size=1, bn_momentum=bn_momentum)
    y = GroupedConv2D(
        width, 3, groups=cardinality, strides=strides, use_bias=False, impl=impl,
        name=f"{name}_group_conv",
    )(y)
    y = batch_norm(f"{name}_group_bn", bn_momentum)(y)
    y = layers.ReLU(name=f"{name}_group_relu")(y)
    y = layers.Conv2D(
        filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"{name}_expand_conv"
    )(y)
    # zero-init the last BN gamma: each block starts as identity, which trains more stably
    y = batch_norm(f"{name}_expand_bn", bn_momentum, gamma_initializer="zeros")(y)
    return layers.Add(name=f"{name}_add")([shortcut, y])


def build(config: dict, input_size: int, name: str = "resnext") -> keras.Model:
    pixels = image_input(input_size)
    x = preprocess(pixels, config)
    # full-resolution stem (no stride) for the same reason as in cnn: keep pixel-level traces
    momentum = config.get("bn_momentum", DEFAULT_BN_MOMENTUM)
    x = conv_bn_relu(x, config["stem_width"], name="stem", bn_momentum=momentum)
    x = layers.MaxPooling2D(2, name="stem_pool")(x)
    stages = config["stages"]
    if any(stage["cardinality"] < 2 for stage in stages):
        raise ValueError("resnext stages need cardinality >= 2 (8 by default); use cnn for plain convs")
    for s, stage in enumerate(stages, start=1):
        for b in range(1, stage["blocks"] + 1):
            x = bottleneck(
                x,
                filters=stage["filters"],
                cardinality=stage["cardinality"],
                group_width=stage["group_width"],
                strides=stage.get("stride", 1) if b == 1 else 1,
                impl=config["grouped_impl"],
                name=f"s{s}_b{b}",
                bn_momentum=momentum,
            )
            last = s == len(stages) and b == stage["blocks"]
            x = layers.ReLU(name="features" if last else f"s{s}_b{b}_relu")(x)
    embedding = layers.GlobalAveragePooling2D(name="embedding")(x)
    return keras.Model(pixels, classifier_head(embedding, config), name=name)
