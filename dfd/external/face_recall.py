"""Face recall of the engine: of the files (and video frames) that show a face, how many
get a usable one — per source, with a 95% interval.

Two measurements, both with the engine's own face stage (:class:`dfd.faces.FaceDetector`
with the engine's settings, faces kept by :func:`dfd.inference.deciding.scored_faces`):

* a labelled folder already evaluated (``make evaluate-external``): from its cached results,
  images with a scored face, videos with a verdict other than ``no_face`` and the sampled
  frames with a scored face (every file of these sets shows a person);
* a prepared dataset's split (default: test): its source photos run through the detector.

``python -m dfd.external.face_recall --dataset dfd-default [--external FOLDER --name NAME]``
writes ``reports/<dataset>/face_recall.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from dfd.external.labels import collect_labels
from dfd.external.runner import CACHE_FILE, read_cache


def wilson_interval(found: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of the share ``found / total`` (well behaved near 0 and 1)."""
    from scipy.stats import binomtest

    if total <= 0:
        return (float("nan"), float("nan"))
    ci = binomtest(int(found), int(total)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _row(set_name: str, source: str, unit: str, found: int, expected: int) -> dict:
    lo, hi = wilson_interval(found, expected)
    return {"set": set_name, "source": source, "unit": unit, "found": int(found), "expected": int(expected),
            "recall": found / expected if expected else float("nan"), "ci_low": lo, "ci_high": hi}


def recall_from_external(folder, cache_dir, frames: int = 32) -> pd.DataFrame:
    """Recall per source from an external evaluation's cache (files not yet analysed are
    left out; ``expected`` counts the analysed ones)."""
    labelled = collect_labels(folder)
    cached = read_cache(Path(cache_dir) / CACHE_FILE)
    rows = []
    for (kind, source), part in labelled.files.groupby(["kind", "source"], sort=True):
        results = [cached.get(Path(os.path.relpath(p, labelled.root)).as_posix(), {}).get("result")
                   for p in part.path]
        results = [r for r in results if r is not None and r.get("verdict") != "error"]
        if not results:
            continue
        found = sum(1 for r in results if r["verdict"] != "no_face")
        rows.append(_row(labelled.name, source, f"{kind}s", found, len(results)))
        if kind == "video":
            scored = sum(int(r.get("n_frames_scored") or 0) for r in results)
            rows.append(_row(labelled.name, source, "video frames", scored, frames * len(results)))
    return pd.DataFrame(rows)


def recall_of_photos(paths, detector=None) -> np.ndarray:
    """Whether each photo gets a scored face from the engine's detector."""
    from dfd.faces import INFERENCE, FaceDetector
    from dfd.inference.deciding import scored_faces
    from dfd.io.images import load_image

    detector = detector or FaceDetector(INFERENCE)
    return np.array([bool(scored_faces(detector.detect(load_image(p)))) for p in paths])


def recall_of_split(dataset: str, split: str = "test", detector=None) -> pd.DataFrame:
    """Recall per source on the source photos of a prepared dataset's split (video frames
    and generated fakes included as the manifest lists them: one row per source file)."""
    from dfd.data.prepare import load_manifest
    from dfd.paths import data_dir

    manifest = load_manifest(data_dir(dataset) / "manifest.csv")
    rows = manifest[(manifest.split == split) & (manifest.frame.astype(int) == -1)]
    rows = rows.drop_duplicates("source_path")
    found = recall_of_photos(rows.source_path.tolist(), detector)
    out = []
    for source, idx in rows.groupby("source", sort=True).indices.items():
        out.append(_row(f"{dataset} {split}", source, "photos", int(found[idx].sum()), len(idx)))
    out.append(_row(f"{dataset} {split}", "all", "photos", int(found.sum()), len(found)))
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| set | source | unit | found / expected | recall [95% CI] |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.set} | {r.source} | {r.unit} | {r.found} / {r.expected} | "
                     f"{r.recall:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}] |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Face recall of the engine per source.")
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--split", default="test")
    ap.add_argument("--external", default=None, help="a labelled folder already run by make evaluate-external")
    ap.add_argument("--name", default=None, help="its external report name (default: the folder's name)")
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args(argv)
    from dfd.external.evaluate import external_dir
    from dfd.external.report import write_table
    from dfd.inference import quiet_tensorflow_logs
    from dfd.paths import reports_dir

    quiet_tensorflow_logs()
    tables = [recall_of_split(args.dataset, args.split)]
    if args.external:
        name = args.name or Path(args.external).name
        tables.append(recall_from_external(args.external, external_dir(args.dataset, name), args.frames))
    table = pd.concat(tables, ignore_index=True)
    write_table(table, reports_dir(args.dataset), "face_recall", markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
