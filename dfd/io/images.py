"""Safe, uniform image decoding: any common still image → RGB ``uint8`` array, or a
:class:`~dfd.errors.BadInputError` that says why not.

Pillow does the decoding because it reads EXIF orientation, CMYK, palettes, 16-bit and
alpha; AVIF too (Pillow >= 11.3), and HEIC / HEIF (phone photos) through the ``pillow-heif``
plug-in. The size checks run on the header *before* pixels are decoded, so a decompression
bomb is refused without allocating it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from dfd.errors import BadInputError

try:  # HEIC / HEIF: libheif through pillow-heif; Image.open then reads them like any other format
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORT = False
else:
    register_heif_opener()
    HEIF_SUPPORT = True

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif",
                    ".heic", ".heif", ".hif", ".avif"}
# every container OpenCV's FFmpeg reads that dfd.io.media recognises by its first bytes
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".ts", ".m2t", ".mts", ".m2ts", ".3gp", ".3g2", ".flv", ".f4v", ".ogv", ".vob",
                    ".mod", ".m2v", ".asf", ".divx", ".mxf"}

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_PIXELS = 80_000_000  # ~ a 10k x 8k photo; more is treated as a decompression bomb
DEFAULT_MIN_SIDE = 16

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not grey pixels
Image.MAX_IMAGE_PIXELS = None  # we check the header ourselves with a clearer message


def media_kind(path: str | os.PathLike) -> str | None:
    """'image', 'video' or None, from the file extension."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def check_regular_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Raise BadInputError unless ``path`` is a readable, non-empty regular file; return its size."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadInputError("file not found (or a broken link)", str(path)) from None
    except OSError as exc:  # symlink loops, permission on a parent, name too long...
        raise BadInputError(f"cannot access file: {exc.strerror or exc}", str(path)) from None
    if p.is_dir():
        raise BadInputError("is a folder, not a file", str(path))
    if not p.is_file():
        raise BadInputError("not a regular file", str(path))
    if st.st_size == 0:
        raise BadInputError("file is empty (0 bytes)", str(path))
    if st.st_size > max_bytes:
        raise BadInputError(
            f"file is too large ({st.st_size / 1e6:.0f} MB > {max_bytes / 1e6:.0f} MB limit)", str(path)
        )
    if not os.access(p, os.R_OK):
        raise BadInputError("file is not readable (permission denied)", str(path))
    return st.st_size


def _to_rgb_uint8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        gray = ((arr - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))  # L, P, CMYK, YCbCr, RGB, 1 ...


def load_image(
    path: str | os.PathLike,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> np.ndarray:
    """Decode an image file to an ``HxWx3`` RGB ``uint8`` array, EXIF orientation applied.

    Animated images give their first frame. Raises :class:`BadInputError` with a short,
    human-readable reason for anything that is not a usable still image."""
    check_regular_file(path, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise BadInputError(
                        f"image is {width}x{height} px, over the {max_pixels / 1e6:.0f} megapixel limit "
                        "(possible decompression bomb)",
                        str(path),
                    )
                if min(width, height) < min_side:
                    raise BadInputError(
                        f"image is only {width}x{height} px, too small to contain a face", str(path)
                    )
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb_uint8(img)
    except BadInputError:
        raise
    except UnidentifiedImageError:
        if not HEIF_SUPPORT and Path(path).suffix.lower() in (".heic", ".heif", ".hif"):
            raise BadInputError("HEIC / HEIF photos need the pillow-heif package (pip install pillow-heif)",
                                str(path)) from None
        raise BadInputError("not an image file (unrecognised or corrupt format)", str(path)) from None
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"image refused as a decompression bomb: {exc}", str(path)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = " ".join(str(exc).split())  # one line (libheif's messages end in a newline)
        if "truncated" in msg.lower() or "end of file" in msg.lower():
            msg = "image file is truncated (incomplete download or copy?)"
        else:
            msg = f"image cannot be decoded: {msg}"
        raise BadInputError(msg, str(path)) from None
    except MemoryError:
        raise BadInputError("image is too large to decode in memory", str(path)) from None
    return np.ascontiguousarray(rgb)


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB ``uint8`` array losslessly (parents created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path, format="PNG", compress_level=3)
