"""A photo saved at a JPEG quality a bundle's verdicts were found not to hold on: its quality,
read from the pixels, against the qualities at which the validation faces' verdicts broke down.

On the dfd-default test photos re-saved as whole files at JPEG quality 50, the engine decides
41% of them at accuracy 0.75 and calls 8 of the 58 real photos fake (docs/experiments.md,
session 22): the members' out-of-domain scorers and the sharpness check (block edges add fine
detail) do not notice. The file itself says how hard it was compressed:

* :func:`jpeg_quality` estimates the IJG quality (the scale libjpeg, OpenCV and PIL use) of
  the coarsest JPEG compression whose 8x8 grid, anchored at the image's top-left corner, its
  luminance still shows: a decoded JPEG's block DCT coefficients lie near multiples of the
  quantisation steps. It reads any container (a PNG of a JPEG too) and gives 100 where no
  grid is left (never compressed, or resized or cropped off the grid since; blocks clipped at
  black or white are left out). After a re-save it reads the grid that still fits: a much
  milder re-save keeps the first one's (75 then 95 reads 74), a near one replaces it (75
  then 80 reads 80);
* :class:`CompressionCheck` keeps the quality levels at which the bundle's verdicts on
  JPEG-compressed copies of the validation faces were credibly less accurate than the band
  promises (the Wilson interval's upper end under the target; :func:`fit_compression_check`);
  a photo whose estimated quality lies nearest such a level is "uncertain" — unless it lies
  within the range of the validation photos' own qualities (faces140k's were all saved at 75):
  photos processed as those were are what the band was set on. No such level: the check stays
  inactive and changes no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

# the qualities the validation copies are compressed at, mildest first
JPEG_LEVELS = (90, 80, 70, 60, 50, 40, 30)
ESTIMATE_TOLERANCE = 2  # jpeg_quality reads a file up to ~2 off the quality it was saved at
NO_TRACE = 100.0  # what jpeg_quality gives where it sees no JPEG grid
COMPRESSION_REASON = "saved at a JPEG quality these models' verdicts do not hold on"

# the IJG (JPEG standard, Annex K) luminance quantisation table
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64).reshape(8, 8)
_k = np.arange(8)
_DCT = np.sqrt(2 / 8) * np.cos(np.pi * (2 * _k[None, :] + 1) * _k[:, None] / 16)  # orthonormal DCT-II
_DCT[0] /= np.sqrt(2)
_DCT = _DCT.astype(np.float32)
# the low-frequency AC coefficients read: the ones most blocks carry, whatever the content
_U, _V = np.nonzero((_k[:, None] + _k[None, :] > 0) & (_k[:, None] + _k[None, :] <= 4))
_QUALITIES = np.arange(10, 97)  # above 96 most of these steps are 1: nothing to see
_MIN_COEFFICIENTS = 30  # fewer non-zero coefficients than this at a step: no evidence
_PERIODICITY = 0.5  # mean cos(2 pi c / step) of a grid's coefficients; ~0 without one
MAX_BLOCKS = 1024  # blocks read per image, evenly spread (speed on large photos)


def _steps(quality: int, turned: bool = False) -> np.ndarray:
    """The IJG luminance steps at ``quality`` for the coefficients read; ``turned``: for a photo
    turned by 90 degrees after saving (EXIF orientation applied on decoding), whose blocks'
    coefficients are transposed — the IJG table is not symmetric."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    table = np.clip(np.floor((_IJG_LUMA * scale + 50.0) / 100.0), 1, 255)
    return table[_V, _U] if turned else table[_U, _V]


_STEPS = np.stack([_steps(int(q)) for q in _QUALITIES])
_STEPS_TURNED = np.stack([_steps(int(q), turned=True) for q in _QUALITIES])


def _block_coefficients(image: np.ndarray, max_blocks: int) -> np.ndarray:
    """``(blocks, coefficients)``: the read DCT coefficients of the luminance's 8x8 blocks on the
    grid anchored at the top-left corner (at most ``max_blocks`` blocks, evenly spread), leaving
    out blocks with a clipped pixel (a channel at 0 or 255: decoding clipped it off the grid)."""
    rows, cols = image.shape[0] // 8, image.shape[1] // 8

    def blocks_of(plane: np.ndarray) -> np.ndarray:
        extra = plane.shape[2:]
        b = plane[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8, *extra)[::stride, :, ::stride]
        return b.transpose(0, 2, 1, 3, *range(4, b.ndim)).reshape(-1, 8, 8, *extra)

    stride = max(1, int(np.ceil(np.sqrt(rows * cols / max_blocks))))
    clipped = blocks_of(image).reshape(-1, 64 * image.shape[2])
    kept = ~((clipped == 0) | (clipped == 255)).any(axis=1)
    y = blocks_of(cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 0])[kept].astype(np.float32) - 128.0
    return (_DCT @ y @ _DCT.T)[:, _U, _V]


