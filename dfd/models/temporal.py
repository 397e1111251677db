"""``temporal``: a video detector, ``TimeDistributed(image encoder) -> LSTM -> P(fake)``.

Per-frame detectors miss temporal artifacts (flicker of the blend mask, identity jitter,
inconsistent lighting between frames); an LSTM over per-frame face embeddings sees them.
The encoder is an image model's convolutional trunk, up to its pooled ``"embedding"``
layer, so a detector trained on single faces can be re-used with its weights
(:func:`image_encoder_from`). Input: ``(T, S, S, 3)`` raw [0, 255] RGB face crops.
"""

from __future__ import annotations

import keras
from keras import layers

from dfd.errors import DfdError
from dfd.models.cnn import classifier_head


def image_encoder_from(model: keras.Model) -> keras.Model:
    """The sub-model of a dfd image detector from its pixel input to its ``"embedding"``.

    The returned model *shares* layers (and so weights) with ``model``: training or freezing
    one affects the other. Preprocessing (rescaling, SRM branch) comes along, so the encoder
    still takes raw [0, 255] pixels."""
    try:
        embedding = model.get_layer("embedding")
    except ValueError:
        raise DfdError(
            f"model {model.name!r} has no 'embedding' layer; image_encoder_from needs a dfd "
            "image detector (cnn, multistream, cnn_lstm, resnext) built by dfd.models.build_model"
        ) from None
    return keras.Model(model.inputs, embedding.output, name="encoder")


def _resolve_encoder(encoder, config: dict, input_size: int | None) -> keras.Model:
    if encoder is None or isinstance(encoder, str):
        from dfd.models.registry import build_model  # late import: registry imports this module

        arch = encoder or config["encoder"]
        if arch == "temporal":
            raise DfdError("the temporal model's encoder must be an image model")
        image = build_model(arch, input_size=input_size, **config.get("encoder_overrides", {}))
        return image_encoder_from(image)
    if not isinstance(encoder, keras.Model):
        raise DfdError(
            f"encoder must be None, a model name or a keras.Model, not {type(encoder).__name__}"
        )
    names = {layer.name for layer in encoder.layers}
    # a whole detector (ends in p_fake) is cut down to its trunk; a bare encoder is used as is
    if "p_fake" in names and "embedding" in names:
        encoder = image_encoder_from(encoder)
    if len(encoder.input_shape) != 4 or len(encoder.output_shape) != 2:
        raise DfdError(
            f"encoder must map (S, S, 3) images to (D,) vectors; got {encoder.input_shape} -> "
            f"{encoder.output_shape}"
        )
    return encoder


def build(config: dict, input_size: int | None, name: str = "temporal", encoder=None) -> keras.Model:
    if isinstance(encoder, keras.Model) and input_size is None:
        input_size = encoder.input_shape[1]  # a given encoder fixes the face size
    input_size = input_size or config["input_size"]
    encoder = _resolve_encoder(encoder, config, input_size)
    if tuple(encoder.input_shape[1:]) != (input_size, input_size, 3):
        raise DfdError(
            f"encoder expects {encoder.input_shape[1:]} faces but input_size={input_size}"
        )
    if not config.get("train_encoder", True):
        encoder.trainable = False
    frames = int(config["frames"])
    clip = keras.Input((frames, input_size, input_size, 3), dtype="float32", name="frames")
    x = layers.TimeDistributed(encoder, name="per_frame")(clip)
    if config.get("bidirectional", False):
        x = layers.Bidirectional(layers.LSTM(config["lstm_units"]), name="clip_embedding")(x)
    else:
        x = layers.LSTM(config["lstm_units"], name="clip_embedding")(x)
    return keras.Model(clip, classifier_head(x, config), name=name)
