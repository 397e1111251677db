"""Celeb-DF v2: Celeb-real, YouTube-real and Celeb-synthesis videos with the official test list;
the rest is split by identity."""

from __future__ import annotations

import re
from pathlib import Path

from dfd.data.adapters.registry import register_adapter
from dfd.data.items import MediaItem, assign_group_splits, media_files

_CELEB_ID = re.compile(r"^(id\d+)_(?:(id\d+)_)?\d+$")


@register_adapter("celebdf", face_mode="detect")
def _load_celebdf(root: Path) -> list[MediaItem]:
    """Celeb-DF v2: Celeb-real, YouTube-real, Celeb-synthesis videos; official test list."""
    test_list = root / "List_of_testing_videos.txt"
    tested = set()
    if test_list.exists():
        for line in test_list.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:
                tested.add(parts[1].replace("\\", "/"))
    items = []
    for folder, label, source in (("Celeb-real", 0, "celeb-real"), ("YouTube-real", 0, "youtube-real"),
                                  ("Celeb-synthesis", 1, "celeb-synthesis")):
        for path in media_files(root / folder, ("video",)):
            m = _CELEB_ID.match(path.stem)
            # the target identity is the person whose real footage the fake re-uses
            group = f"celeb:{m.group(1)}" if m else f"youtube:{path.stem}"
            rel = f"{folder}/{path.name}"
            items.append(MediaItem(str(path), label, group, source, "celebdf-swap" if label else "real",
                                   split="test" if rel in tested else "", kind="video"))
    # groups that hold test videos stay out of train/valid, keeping the identity split clean
    test_groups = {it.group for it in items if it.split == "test"}
    for it in items:
        if not it.split and it.group in test_groups:
            it.split = "test"
    rest = [it for it in items if not it.split]
    assign_group_splits(rest, fractions=(0.85, 0.15, 0.0) if tested else (0.7, 0.15, 0.15))
    return items
