"""FaceForensics++: original and manipulated sequences; a fake and the two videos it joins share
one group."""

from __future__ import annotations

from pathlib import Path

from dfd.data.adapters.registry import register_adapter
from dfd.data.items import MediaItem, media_files
from dfd.errors import DfdError


@register_adapter("ffpp", face_mode="detect")
def _load_ffpp(root: Path) -> list[MediaItem]:
    """FaceForensics++: original_sequences/<src>/<c>/videos and manipulated_sequences/<method>/<c>/videos."""
    items = []
    for path in media_files(root / "original_sequences", ("video",)):
        items.append(MediaItem(str(path), 0, path.stem, source=path.parts[len(root.parts) + 1],
                               method="real", kind="video"))
    manip = root / "manipulated_sequences"
    if manip.is_dir():
        for method_dir in sorted(p for p in manip.iterdir() if p.is_dir()):
            for path in media_files(method_dir, ("video",)):
                items.append(MediaItem(str(path), 1, path.stem, source="ffpp", method=method_dir.name, kind="video"))
    if not items:
        raise DfdError(f"{root} has no FaceForensics++ videos (original_sequences/, manipulated_sequences/)")
    # a fake "000_003" joins target 000 and source 003: union them so both stay in one split
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for it in items:
        ids = it.group.split("_")
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
        find(ids[0])
    for it in items:
        it.group = "ffpp:" + find(it.group.split("_")[0])
    return items