def _periodicity(c: np.ndarray, steps: np.ndarray) -> float | None:
    """Mean cos(2 pi c / step) over the coefficients at least half a step from zero (None with
    fewer than :data:`_MIN_COEFFICIENTS` of them): ~1 on a grid of these steps, ~0 off it."""
    evidence = (np.abs(c) >= steps / 2) & (steps > 1)
    if evidence.sum() < _MIN_COEFFICIENTS:
        return None
    return float(np.mean(np.cos((2 * np.pi) * (c / steps)[evidence])))


def jpeg_quality(image, max_blocks: int = MAX_BLOCKS) -> float:
    """The IJG quality (10-96) of the coarsest JPEG compression whose grid ``image`` (uint8 RGB,
    ``(h, w, 3)``) still shows, or :data:`NO_TRACE` (100) where it shows none.

    From the coarsest steps up (every third quality, then each one near the first hit), the
    first quality whose non-zero coefficients lie near multiples of its steps (periodicity above
    0.5, at least 30 coefficients; the table as saved or transposed, for a photo turned by 90
    degrees since) marks the grid; the steps of milder qualities divide a coarse
    grid's too, so the coarsest one is the one applied, and of the qualities near it the one
    whose steps fit best is the answer (within about 2 of the true quality). Files of non-IJG
    tables (some cameras) read at the nearest IJG quality or not at all."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(f"expected an RGB image of at least 8x8 pixels, got shape {arr.shape}")
    c = _block_coefficients(np.clip(arr, 0, 255).astype(np.uint8), max_blocks)
    for i in range(0, len(_QUALITIES), 3):
        hits = [t for t in (_STEPS, _STEPS_TURNED) if (_periodicity(c, t[i]) or 0.0) > _PERIODICITY]
        if hits:
            near = range(max(0, i - 3), min(len(_QUALITIES), i + 10))
            scores = {j: max(_periodicity(c, t[j]) or -1.0 for t in hits) for j in near}
            return float(_QUALITIES[max(near, key=lambda j: scores[j])])
    return NO_TRACE


def jpeg_qualities(images) -> np.ndarray:
    """:func:`jpeg_quality` of each image of ``(n, h, w, 3)``."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    return np.array([jpeg_quality(im) for im in arr], dtype=np.float64)


