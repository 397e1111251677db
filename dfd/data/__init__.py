"""Data layer: dataset adapters (:mod:`~dfd.data.adapters`, entry point
:mod:`~dfd.data.datasets`), face-crop preparation, fake synthesis (:mod:`~dfd.data.synth`),
the embedded default dataset and its video clips."""

from dfd.data.datasets import MediaItem, available_datasets, load_items  # noqa: F401
