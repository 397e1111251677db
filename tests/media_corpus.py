"""Generated phone-style media for the tests: HEIC and AVIF photos, an MPEG-TS clip and the
files a folder scan must leave out (with a reason), written from the feat test media."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.corpus import _face

ANALYSED = ("IMG_0001.heic", "IMG_0002.avif", "clip.ts")
SKIPPED = {".hidden.jpg": "hidden file", "notes.txt": "unsupported type"}


def save_heic(img: Image.Image, path: Path, exif: bytes | None = None) -> Path:
    import pillow_heif

    heif = pillow_heif.from_pillow(img)
    heif.save(path, quality=90, **({"exif": exif} if exif else {}))
    return path


def write_ts(path: Path, face_video: Path, n: int = 8) -> Path:
    """``n`` frames of ``face_video`` re-encoded as H.264 in MPEG-TS (imageio-ffmpeg's ffmpeg)."""
    from dfd.io.video import read_frames
    from dfd.io.video_write import write_video

    frames = [f.rgb for f in read_frames(face_video, n=n)]
    return write_video(path, frames, fps=10.0)


def make_phone_folder(folder: Path, face_photo: Path, face_video: Path) -> dict[str, Path]:
    """A HEIC and an AVIF face photo, a ``.ts`` face clip (analysed by a folder scan), a
    ``.txt`` and a hidden JPEG (skipped). Returns name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    face = _face(face_photo, 480)
    save_heic(face, folder / "IMG_0001.heic")
    face.save(folder / "IMG_0002.avif", "AVIF", quality=80)
    write_ts(folder / "clip.ts", face_video)
    (folder / "notes.txt").write_text("not media\n")
    face.save(folder / ".hidden.jpg", quality=90)
    return {name: folder / name for name in (*ANALYSED, *SKIPPED)}


def make_mixed_folder(folder: Path, face_photo: Path, face_video: Path, no_face_photo: Path) -> dict[str, str]:
    """20 files of mixed kinds and sizes: the phone folder, JPEG / PNG / WebP photos of several
    sizes, an MP4, a subfolder, a hidden folder and more files that are not media.
    Returns name -> "analysed" or the reason it is skipped."""
    expected = {name: "analysed" for name in ANALYSED} | dict(SKIPPED)
    make_phone_folder(folder, face_photo, face_video)
    face = _face(face_photo, 640)
    for i, side in enumerate((160, 240, 320, 400, 480, 560)):
        img = face.resize((side, round(side * face.height / face.width)))
        name = f"photo_{i}.{('jpg', 'png', 'webp')[i % 3]}"
        img.save(folder / name)
        expected[name] = "analysed"
    _face(no_face_photo, 500).save(folder / "landscape.jpg", quality=90)
    shutil.copyfile(face_video, folder / "interview.mp4")
    (folder / "album").mkdir()
    face.resize((300, round(300 * face.height / face.width))).save(folder / "album" / "portrait.jpg")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(folder / "album" / "grey.png")
    save_heic(face.resize((360, round(360 * face.height / face.width))), folder / "album" / "IMG_0003.HEIC")
    expected.update({"landscape.jpg": "analysed", "interview.mp4": "analysed", "portrait.jpg": "analysed",
                     "grey.png": "analysed", "IMG_0003.HEIC": "analysed"})
    (folder / ".thumbnails").mkdir()
    face.save(folder / ".thumbnails" / "thumb.jpg")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "album" / "list.csv").write_text("a,b\n1,2\n")
    (folder / "album" / "readme.md").write_text("# album\n")
    expected.update({".thumbnails": "hidden folder", ".DS_Store": "hidden file", "list.csv": "unsupported type",
                     "readme.md": "unsupported type"})
    return expected
