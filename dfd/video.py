"""Video reading and frame sampling (OpenCV)."""

from __future__ import annotations

import os

import cv2
import numpy as np

from .errors import BadInputError
from .imaging import check_regular_file


def sample_indices(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``n_total`` frames (all of them if fewer)."""
    if n_total <= 0 or n <= 0:
        return []
    if n >= n_total:
        return list(range(n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def sample_frames(path: str | os.PathLike, n: int) -> list[tuple[int, np.ndarray]]:
    """Decode ``n`` evenly spaced frames as RGB arrays: ``[(index, rgb), ...]``."""
    check_regular_file(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadInputError("not a readable video (unknown container or codec)", str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        wanted = set(sample_indices(total, n)) if total > 0 else None
        out, index = [], 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if wanted is None or index in wanted:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    out.append((index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            index += 1
            if wanted is not None and index > max(wanted):
                break
        if wanted is None and out:  # unknown length: we decoded everything; keep n evenly
            keep = set(sample_indices(len(out), n))
            out = [fr for i, fr in enumerate(out) if i in keep]
        return out
    finally:
        cap.release()
