"""``efficientnet_lite0_lstm``: the CNN-LSTM (:mod:`dfd.models.cnn_lstm`) with EfficientNet-Lite0 as
its image encoder, ImageNet-pretrained unless ``pretrained`` is false.

The LSTM reads the trunk's last feature map row by row (forehead to chin) after the same 1x1
reduction as ``cnn_lstm``; at 128 px that map is 4x4, so four steps of ``4 * seq_channels``.
"""

from __future__ import annotations

import keras

from dfd.models.cnn import classifier_head, image_input
from dfd.models.cnn_lstm import sequence_embedding
from dfd.models.efficientnet_lite import detector_feature_map, with_trunk_weights


def build(config: dict, input_size: int, name: str = "efficientnet_lite0_lstm") -> keras.Model:
    pixels = image_input(input_size)
    embedding = sequence_embedding(detector_feature_map(pixels, config), config)
    return with_trunk_weights(keras.Model(pixels, classifier_head(embedding, config), name=name), config)
