"""``multistream``: a conv trunk plus residual co-occurrence, k-means dictionary and DCTR streams.

The trunk (:mod:`dfd.models.cnn`'s Conv-BN-ReLU stages) sees the face, area-averaged to
``global_size`` px when that is set; up to three fixed feature maps sit beside it, each read
out linearly by one ``Dense(1)`` with its own L2 penalty: ``stats`` (residual co-occurrence
log-histograms at the input's native resolution, :class:`~dfd.models.layers.ResidualCooccurrence`),
``dictionary`` (k-means patch codes of the trunk's view, :class:`~dfd.models.layers.PatchDictionary`)
and ``dct`` (DCTR histograms of the JPEG grid, :class:`~dfd.models.layers.DctResidualHistogram`).
The streams' logits add up (a product of experts) and ``p_fake`` is their sum's sigmoid.
With ``fit_readouts`` the readouts are solved exactly before training (:mod:`dfd.models.readouts`;
the training hook is :mod:`dfd.training.multistream`). Layer names follow the image-model
contract of :mod:`dfd.models.cnn` (``"features"``, ``"embedding"``, ``"p_fake"``).
"""

from __future__ import annotations

import keras
from keras import layers

from dfd.errors import DfdError
from dfd.models.cnn import DEFAULT_BN_MOMENTUM, batch_norm, conv_embedding, head_features, image_input
from dfd.models.layers import DctResidualHistogram, PatchDictionary, ResidualCooccurrence, StreamDropout

STREAMS = ("stats", "dictionary", "dct")


def global_view(pixels, config: dict, input_size: int):
    """The input the convolutional trunk sees: the face area-averaged down to
    ``global_size`` px when that is set and smaller than the input (a dual-stream model
    keeps full resolution for its statistics stream only)."""
    target = int(config.get("global_size", 0) or 0)
    if not target or target >= input_size:
        return pixels
    if input_size % target:
        return layers.Resizing(target, target, interpolation="area", name="global_view")(pixels)
    return layers.AveragePooling2D(input_size // target, name="global_view")(pixels)


def stats_logit(pixels, config: dict):
    """Native-resolution statistics stream: residual co-occurrence log-histograms,
    standardised by BatchNorm and read out linearly (a strongly L2-regularised logistic
    regression inside the network; see :class:`ResidualCooccurrence`)."""
    stats = ResidualCooccurrence(
        colour_spaces=tuple(config.get("stats_colour_spaces", ("rgb", "ycbcr"))),
        truncate=int(config.get("stats_truncate", 3)),
        train_crop=int(config.get("stats_train_crop", 0)),
        name="stats",
    )(pixels)
    x = batch_norm("stats_bn", config.get("bn_momentum", DEFAULT_BN_MOMENTUM))(stats)
    if config.get("stats_dropout", 0.0):
        x = layers.Dropout(config["stats_dropout"], name="stats_dropout")(x)
    return layers.Dense(1, kernel_regularizer=keras.regularizers.L2(config.get("stats_l2", 0.03)),
                        name="stats_logit")(x)


def dictionary_logit(view, config: dict):
    """Unsupervised-dictionary stream: k-means patch codes pooled on a grid (see
    :class:`PatchDictionary`; ``dfd.training.train`` adapts it to the training faces), read out
    linearly with a strong L2 penalty."""
    codes = PatchDictionary(
        patch=int(config.get("dictionary_patch", 6)), atoms=int(config.get("dictionary_atoms", 400)),
        grid=int(config.get("dictionary_grid", 4)), name="dictionary",
    )(view)
    if config.get("dictionary_dropout", 0.0):
        codes = layers.Dropout(config["dictionary_dropout"], name="dictionary_dropout")(codes)
    # zero start: the readout begins as "no opinion" instead of a random 6,400-term sum
    return layers.Dense(1, kernel_regularizer=keras.regularizers.L2(config.get("dictionary_l2", 0.1)),
                        kernel_initializer="zeros", name="dictionary_logit")(codes)


def dct_logit(pixels, config: dict):
    """JPEG-grid stream at the input's native resolution: DCTR histograms (see
    :class:`DctResidualHistogram`), standardised by BatchNorm and read out linearly with an
    L2 penalty."""
    features = DctResidualHistogram(step=float(config.get("dct_step", 4.0)),
                                    truncate=int(config.get("dct_truncate", 4)), name="dct")(pixels)
    x = batch_norm("dct_bn", config.get("bn_momentum", DEFAULT_BN_MOMENTUM))(features)
    return layers.Dense(1, kernel_regularizer=keras.regularizers.L2(config.get("dct_l2", 0.02)),
                        kernel_initializer="zeros", name="dct_logit")(x)


def build(config: dict, input_size: int, name: str = "multistream") -> keras.Model:
    if not any(config.get(stream, False) for stream in STREAMS):
        raise DfdError(f"a multistream model needs at least one of the streams {list(STREAMS)} turned on; "
                       "the plain convolutional network is the 'cnn' model")
    pixels = image_input(input_size)
    view = global_view(pixels, config, input_size)
    embedding = conv_embedding(view, config)
    # several streams: their logits add up (a product of experts); p_fake stays one sigmoid
    h = head_features(embedding, config)  # built before the Dense: layers draw their seeds when constructed
    trunk_logit = layers.Dense(1, name="trunk_logit")(h)
    if config.get("stream_dropout", 0.0):
        trunk_logit = StreamDropout(config["stream_dropout"], name="trunk_stream_dropout")(trunk_logit)
    logits = [trunk_logit]
    if config.get("stats", False):
        logits.append(stats_logit(pixels, config))
    if config.get("dictionary", False):
        logits.append(dictionary_logit(view, config))
    if config.get("dct", False):
        logits.append(dct_logit(pixels, config))
    logit = layers.Add(name="logit")(logits)
    p_fake = layers.Activation("sigmoid", dtype="float32", name="p_fake")(logit)
    return keras.Model(pixels, p_fake, name=name)
