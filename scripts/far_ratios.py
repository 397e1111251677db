#!/usr/bin/env python
"""How far the files of a labelled folder lie from a bundle's training data, against the
threshold of its "far out of domain" rule.

For each file the engine analyses (``Detector.analyze``, as the app and ``dfd scan`` do): the
worst ratio (largest over the members of distance / threshold) of the deciding face of a photo,
or the median over the faces of a video's deciding track. Prints per source and label the
smallest and median worst ratio and the share over each threshold given (the bundle's
``ood_worst_ratio`` always among them), so a new threshold can be checked to keep foreign files
flagged; ``--json`` also writes the per-file rows.

    python scripts/far_ratios.py ../shared/datasets/crossdomain_dev --models models/faces140k [--thresholds 1.5 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def worst_ratio(res, kind: str) -> float | None:
    """The deciding face's worst distance ratio (photo) or the median over the deciding track's faces (video)."""
    if not res.faces or res.decided_by is None:
        return None
    faces = [res.faces[res.decided_by]] if kind == "image" else (
        [f for f in res.faces if f.track_id == res.decided_by] or res.faces)
    ratios = [max(o["distance"] / o["threshold"] for o in f.ood.values()) for f in faces if f.ood]
    return float(np.median(ratios)) if ratios else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a labelled folder with a manifest.csv (path,kind,label,source)")
    ap.add_argument("--models", type=Path, default=Path("models/dfd-default"))
    ap.add_argument("--thresholds", type=float, nargs="*", default=[])
    ap.add_argument("--json", type=Path, default=None, help="also write the per-file rows here")
    args = ap.parse_args(argv)

    from dfd.inference import Detector

    det = Detector.from_dir(args.models)
    if det.bundle.ood_worst_ratio is None:
        print(f"{args.models}: the bundle has no far-out rule")
        return 1
    rows = []
    for r in csv.DictReader(open(args.folder / "manifest.csv", newline="")):
        w = worst_ratio(det.analyze(args.folder / r["path"]), r["kind"])
        if w is not None:
            rows.append({"path": r["path"], "kind": r["kind"], "label": r["label"], "source": r["source"], "worst": w})
    thresholds = sorted({float(det.bundle.ood_worst_ratio), *args.thresholds})
    groups = defaultdict(list)
    for row in rows:
        groups[(row["kind"], row["source"], row["label"])].append(row["worst"])
    print(f"{args.models}: {len(rows)} files with a deciding face; bundle threshold {det.bundle.ood_worst_ratio:.3f}")
    print("| kind | source | label | n | smallest | median | " + " | ".join(f"> {t:.3f}" for t in thresholds) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(thresholds))
    for (kind, source, label), w in sorted(groups.items()):
        w = np.asarray(w)
        print(f"| {kind} | {source} | {label} | {len(w)} | {w.min():.2f} | {np.median(w):.2f} | "
              + " | ".join(f"{np.mean(w > t):.2f}" for t in thresholds) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
