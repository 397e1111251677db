"""Pixels for display: decoding images and single video frames, numpy <-> QImage, heatmap
blending, PNG data URIs. Display only - every verdict comes from :mod:`dfd.inference`.

All functions are safe to call from worker threads (QImage, not QPixmap)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeDatabase, QSize, Qt
from PySide6.QtGui import QImage, QImageReader

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


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep-copied QImage of an ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey) array."""
    arr = np.ascontiguousarray(rgb)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        h, w = arr.shape
        return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8).copy()
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(arr.data, w, h, arr.strides[0], fmt).copy()


def qimage_to_rgb(image: QImage) -> np.ndarray:
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


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


def video_size(path: str | os.PathLike) -> tuple[int, int] | None:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return (w, h) if w > 0 and h > 0 else None
    finally:
        cap.release()


def heatmap_rgb(heatmap: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A [0, 1] heatmap as an RGB ``uint8`` "jet" image, optionally resized to (w, h)."""
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    h = np.clip(h, 0.0, 1.0)
    if size is not None and (h.shape[1], h.shape[0]) != tuple(size):
        h = cv2.resize(h, tuple(int(v) for v in size), interpolation=cv2.INTER_LINEAR)
    bgr = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def blend_heatmap(crop_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``crop_rgb`` with the heatmap blended over it; the blend is weighted by the heat so
    cold regions keep the face visible."""
    crop = np.asarray(crop_rgb, dtype=np.float32)
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    if heat.shape[:2] != crop.shape[:2]:
        heat = cv2.resize(heat, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = heatmap_rgb(heat).astype(np.float32)
    w = (alpha * (0.35 + 0.65 * heat))[..., None]
    return np.clip(crop * (1.0 - w) + colour * w, 0, 255).astype(np.uint8)


def heatmap_rgba(heatmap: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The heatmap as RGBA with transparency following the heat (to paint over a box)."""
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    rgb = heatmap_rgb(heat)
    a = (255 * alpha * np.clip(heat * 1.4, 0.0, 1.0)).astype(np.uint8)
    return np.dstack([rgb, a])


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def png_data_uri(image: QImage | np.ndarray) -> str:
    """``data:image/png;base64,...`` of a QImage or RGB array (self-contained reports)."""
    if isinstance(image, np.ndarray):
        image = rgb_to_qimage(image)
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def jpeg_data_uri(image: QImage, quality: int = 85) -> str:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "JPEG", quality)
    buf.close()
    return "data:image/jpeg;base64," + base64.b64encode(bytes(data.data())).decode("ascii")


def display_name(path: str | os.PathLike) -> str:
    return Path(path).name or str(path)
