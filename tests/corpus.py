"""Generators of awkward and hostile input files, shared by the data-layer and inference tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def _face(face_photo: Path, max_side: int = 400) -> Image.Image:
    img = Image.open(face_photo).convert("RGB")
    img.thumbnail((max_side, max_side))
    return img


def make_image_corpus(folder: Path, face_photo: Path, multi_face_photo: Path, no_face_photo: Path) -> dict[str, tuple[Path, str]]:
    """Write the image cases of the data-layer issue; returns name -> (path, expected status)
    where status is "ok", "no_face" or "error"."""
    folder.mkdir(parents=True, exist_ok=True)
    face = _face(face_photo)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, status: str) -> Path:
        p = folder / name
        cases[name] = (p, status)
        return p

    put("empty.jpg", "error").write_bytes(b"")
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90)
    put("truncated.jpg", "error").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    put("text_named.jpg", "error").write_text("this is not an image\n" * 20)
    Image.new("RGB", (1, 1), (128, 90, 70)).save(put("one_pixel.png", "error"))
    face.convert("L").save(put("grayscale.jpg", "ok"), quality=92)
    rgba = face.convert("RGBA")
    alpha = np.full((face.height, face.width), 255, np.uint8)
    alpha[:, : face.width // 10] = 0  # a transparent strip on the left
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(put("rgba.png", "ok"))
    face.convert("CMYK").save(put("cmyk.jpg", "ok"), quality=92)
    # stored sideways, with EXIF orientation 6 ("rotate 90° clockwise to display")
    sideways = face.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(put("exif_rotated.jpg", "ok"), quality=92, exif=exif.tobytes())
    gray16 = (np.asarray(face.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(put("sixteen_bit.png", "ok"))
    _face(no_face_photo).save(put("no_face.jpg", "no_face"), quality=90)
    _face(multi_face_photo, 900).save(put("several_faces.jpg", "ok"), quality=92)
    face.save(put("visage_été_顔.jpg", "ok"), quality=92)
    return cases
