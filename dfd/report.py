"""What the notebooks write to ``reports/<dataset>/``: figures, ``metrics.json`` (every number a
report shows, machine-readable) and small helpers shared by the numbered notebooks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .paths import data_dir, reports_dir


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
    from .data.default_dataset import BuildParams, build_default_dataset
    from .paths import cache_dir

    out = data_dir("dfd-default") / "source"
    build_default_dataset(out, cache_dir(), BuildParams(seed=seed, limit=60 if smoke else None), progress=False)
    return out


def figure_path(dataset: str, name: str) -> Path:
    path = reports_dir(dataset) / "figures" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, dataset: str, name: str) -> Path:
    path = figure_path(dataset, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def update_metrics(dataset: str, section: str, payload: dict) -> Path:
    """Merge ``payload`` under ``section`` in ``reports/<dataset>/metrics.json``."""
    path = reports_dir(dataset) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = _jsonable(payload)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def read_metrics(dataset: str) -> dict:
    path = reports_dir(dataset) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def crop_grid(manifest, n_per_class: int = 8, seed: int = 0, title: str = ""):
    """A figure with a row of real and rows of fake crops (one row per manipulation method)."""
    import matplotlib.pyplot as plt

    from .imaging import load_image

    rng = np.random.default_rng(seed)
    rows = [("real", manifest[manifest.label == 0])]
    rows += [(m, manifest[(manifest.label == 1) & (manifest.method == m)]) for m in sorted(manifest[manifest.label == 1].method.unique())]
    rows = [(name, df) for name, df in rows if len(df)]
    fig, axes = plt.subplots(len(rows), n_per_class, figsize=(1.6 * n_per_class, 1.75 * len(rows)), squeeze=False)
    for r, (name, df) in enumerate(rows):
        picks = df.iloc[rng.choice(len(df), size=min(n_per_class, len(df)), replace=False)]
        for c in range(n_per_class):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(picks):
                ax.imshow(load_image(picks.iloc[c].path))
            if c == 0:
                ax.set_title(name, loc="left", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