class CompressionCheck:
    """Flags an image whose :func:`jpeg_quality` is nearest one of ``failing_levels_`` (ties go
    to the harder compression) and outside ``reference_range_`` widened by
    :data:`ESTIMATE_TOLERANCE`; an image without a JPEG grid (:data:`NO_TRACE`) never.

    ``failing_levels_``: the quality levels at which the bundle's decided verdicts on compressed
    validation copies were credibly under the target accuracy (empty: the check is inactive);
    ``reference_range_``: the split-conformal 1% tails (lower, upper) of the validation files'
    own estimated qualities (None where unknown): photos processed as those were are what the
    band was set on. ``level_accuracy_``: level -> that measurement
    (``dfd.metrics.accuracy_interval`` of the decided copies)."""

    def fit(self, level_accuracy: Mapping, target: float, reference_qualities=None) -> CompressionCheck:
        """``level_accuracy``: quality level -> accuracy interval (``value``, ``ci_low``,
        ``ci_high``, ``n``; ``n`` = 0 when none was decided) of the decided copies at it;
        ``reference_qualities``: :func:`jpeg_quality` of the validation files (None: unknown)."""
        from dfd.evaluation.ood import conformal_quantile

        if not level_accuracy:
            raise ValueError("level_accuracy needs at least one quality level")
        ref = np.asarray([] if reference_qualities is None else reference_qualities, dtype=np.float64)
        self.reference_range_ = ((float(-conformal_quantile(-ref, 0.99)), float(conformal_quantile(ref, 0.99)))
                                 if ref.size else None)
        self.n_reference_ = int(ref.size)
        self.target_ = float(target)
        self.level_accuracy_ = {int(q): {k: a.get(k) for k in ("correct", "value", "ci_low", "ci_high", "n")}
                                for q, a in sorted(level_accuracy.items(), reverse=True)}
        self.failing_levels_ = sorted(q for q, a in self.level_accuracy_.items()
                                      if a.get("n") and a["ci_high"] < self.target_)
        return self

    @property
    def active_(self) -> bool:
        self._check_fitted()
        return bool(self.failing_levels_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "level_accuracy_"):
            raise ValueError("this CompressionCheck is not fitted yet: call fit(level_accuracy, target)")

    def nearest_level(self, quality) -> np.ndarray:
        """The measured level nearest each estimated quality (a tie: the lower, harder one)."""
        self._check_fitted()
        levels = np.array(sorted(self.level_accuracy_), dtype=np.float64)
        q = np.asarray(quality, dtype=np.float64)
        return levels[np.argmin(np.abs(q[..., None] - levels) + 1e-9 * levels, axis=-1)].astype(int)

    def is_flagged(self, quality) -> np.ndarray:
        """True for each estimated quality nearest a failing level and outside the reference
        range (within :data:`ESTIMATE_TOLERANCE`); never for :data:`NO_TRACE`."""
        self._check_fitted()
        q = np.asarray(quality, dtype=np.float64)
        flagged = np.isin(self.nearest_level(q), self.failing_levels_) & (q < NO_TRACE)
        if self.reference_range_ is not None:
            lo, hi = self.reference_range_
            flagged &= (q < lo - ESTIMATE_TOLERANCE) | (q > hi + ESTIMATE_TOLERANCE)
        return flagged

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "jpeg_compression", "target": self.target_, "failing_levels": list(self.failing_levels_),
                "reference_range": None if self.reference_range_ is None else list(self.reference_range_),
                "n_reference": self.n_reference_,
                "level_accuracy": {str(q): a for q, a in self.level_accuracy_.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> CompressionCheck:
        if d.get("kind") != "jpeg_compression":
            raise ValueError(f"not a compression check: kind {d.get('kind')!r}")
        self = cls().fit({int(q): a for q, a in d["level_accuracy"].items()}, d["target"])
        if self.failing_levels_ != list(d.get("failing_levels") or []):
            raise ValueError("compression check: failing_levels do not follow from its level accuracies")
        ref = d.get("reference_range")
        self.reference_range_ = None if ref is None else (float(ref[0]), float(ref[1]))
        self.n_reference_ = int(d["n_reference"])
        return self


def compressed(images, quality: int) -> np.ndarray:
    """Every crop of ``images`` saved as a JPEG at ``quality`` and decoded."""
    from dfd.evaluation.corruptions import corrupt

    return corrupt(np.asarray(images), "jpeg_quality", int(quality))


def file_qualities(paths) -> np.ndarray:
    """:func:`jpeg_quality` of each readable photo among ``paths`` (a dataset's source files;
    the ones missing or unreadable are left out)."""
    from dfd.errors import DfdError
    from dfd.io.images import load_image

    out = []
    for path in paths:
        try:
            out.append(jpeg_quality(load_image(path)))
        except (DfdError, OSError, ValueError):
            continue
    return np.asarray(out, dtype=np.float64)


def fit_compression_check(bundle, models: Mapping, valid_images, y_valid, target: float,
                          levels: Sequence[int] = JPEG_LEVELS, valid_files=()) -> CompressionCheck:
    """The check for ``bundle`` (an :class:`~dfd.evaluation.bundle.EnsembleBundle` whose band,
    out-of-domain rules and sharpness check are set): its verdicts
    (:meth:`~dfd.evaluation.bundle.EnsembleBundle.face_verdicts`, without this check) on the
    validation crops compressed at each of ``levels``, the decided ones' accuracy per level;
    ``valid_files``: the validation photos the crops came from (their own JPEG quality is the
    reference). ``models``: name -> (model, input size), as
    :func:`dfd.evaluation.scoring.load_members` gives."""
    import dataclasses

    from dfd.evaluation.scoring import scores_and_features
    from dfd.metrics import accuracy_interval

    without_check = dataclasses.replace(bundle, compression=None)
    y = np.asarray(y_valid, dtype=np.int64)
    measured = {}
    for q in levels:
        x = compressed(valid_images, q)
        p, verdicts = without_check.face_verdicts(*scores_and_features(models, x), bundle.fine_detail(x))
        decided = np.asarray(verdicts) != "uncertain"
        measured[int(q)] = accuracy_interval(y[decided], np.asarray(p)[decided], bundle.threshold)
    return CompressionCheck().fit(measured, target, file_qualities(valid_files))


# the qualities the report shows verdicts at (issue 19's JPEG 50 among them)
REPORTED_QUALITIES = (70, 50, 30)


def compressed_verdicts(bundle, models: Mapping, images, y):
    """What the engine decides on ``images`` (test crops) as given and compressed at
    :data:`REPORTED_QUALITIES`, with the bundle's compression check and without it
    (:func:`dfd.evaluation.check_verdicts.verdicts_with_and_without`; column ``flagged``)."""
    from dfd.evaluation.check_verdicts import verdicts_with_and_without

    inputs = [("clean", images)] + [(f"JPEG {q}", compressed(images, q)) for q in REPORTED_QUALITIES]
    return verdicts_with_and_without(bundle, models, inputs, y, "compression", "flagged",
                                     lambda check, _detail, quality: check.is_flagged(quality))
