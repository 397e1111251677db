"""Which files are media: kind by magic bytes (then extension), and folder expansion."""

from __future__ import annotations

import os
from pathlib import Path

from dfd.io.images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, media_kind


_VIDEO_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff_kind(path) -> str | None:
    """'image' or 'video' from the file's first bytes, None if unrecognised."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:1] == b"\x47":  # MPEG-TS: sync byte every 188 bytes
                fh.seek(188)
                ts_second = fh.read(1)
            else:
                ts_second = b""
    except OSError:
        return None
    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if head[:2] == b"BM" or head[:4] in (b"II*\x00", b"MM\x00*") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if _is_video_header(head, ts_second):
        return "video"
    return None


def _is_video_header(head: bytes, ts_second: bytes = b"") -> bool:
    if len(head) >= 8 and head[4:8] in _VIDEO_ATOMS:  # MP4 / MOV / M4V / 3GP
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[:4] == b"\x1a\x45\xdf\xa3":  # Matroska / WebM
        return True
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG-PS / MPEG-1/2 video
        return True
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":  # ASF / WMV
        return True
    if head[:1] == b"\x47" and ts_second == b"\x47":  # MPEG-TS
        return True
    return False


def file_kind(path) -> str | None:
    """What a file is: by content when recognisable (so a PNG named .jpg is an image), else
    by extension."""
    return sniff_kind(path) or media_kind(path)


def iter_media(paths) -> list[Path]:
    """Expand ``paths`` into the files to analyse.

    Folders are walked recursively (symlinked folders are not followed, so link loops
    cannot trap the walk), keeping images and videos by extension, sorted. Paths given
    explicitly are kept as they are, even when missing or of an unknown type, so the
    caller gets a per-file error for them instead of silence."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for raw in paths:
        p = Path(os.fsdecode(raw))
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p, followlinks=False, onerror=lambda e: None):
                dirs.sort()
                for name in files:
                    if Path(name).suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                        found.append(Path(root) / name)
            out.extend(sorted(found, key=lambda q: os.fsencode(q)))
        else:
            out.append(p)
    return out
