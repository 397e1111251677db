"""Container sensitivity: how far a score moves when the same face is only re-saved — as JPEG
or WebP at quality 90, as a forwarded or downloaded file is. A detector that reads forgery
should barely move (target: median |delta p_fake| <= 0.03); one that learnt its data's file
processing moves a lot."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from dfd.evaluation.scoring import named_scores

# name -> (extension, OpenCV quality flag, quality)
RESAVES: dict[str, tuple[str, int, int]] = {
    "jpeg_q90": (".jpg", cv2.IMWRITE_JPEG_QUALITY, 90),
    "webp_q90": (".webp", cv2.IMWRITE_WEBP_QUALITY, 90),
}
TARGET = 0.03  # median |delta p_fake| a re-save may move a score


def resave(img: np.ndarray, name: str) -> np.ndarray:
    """``img`` (RGB uint8) written as :data:`RESAVES` ``name`` and read back."""
    ext, flag, quality = RESAVES[name]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [flag, quality])
    if not ok:
        raise RuntimeError(f"OpenCV cannot write {ext} here")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def container_sensitivity(models: dict, images: np.ndarray, combine=None) -> pd.DataFrame:
    """Per model (and the ensemble ``combine(P) -> p``, or each of a mapping of them) and
    re-save: the median, 90th percentile and largest |delta p_fake| between each image as
    given and re-saved, and the share of images moved by more than :data:`TARGET`."""
    base = named_scores(models, images, combine)
    rows = []
    for name in RESAVES:
        moved = named_scores(models, np.stack([resave(im, name) for im in images]), combine)
        for model, p in moved.items():
            d = np.abs(p - base[model])
            rows.append({"resave": name, "model": model, "median_abs_delta": float(np.median(d)),
                         "p90_abs_delta": float(np.quantile(d, 0.9)), "max_abs_delta": float(d.max()),
                         "share_over_target": float((d > TARGET).mean()), "n": int(len(d))})
    return pd.DataFrame(rows)
