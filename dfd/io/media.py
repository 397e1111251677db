"""Which files are media: kind by magic bytes (then extension), and folder expansion that
accounts for every file it leaves out (:func:`scan_paths`)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dfd.io.images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, media_kind

HEAD_BYTES = 512  # enough for an ISO-BMFF ftyp box's brand list and two MPEG-TS / M2TS packet starts

# Why a file found in a folder is not analysed (short plain words: shown to users as they are).
UNSUPPORTED = "unsupported type"
HIDDEN = "hidden file"
HIDDEN_FOLDER = "hidden folder"
TOO_LARGE = "too large"
NOT_REGULAR = "not a regular file"
UNREADABLE = "unreadable"
LINKED_FOLDER = "linked folder, not followed"

_VIDEO_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# ftyp brands of HEIF still images and image sequences (HEIC, HEIF, AVIF): ISO-BMFF like MP4,
# told apart from videos by these.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2",
                b"msf1", b"miaf", b"avif", b"avis", b"avio", b"avci", b"avcs"}


def _ftyp_brands(head: bytes) -> list[bytes]:
    """Major then compatible brands of an ISO-BMFF ``ftyp`` box at the start, [] if none."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return []
    end = min(int.from_bytes(head[:4], "big"), len(head))
    return [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]


def _is_video_brand(brand: bytes) -> bool:
    return brand[:3] in (b"iso", b"mp4", b"3gp", b"3g2", b"avc") or brand in (b"qt  ", b"M4V ", b"M4VH", b"dash",
                                                                           b"mmp4", b"msnv", b"f4v ", b"MSNV")


def _is_heif_header(head: bytes) -> bool:
    brands = _ftyp_brands(head)
    if not brands:
        return False
    if brands[0] in _HEIF_BRANDS:
        return True
    return bool(set(brands[1:]) & _HEIF_BRANDS) and not any(_is_video_brand(b) for b in brands)


def _read_head(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def sniff_kind(path) -> str | None:
    """'image' or 'video' from the file's first bytes, None if unrecognised."""
    try:
        head = _read_head(path)
    except OSError:
        return None
    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if head[:2] == b"BM" or head[:4] in (b"II*\x00", b"MM\x00*") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if _is_heif_header(head):
        return "image"
    if _is_video_header(head, whole_head=True):
        return "video"
    return None


def _is_video_header(head: bytes, ts_second: bytes = b"", whole_head: bool = False) -> bool:
    """Whether ``head`` (the file's first bytes) starts a video container. ``ts_second`` is the
    byte at offset 188 when ``head`` is shorter than that (the MPEG-TS check). ``whole_head``:
    ``head`` holds the first HEAD_BYTES bytes (or the whole file); without it a short head
    recognises M2TS (192-byte packets) by its first sync byte only."""
    if len(head) >= 8 and head[4:8] in _VIDEO_ATOMS:  # MP4 / MOV / M4V / 3GP; not HEIC / AVIF
        return not _is_heif_header(head)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[:4] == b"\x1a\x45\xdf\xa3":  # Matroska / WebM
        return True
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG-PS (VOB) / MPEG-1/2 video
        return True
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":  # ASF / WMV
        return True
    if head[:4] == b"FLV\x01":  # Flash video
        return True
    if head[:4] == b"OggS":  # Ogg (Theora .ogv)
        return True
    if head[:4] == b"\x06\x0e\x2b\x34":  # MXF (SMPTE universal label)
        return True
    second = head[188:189] if len(head) > 188 else ts_second
    if head[:1] == b"\x47" and second == b"\x47":  # MPEG-TS: sync byte every 188 bytes
        return True
    # M2TS / MTS: a 4-byte time stamp, then a sync byte, every 192 bytes
    return head[4:5] == b"\x47" and (head[196:197] == b"\x47" or (len(head) <= 196 and not whole_head))


def is_video_file(path) -> bool:
    """Whether the file's first bytes start a video container: the check before FFmpeg is
    given a file (so a playlist or text file named .mp4 never reaches it)."""
    try:
        head = _read_head(path)
    except OSError:
        return False
    return _is_video_header(head, whole_head=True)


def file_kind(path) -> str | None:
    """What a file is: by content when recognisable (so a PNG named .jpg is an image), else
    by extension."""
    return sniff_kind(path) or media_kind(path)


@dataclass(frozen=True)
class SkippedFile:
    """A file (or folder) a folder scan leaves out, and why (one of the reasons above)."""

    path: Path
    reason: str

    def to_dict(self) -> dict:
        text = os.fsdecode(self.path)  # undecodable bytes of a non-UTF-8 name become \xNN
        return {"path": text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                "reason": self.reason}


@dataclass
class MediaScan:
    """What :func:`scan_paths` found: the files to analyse and everything it left out."""

    files: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _skip_reason(path: Path, max_bytes: int | None) -> str | None:
    """Why a file found in a folder is not analysed, None if it is."""
    if path.name.startswith("."):
        return HIDDEN
    if path.suffix.lower() not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
        return UNSUPPORTED
    try:
        st = os.stat(path)
    except OSError:  # broken link, link loop, permission on the way
        return UNREADABLE
    if not stat.S_ISREG(st.st_mode):
        return NOT_REGULAR
    if max_bytes is not None and st.st_size > max_bytes:
        return TOO_LARGE
    if not os.access(path, os.R_OK):
        return UNREADABLE
    return None


def _by_bytes(p) -> bytes:
    return os.fsencode(p.path if isinstance(p, SkippedFile) else p)


def _walk(folder: Path, max_bytes: int | None) -> MediaScan:
    found = MediaScan()

    def unlistable(exc: OSError) -> None:
        found.skipped.append(SkippedFile(Path(exc.filename or folder), UNREADABLE))

    for root, dirs, names in os.walk(folder, followlinks=False, onerror=unlistable):
        keep = []
        for name in sorted(dirs):
            sub = Path(root) / name
            if name.startswith("."):
                found.skipped.append(SkippedFile(sub, HIDDEN_FOLDER))
            elif sub.is_symlink():  # never followed, so link loops cannot trap the walk
                found.skipped.append(SkippedFile(sub, LINKED_FOLDER))
            else:
                keep.append(name)
        dirs[:] = keep
        for name in names:
            path = Path(root) / name
            reason = _skip_reason(path, max_bytes)
            if reason is None:
                found.files.append(path)
            else:
                found.skipped.append(SkippedFile(path, reason))
    found.files.sort(key=_by_bytes)
    found.skipped.sort(key=_by_bytes)
    return found


def scan_paths(paths, max_bytes: int | None = None) -> MediaScan:
    """Expand ``paths`` into the files to analyse, and the files left out with their reason.

    Folders are walked recursively, keeping images and videos by extension, sorted; hidden
    files and folders (dot names), other types, links to folders (not followed, so link loops
    cannot trap the walk), files that are not regular or not readable and — with
    ``max_bytes`` — files over that size are listed in ``skipped`` instead. Paths given
    explicitly are kept as they are, even when missing or of an unknown type, so the caller
    gets a per-file error for them instead of silence."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = MediaScan()
    for raw in paths:
        p = Path(os.fsdecode(raw))
        if p.is_dir():
            found = _walk(p, max_bytes)
            out.files.extend(found.files)
            out.skipped.extend(found.skipped)
        else:
            out.files.append(p)
    return out


def iter_media(paths) -> list[Path]:
    """The files :func:`scan_paths` would analyse."""
    return scan_paths(paths).files
