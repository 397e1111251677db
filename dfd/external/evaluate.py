"""The whole external evaluation in one call (what notebook 07 and ``make evaluate-external`` run)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dfd.external.figures import write_figures
from dfd.external.groups import group_rows
from dfd.external.labels import LabelledSet, collect_labels
from dfd.external.report import write_outputs
from dfd.external.runner import analyse
from dfd.paths import models_dir as default_models_dir
from dfd.paths import reports_dir


@dataclass
class ExternalReport:
    out_dir: Path
    labelled: LabelledSet
    table: pd.DataFrame  # one row per file: labels and results
    rows: list[dict]  # the metrics per kind and group (metrics.json "groups")
    summary: dict
    files: dict[str, Path]
    figures: list[Path]


def external_dir(dataset: str, name: str) -> Path:
    """``reports/<dataset>/external/<name>/``."""
    return reports_dir(dataset) / "external" / name


def evaluate_external(folder, models=None, dataset: str = "dfd-default", name: str | None = None,
                      out_dir=None, frames: int = 32, n_boot: int = 1000, seed: int = 0, limit: int = 0,
                      progress: bool = True, detector=None) -> ExternalReport:
    """Label ``folder`` (``real``/``fake`` folders or ``manifest.csv``), analyse every file
    with ``Detector.from_dir(models).analyze`` (``models``: default ``models/<dataset>``;
    or pass a ready ``detector``), resuming from the cache in the output folder, and write
    ``metrics.json``, ``results.md``, ``per_file.csv`` and ``figures/`` to ``out_dir``
    (default ``reports/<dataset>/external/<name>``, ``name`` the folder's name).
    ``limit`` > 0 keeps that many files per kind, label and source (quick runs)."""
    started = time.perf_counter()
    labelled = collect_labels(folder).limited(int(limit))
    name = name or labelled.name
    out_dir = Path(out_dir) if out_dir is not None else external_dir(dataset, name)
    models = Path(models) if models else default_models_dir(dataset)
    if detector is None:
        from dfd.inference import Detector

        detector = Detector.from_dir(models)
        detector.warmup()  # graph tracing would otherwise count as the first file's seconds
    table = analyse(labelled, detector, out_dir, frames=frames, progress=progress)
    bundle = detector.bundle
    threshold, band = float(bundle.threshold), tuple(float(b) for b in bundle.uncertain_band)
    rows = group_rows(table, threshold=threshold, n_boot=n_boot, seed=seed)
    summary = {
        "name": name, "folder": str(labelled.root), "origin": labelled.origin, "dataset": dataset,
        "models_dir": str(models), "models": list(detector.model_ids), "frames": int(frames),
        "threshold": threshold, "band": list(band), "n_boot": int(n_boot), "seed": int(seed), "limit": int(limit),
        "n_files": len(table), "missing": list(labelled.missing), "unlabelled": list(labelled.unlabelled),
        "analysed_now": int((~table["cached"]).sum()), "from_cache": int(table["cached"].sum()),
        "seconds_analysing": float(table["seconds"].sum()),
    }
    figures = write_figures(table, out_dir / "figures", threshold, band)
    summary["wall_seconds"] = time.perf_counter() - started
    files = write_outputs(out_dir, summary, rows, table)
    return ExternalReport(out_dir, labelled, table, rows, summary, files, figures)
