"""Data layer: dataset adapters, face stage, fake synthesis, the embedded default dataset."""

from .datasets import MediaItem, available_datasets, load_items  # noqa: F401
