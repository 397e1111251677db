"""Kaggle "140k Real and Fake Faces" (real = FFHQ, fake = StyleGAN): aligned face crops with
official splits."""

from __future__ import annotations

import csv
from pathlib import Path

from dfd.data.adapters.registry import register_adapter
from dfd.data.items import SPLITS, MediaItem, media_files
from dfd.errors import DfdError


# training settings: dfd/training/recipes/faces140k.json (why: docs/experiments.md)
@register_adapter("faces140k", face_mode="whole", image_size=256)
def _load_faces140k(root: Path) -> list[MediaItem]:
    """Kaggle "140k Real and Fake Faces": real = FFHQ, fake = StyleGAN; official splits."""
    base = root / "real_vs_fake" / "real-vs-fake"
    if not base.is_dir():
        raise DfdError(f"{root} does not look like 140k Real and Fake Faces (missing real_vs_fake/real-vs-fake/)")
    items = []
    for split in SPLITS:
        csv_path = root / f"{split}.csv"
        if csv_path.exists():
            with open(csv_path, newline="", encoding="utf-8") as fh:
                rows = [(r["path"], int(r["label"])) for r in csv.DictReader(fh)]
            # the CSVs use label 1 = real; dfd uses 1 = fake
            entries = [(base / p, 1 - lab) for p, lab in rows]
        else:
            entries = [(p, int(lab == "fake")) for lab in ("real", "fake")
                       for p in media_files(base / split / lab, ("image",))]
        for path, label in entries:
            if not path.exists():
                continue
            items.append(
                MediaItem(str(path), label, group=f"{'stylegan' if label else 'ffhq'}:{path.stem}",
                          source="stylegan" if label else "ffhq", method="stylegan" if label else "real",
                          split=split)
            )
    return items
