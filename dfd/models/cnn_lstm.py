"""``cnn_lstm``: a CNN feature map read as a sequence by a (bidirectional) LSTM.

Face swaps paste a generated region into a real frame, so the face is often consistent
*within* each region but breaks *between* them (blend boundary along the jaw, a mouth that
does not match the cheeks). Reading the feature map top-to-bottom as a sequence lets the
LSTM compare regions, which global average pooling cannot do because it discards layout.

``sequence``:

* ``"rows"``: one step per feature-map row (a row is ``w * seq_channels`` features), so the
  LSTM scans the face from forehead to chin;
* ``"patches"``: one step per feature-map cell in raster order (``h * w`` steps of
  ``seq_channels`` features) - finer, but a longer and slower recurrence.
"""

from __future__ import annotations

import keras
from keras import layers

from dfd.models.cnn import DEFAULT_BN_MOMENTUM, classifier_head, conv_bn_relu, conv_trunk, image_input, preprocess


def build(config: dict, input_size: int, name: str = "cnn_lstm") -> keras.Model:
    pixels = image_input(input_size)
    x = preprocess(pixels, config)
    momentum = config.get("bn_momentum", DEFAULT_BN_MOMENTUM)
    features = conv_trunk(x, config["widths"], config["convs_per_stage"], bn_momentum=momentum)
    return keras.Model(pixels, classifier_head(sequence_embedding(features, config), config), name=name)


def sequence_embedding(features, config: dict):
    """A trunk's last feature map -> the LSTM's face vector (layer ``"embedding"``): 1x1
    reduction to ``seq_channels``, the map as a sequence (``sequence``), the (bi)LSTM. Any
    encoder's map will do (``efficientnet_lite0_lstm`` puts it on a pretrained trunk)."""
    momentum = config.get("bn_momentum", DEFAULT_BN_MOMENTUM)
    # 1x1 reduction keeps the LSTM input (and its 4 * units * input weights) small
    x = conv_bn_relu(
        features, config["seq_channels"], name="seq_reduce", kernel_size=1, bn_momentum=momentum
    )
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if config["sequence"] == "rows":
        seq = layers.Reshape((h, w * c), name="as_sequence")(x)
    elif config["sequence"] == "patches":
        seq = layers.Reshape((h * w, c), name="as_sequence")(x)
    else:
        raise ValueError(f"sequence must be 'rows' or 'patches', got {config['sequence']!r}")
    if config.get("seq_dropout", 0.0):
        seq = layers.Dropout(config["seq_dropout"], name="seq_dropout")(seq)
    # the pooled face vector is named "embedding" in every image model (see temporal.py)
    if config.get("bidirectional", True):
        return layers.Bidirectional(layers.LSTM(config["lstm_units"]), name="embedding")(seq)
    return layers.LSTM(config["lstm_units"], name="embedding")(seq)
