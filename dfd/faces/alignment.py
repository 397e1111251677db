"""Which face, and how it is cut out: the main face of an image, and the similarity warp that
puts its five landmarks on the ArcFace template (with a margin of context around it)."""

from __future__ import annotations

import cv2
import numpy as np

from dfd.errors import BadInputError
from dfd.faces.types import Face

# ArcFace's 112x112 five-point template, normalised to the unit square.
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE_UNIT = _TEMPLATE_112 / 112.0


def choose_main_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The face a person would call "the" face: large, confident and near the centre."""
    if not faces:
        return None
    h, w = image_shape[:2]
    diag = float(np.hypot(w, h))

    def weight(f: Face) -> float:
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        off_centre = np.hypot(cx - w / 2, cy - h / 2) / diag
        return f.area * f.score * (1.0 - 0.5 * off_centre)

    return max(faces, key=weight)


def template_points(size: int, margin: float) -> np.ndarray:
    """Where the five landmarks land in a ``size`` crop; ``margin`` adds context around the
    tight ArcFace framing (0.3 → the tight box covers 1/1.3 of the crop)."""
    scale = 1.0 / (1.0 + margin)
    return ((TEMPLATE_UNIT - 0.5) * scale + 0.5) * size


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float) -> np.ndarray:
    """2x3 similarity transform taking image landmarks to the crop template."""
    dst = template_points(size, margin)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64), dst, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on a line): fall back to the eye pair only
        matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64)[:3], dst[:3])
    if matrix is None:
        raise BadInputError("face landmarks are degenerate; cannot align")
    return matrix


def _shrunk_for(rgb: np.ndarray, dw: int, dh: int, matrix: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` area-shrunk to ``dw`` x ``dh``, or, when the ``size`` px crop that ``matrix``
    takes from it stays clear of its right and bottom edges, only its top-left part the
    crop reads: shrunk at the same scale with the grid anchored at (0, 0), those pixels are
    the full shrink's bit for bit (a small face in a video frame: a fraction of the work)."""
    h, w = rgb.shape[:2]
    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
    # past the left / top edge the warp reads the mirrored pixels: the part must hold those too
    need_x = int(np.ceil(max(corners[:, 0].max(), -corners[:, 0].min()))) + 3
    need_y = int(np.ceil(max(corners[:, 1].max(), -corners[:, 1].min()))) + 3
    fx, fy = dw / w, dh / h
    part_w, part_h = int(np.ceil((need_x + 3) / fx)), int(np.ceil((need_y + 3) / fy))
    if part_w >= w - 2 or part_h >= h - 2:
        return cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_AREA)
    part = cv2.resize(rgb[:part_h, :part_w], (0, 0), fx=fx, fy=fy, interpolation=cv2.INTER_AREA)
    if part.shape[1] < need_x + 2 or part.shape[0] < need_y + 2:  # never expected; stay exact
        return cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_AREA)
    return part


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = 128, margin: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Crop and align a face. Returns ``(crop, matrix)`` where ``matrix`` maps image → crop.

    When the crop shrinks the face a lot, the image is first reduced with area
    interpolation so the warp does not alias."""
    matrix = alignment_matrix(landmarks, size, margin)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    src = rgb
    pre = 1.0
    if scale < 0.5:
        pre = scale * 1.5
        h, w = rgb.shape[:2]
        dw, dh = max(1, round(w * pre)), max(1, round(h * pre))
        matrix = alignment_matrix(np.asarray(landmarks) * pre, size, margin)
        src = _shrunk_for(rgb, dw, dh, matrix, size)
    crop = cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if pre != 1.0:  # report the matrix relative to the original image
        matrix = matrix @ np.array([[pre, 0, 0], [0, pre, 0], [0, 0, 1]], dtype=np.float64)
    return crop, matrix


def align_roi(rgb: np.ndarray, landmarks, size: int, margin: float = 0.3) -> np.ndarray:
    """:func:`align_face`'s crop, made from the part of a (large) frame the crop covers: the
    same crop, without resampling the whole frame when the face is small in it (video)."""
    lm = np.asarray(landmarks, np.float64)
    h, w = rgb.shape[:2]
    try:
        inv = cv2.invertAffineTransform(alignment_matrix(lm, size, margin))
    except Exception:  # noqa: BLE001 — degenerate landmarks: let align_face raise its own error
        return align_face(rgb, lm, size, margin)[0]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
    pad = 0.1 * float(np.ptp(corners[:, 0]) + 2)
    x0, y0 = (max(0, int(np.floor(v - pad))) for v in corners.min(0))
    x1, y1 = int(np.ceil(min(w, corners[:, 0].max() + pad))), int(np.ceil(min(h, corners[:, 1].max() + pad)))
    if x1 - x0 < 4 or y1 - y0 < 4 or (x0 == 0 and y0 == 0 and x1 == w and y1 == h):
        return align_face(rgb, lm, size, margin)[0]
    return align_face(rgb[y0:y1, x0:x1], lm - [x0, y0], size, margin)[0]


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]
