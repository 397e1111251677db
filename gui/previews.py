"""Pictures for display: a still image or single video frames decoded and scaled down,
and a file's kind guessed from its name before it is analysed. Display only - every
verdict comes from :mod:`dfd.inference`.

Safe to call from worker threads (QImage, never QPixmap)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QMimeDatabase, QSize, Qt
from PySide6.QtGui import QImage, QImageReader

from .qimages import rgb_to_qimage

MAX_DISPLAY_SIDE = 2400  # larger photos are scaled down for display (boxes scale with them)

_MIME = QMimeDatabase()


def guess_kind(path: str | os.PathLike) -> str:
    """'image', 'video' or '' from the file name only (shown before the analysis ran)."""
    mime = _MIME.mimeTypeForFile(str(path), QMimeDatabase.MatchMode.MatchExtension).name()
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return ""


def load_image(path: str | os.PathLike, max_side: int = MAX_DISPLAY_SIDE) -> tuple[QImage, tuple[int, int]]:
    """Decode a still image for display, EXIF orientation applied (as the detector sees it),
    scaled down so its longer side is at most ``max_side``. Returns the image and the full
    size ``(w, h)`` it stands for (face boxes are in those coordinates); a null QImage if
    the file cannot be decoded."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    scale = 1.0
    if size.isValid() and max(size.width(), size.height()) > max_side:
        # decode straight at the reduced size where the format supports it (JPEG does)
        scale = max_side / max(size.width(), size.height())
        reader.setScaledSize(QSize(round(size.width() * scale), round(size.height() * scale)))
    image = reader.read()
    if image.isNull():
        # Qt lacks a decoder for some formats (e.g. WebP without the plugin): try OpenCV
        rgb = _cv2_read(path)
        if rgb is None:
            return QImage(), (0, 0)
        image, scale = rgb_to_qimage(rgb), 1.0
    full = (round(image.width() / scale), round(image.height() / scale))
    if max(image.width(), image.height()) > max_side:
        image = image.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image, full


def _cv2_read(path) -> np.ndarray | None:
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_video_frames(
    path: str | os.PathLike, indices, max_side: int = 1280
) -> tuple[dict[int, QImage], tuple[int, int]]:
    """Decode the frames ``indices`` of a video for display (seeking when far ahead,
    grabbing when near), scaled to at most ``max_side``. Returns ``{index: image}`` (frames
    that cannot be read are left out) and the video's full frame size ``(w, h)``."""
    wanted = sorted({int(i) for i in indices if i is not None and int(i) >= 0})
    out: dict[int, QImage] = {}
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return out, (0, 0)
        full = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        pos = 0
        for idx in wanted:
            if idx < pos or idx - pos > 48:
                cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
                pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
            while pos < idx:
                if not cap.grab():
                    break
                pos += 1
            ok, bgr = cap.read()
            pos += 1
            if not ok or bgr is None:
                continue
            h, w = bgr.shape[:2]
            if full[0] <= 0 or full[1] <= 0:
                full = (w, h)
            s = min(1.0, max_side / max(h, w))
            if s < 1.0:
                bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            out[idx] = rgb_to_qimage(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return out, full


def read_video_frame(path: Path, index: int) -> tuple[QImage, tuple[int, int]]:
    """One frame for display; frame 0 when ``index`` lies past the real end (some
    containers report a wrong length)."""
    frames, full = read_video_frames(path, [index])
    img = frames.get(index)
    if img is None:
        frames, full = read_video_frames(path, [0])
        img = frames.get(0, QImage())
    return img, full
