"""numpy <-> QImage conversions and PNG data URIs (for self-contained reports).

Safe to call from worker threads (QImage, never QPixmap)."""

from __future__ import annotations

import base64

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep-copied QImage of an ``(H, W, 3)`` uint8 RGB (``(H, W, 4)`` RGBA, or ``(H, W)``
    grey) array."""
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
    """An ``(H, W, 3)`` uint8 RGB copy of ``image``."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


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
