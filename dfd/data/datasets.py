"""One interface for every data source.

An adapter turns a folder into a list of :class:`MediaItem` — path, label (0 real, 1 fake),
a *group* key (the identity or source video: everything sharing a group lands in the same
split, so no identity or video leaks from train to test), source, manipulation method and
split. Adapters that have official splits keep them; the others get group-disjoint splits
from :func:`assign_group_splits` with a fixed seed.

The adapters themselves live in :mod:`dfd.data.adapters` (one module per dataset), the item
type and the split rule in :mod:`dfd.data.items`; this module is the one entry point."""

from __future__ import annotations

import os
from pathlib import Path

from dfd.data.adapters import Adapter, available_datasets, get_adapter, register_adapter
from dfd.data.items import SPLITS, MediaItem, assign_group_splits, media_files
from dfd.errors import DfdError

__all__ = [
    "SPLITS", "Adapter", "MediaItem", "assign_group_splits", "available_datasets", "get_adapter", "load_items",
    "media_files", "register_adapter",
]


def load_items(name: str, root: str | os.PathLike, seed: int = 0) -> list[MediaItem]:
    """Items of dataset ``name`` found under ``root``, every one with a split."""
    root = Path(root)
    if not root.is_dir():
        raise DfdError(f"dataset folder not found: {root}")
    items = get_adapter(name).load(root)
    if not items:
        raise DfdError(f"no usable files found for dataset {name!r} under {root}")
    if any(not it.split for it in items):
        assign_group_splits(items, seed=seed)
    return items
