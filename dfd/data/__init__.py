"""Data layer: dataset adapters, face stage, fake synthesis, the embedded default dataset."""

from dfd.data.datasets import MediaItem, available_datasets, load_items  # noqa: F401
