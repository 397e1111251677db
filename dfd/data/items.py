"""What every adapter yields: :class:`MediaItem` (path, label, group, source, method, split,
kind), the group-disjoint split :func:`assign_group_splits` and :func:`media_files`, the
image and video files under a folder."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dfd.io.images import media_kind

SPLITS = ("train", "valid", "test")


@dataclass
class MediaItem:
    path: str
    label: int  # 0 real, 1 fake
    group: str
    source: str
    method: str  # "real" for real items, else the manipulation
    split: str = ""
    kind: str = "image"  # "image" | "video"

    def to_dict(self) -> dict:
        return asdict(self)



def assign_group_splits(
    items: list[MediaItem], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
    only_missing: bool = True,
) -> None:
    """Give every item without a split one, keeping each group whole.

    Groups are shuffled with ``seed`` and dealt out so each split's share of *items* is close
    to ``fractions``."""
    todo = [it for it in items if not (only_missing and it.split)]
    groups: dict[str, int] = {}
    for it in todo:
        groups[it.group] = groups.get(it.group, 0) + 1
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    total = sum(groups.values())
    bounds = np.cumsum(fractions) / np.sum(fractions) * total
    assigned: dict[str, str] = {}
    seen = 0
    for g in order:
        # a group goes to the split whose quota its midpoint falls in
        mid = seen + groups[g] / 2
        assigned[g] = SPLITS[int(np.searchsorted(bounds, mid, side="right").clip(0, 2))]
        seen += groups[g]
    for it in todo:
        it.split = assigned[it.group]



def media_files(root: Path, kinds=("image", "video")) -> list[Path]:
    out = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for fn in filenames:
            p = Path(dirpath) / fn
            if media_kind(p) in kinds:
                out.append(p)
    return sorted(out)
