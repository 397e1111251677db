#!/usr/bin/env python
"""What the engine decides on a dataset's test photos degraded as whole files, with and without
the bundle's sharpness and compression checks.

Notebook 05's sweep and ``measure_resave_verdicts.py`` degrade the prepared 96-128 px face
crops; an analyst's file is degraded as a whole and its face found, aligned and resized by the
engine. Here every test-split source photo of ``data/<dataset>/manifest.csv`` is analysed by
:meth:`dfd.inference.Detector.analyze_array` as given and degraded as a file (JPEG 50, blur
sigma 1, 0.5x downscale: ``dfd.external.robustness.EXTERNAL_CORRUPTIONS``, the levels issue 19
names, and JPEG 70 and 30 beside it, or the qualities ``--jpeg`` names). Per input: ROC-AUC of the scores, the share decided and its
accuracy with a Wilson interval, real photos called fake, the shares the sharpness check flags
soft and the compression check flags — for the saved bundle and for the same analysis without
the two checks (the verdict its other rules give).

    python scripts/measure_file_verdicts.py [--dataset dfd-default] [--jpeg 90 80 70 30]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def verdict_without_checks(det, res) -> str:
    """``res``'s verdict by the bundle's other rules (band, out of domain), ignoring its
    sharpness and compression checks: the same deciding face, score and out-of-domain fields."""
    if res.p_fake is None:
        return res.verdict
    ood = res.ood or {}
    return det.verdict(res.p_fake, ood.get("members_out", []), ood.get("members_far", []),
                       ood.get("p_fake_in_domain"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jpeg", type=int, nargs="+", default=[70, 30],
                    help="JPEG qualities the photos are also saved at (beside issue 19's 50)")
    args = ap.parse_args(argv)

    from dfd.data.prepare import load_manifest
    from dfd.evaluation.corruptions import corrupt_one
    from dfd.external.robustness import EXTERNAL_CORRUPTIONS
    from dfd.inference import Detector
    from dfd.io.images import load_image
    from dfd.metrics import accuracy_interval, roc_auc
    from dfd.paths import data_dir, models_dir

    manifest = load_manifest(data_dir(args.dataset) / "manifest.csv")
    test = manifest[manifest.split == "test"].drop_duplicates("source_path")
    det = Detector.from_dir(models_dir(args.dataset))
    y = test.label.to_numpy(np.int64)
    def state(check) -> str:
        return "absent" if check is None else ("active" if check.active_ else "inactive")

    print(f"{args.dataset}: {len(test)} test photos; sharpness check {state(det.bundle.sharpness)}, "
          f"compression check {state(det.bundle.compression)}")
    inputs = [("as given", None), *EXTERNAL_CORRUPTIONS, *(("jpeg_quality", q) for q in args.jpeg)]
    for kind, level in inputs:
        rng = np.random.default_rng(args.seed)
        results = []
        for path in test.source_path:
            img = load_image(path)
            results.append(det.analyze_array(img if level is None else corrupt_one(img, kind, level, rng)))
        p = np.array([np.nan if r.p_fake is None else r.p_fake for r in results])
        soft = np.array([bool((r.sharpness or {}).get("soft")) for r in results])
        flagged = np.array([bool((r.compression or {}).get("flagged")) for r in results])
        scored = np.isfinite(p)
        name = kind if level is None else f"{kind} {level:g}"
        for rule, verdicts in (("with the checks", [r.verdict for r in results]),
                               ("without the checks", [verdict_without_checks(det, r) for r in results])):
            v = np.asarray(verdicts)
            decided = (v == "real") | (v == "fake")
            acc = accuracy_interval(y[decided], p[decided], det.bundle.threshold)
            acc_text = f"{acc['value']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}] ({acc['n']})" if acc["n"] else "n/a"
            print(f"{name:22s} {rule:18s} ROC-AUC {roc_auc(y[scored], p[scored]):.3f}  soft {soft.mean():5.1%}  "
                  f"jpeg-flagged {flagged.mean():5.1%}  "
                  f"decided {decided.mean():5.1%} at accuracy {acc_text}  real photos called fake "
                  f"{int(((v == 'fake') & (y == 0)).sum())}/{int((y == 0).sum())}  no_face {int((v == 'no_face').sum())}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
