"""Deepfake detectors: ``cnn``, ``multistream``, ``cnn_lstm``, ``resnext`` (faces) and ``temporal`` (clips).

Every detector takes raw float32 RGB pixels in [0, 255] and returns ``(batch, 1)``
P(fake) (label 1 = fake). Build with :func:`build_model`, save/load with model cards via
:func:`save_model` / :func:`load_model`.
"""

from dfd.models.card import load_model, read_card, save_model
from dfd.models.provenance import base_card
from dfd.models.registry import adapt_model, available_models, build_model, built_config, model_config
from dfd.models.temporal import image_encoder_from

__all__ = [
    "adapt_model",
    "available_models",
    "base_card",
    "build_model",
    "built_config",
    "image_encoder_from",
    "load_model",
    "model_config",
    "read_card",
    "save_model",
]
