"""Any folder tree with ``real/`` and ``fake/`` sub-folders (optionally under train/valid/test)."""

from __future__ import annotations

from pathlib import Path

from dfd.data.adapters.registry import register_adapter
from dfd.data.items import SPLITS, MediaItem, media_files
from dfd.errors import DfdError
from dfd.io.images import media_kind


@register_adapter("folder", face_mode="detect")
def _load_folder(root: Path) -> list[MediaItem]:
    """Any tree with ``real/`` and ``fake/`` folders (optionally under train/valid/test)."""
    layouts = [(root / s, s) for s in SPLITS if (root / s / "real").is_dir() or (root / s / "fake").is_dir()]
    if not layouts:
        layouts = [(root, "")]
    if not any((base / lab).is_dir() for base, _ in layouts for lab in ("real", "fake")):
        raise DfdError(f"{root} has no real/ or fake/ folder")
    items = []
    for base, split in layouts:
        for lab_name, label in (("real", 0), ("fake", 1)):
            top = base / lab_name
            if not top.is_dir():
                continue
            for path in media_files(top):
                rel = path.relative_to(top)
                # files in a sub-folder share it as their group (an identity or video folder)
                group = rel.parts[0] if len(rel.parts) > 1 else path.stem
                method = "real" if label == 0 else (rel.parts[0] if len(rel.parts) > 2 else "unknown")
                items.append(MediaItem(str(path), label, f"{lab_name}:{group}" if label == 0 else f"fake:{group}",
                                       source=root.name, method=method, split=split,
                                       kind=media_kind(path) or "image"))
    return items
