"""Where a dataset's source files are: the folder a user downloaded, or the embedded
dfd-default dataset, built on demand (a small subset in smoke mode)."""

from __future__ import annotations

import os
from pathlib import Path

from dfd.paths import cache_dir, data_dir


def is_smoke(value) -> bool:
    """Notebook parameter or ``DFD_SMOKE`` environment variable (nbval sets it)."""
    if isinstance(value, str):
        value = value.strip().lower() in ("1", "true", "yes")
    return bool(value) or os.environ.get("DFD_SMOKE", "0") == "1"


def resolve_data_root(dataset: str, data_root: str | os.PathLike | None, smoke: bool = False, seed: int = 0) -> Path:
    """Where a dataset's source files are. For dfd-default an empty root means the embedded
    dataset, which is built here if missing (a small one in smoke mode)."""
    if data_root:
        return Path(data_root)
    if dataset != "dfd-default":
        raise ValueError(f"dataset {dataset!r} needs data_root (the folder you downloaded)")
    from dfd.data.default_dataset import BuildParams, build_default_dataset  # imports the face stage: load on use

    out = data_dir("dfd-default") / "source"
    build_default_dataset(out, cache_dir(), BuildParams(seed=seed, limit=60 if smoke else None), progress=False)
    return out
