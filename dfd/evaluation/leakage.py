"""Data-leakage guard.

Everything that is *fit* (ensembles, calibrators) records the dataset row ids it was fit on
in ``fitted_indices_``; evaluation code calls :func:`assert_no_leakage` with the test row
ids before reporting a single number. The index helpers here check those ids and carry
them through ``to_dict`` / ``from_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dfd.errors import DfdError


class LeakageError(DfdError):
    """Something was fit on rows that are also used for testing."""


def check_indices(indices, n: int) -> np.ndarray | None:
    if indices is None:
        return None
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.shape[0] != n:
        raise ValueError(f"indices must be 1-D with one id per row ({n}), got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise ValueError("indices must be integer dataset row ids")
    return idx.astype(np.int64)


def indices_to_json(idx: np.ndarray | None) -> list[int] | None:
    return None if idx is None else idx.tolist()


def indices_from_json(obj) -> np.ndarray | None:
    return None if obj is None else np.asarray(obj, dtype=np.int64).reshape(-1)


def assert_no_leakage(test_indices, *fitted) -> None:
    """Raise :class:`LeakageError` unless no object in ``fitted`` (ensembles, calibrators,
    ``(ensemble, calibrator)`` pairs, the dict from :func:`fit_ensembles`, a loaded
    :class:`EnsembleBundle`) was fit on any
    of ``test_indices``. Objects fit without ``indices`` cannot be checked and also raise."""
    # bundle.py imports this module (for the index helpers), so import it at call time
    from dfd.evaluation.bundle import EnsembleBundle

    test = np.asarray(test_indices, dtype=np.int64).reshape(-1)
    stack = list(fitted)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Mapping):
            stack.extend(obj.values())
            continue
        if isinstance(obj, tuple | list):
            stack.extend(obj)
            continue
        if isinstance(obj, EnsembleBundle):
            stack.extend([obj.ensemble, obj.calibrator, *obj.member_calibrators.values()])
            stack.extend(part for _kind, *pair in obj.subset_ensembles.values() for part in pair)
            continue
        idx = getattr(obj, "fitted_indices_", None)
        if idx is None:
            raise LeakageError(f"{type(obj).__name__} was fit without row indices; cannot rule out leakage")
        overlap = np.intersect1d(idx, test)
        if overlap.size:
            raise LeakageError(
                f"{type(obj).__name__} was fit on {overlap.size} test row(s), e.g. {overlap[:5].tolist()}"
            )
