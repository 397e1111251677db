"""dfd-default: the embedded dataset's ``source/manifest.csv`` (built by ``make data``)."""

from __future__ import annotations

import csv
from pathlib import Path

from dfd.data.adapters.registry import register_adapter
from dfd.data.items import MediaItem
from dfd.errors import DfdError
from dfd.io.images import media_kind


# training settings: dfd/training/recipes/dfd-default.json (why: docs/experiments.md)
@register_adapter("dfd-default", face_mode="detect")
def _load_default(root: Path) -> list[MediaItem]:
    """dfd-default: the embedded dataset built by ``make data`` (``source/manifest.csv``)."""
    if (root / "source" / "manifest.csv").exists():  # accept data/dfd-default as well as its source/
        root = root / "source"
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise DfdError(f"{manifest} not found — build the embedded dataset first with `make data`")
    items = []
    with open(manifest, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            items.append(
                MediaItem(
                    path=str(root / row["path"]),
                    label=int(row["label"]),
                    group=row["group"],
                    source=row["source"],
                    method=row["method"],
                    split=row["split"],
                    kind=media_kind(row["path"]) or "image",
                )
            )
    return items
