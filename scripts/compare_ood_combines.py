#!/usr/bin/env python
"""How the saved bundle's ways of leaving members out compare on the robustness sweep.

The saved bundle (``models/<dataset>/bundle.json``) is scored on its test split under every
corruption of notebook 05's sweep in four variants that differ only in what its
``far_left_out`` rule may use, so each row of docs/experiments.md ("Scores beyond their
validation range") comes from this command:

* ``ensemble``: every member as is (no member left out);
* ``far, others' mean``: members far out of domain left out, the face scored by the mean
  calibrated P(fake) of the others (bundles of session 11);
* ``far or beyond range, others' mean``: also members whose score left their validation range;
* ``far or beyond range, refit`` (the saved bundle): the others scored by the ensemble fit on
  validation for them alone;
* ``beyond range only, refit``: the same, but a member far out of domain stays in the score
  (only a score beyond its range leaves it out; the far member still makes the verdict uncertain);
* with ``--subset-copies K ...``: the same, the subset ensembles refit on the clean validation
  faces and K corrupted copies of each.

Prints test ROC-AUC per level, the best member, each variant's difference to it (for the saved
variant with a 95% interval from resampling the test faces within each class) and the number of
levels more than 0.01 under it (issue 17's target: none); ``--csv`` also writes the table.

    python scripts/compare_ood_combines.py --dataset faces140k [--subset-copies 2 4 8] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

def variants(bundle, refits=None) -> dict:
    """The saved bundle and copies of it without its newer parts, by name; ``refits`` (name ->
    subset ensembles) adds one copy per entry with those subset ensembles instead of its own."""
    def without(**fields):
        b = copy.copy(bundle)
        for k, v in fields.items():
            setattr(b, k, v)
        return b

    out = {
        "ensemble": without(ood_combine="ensemble"),
        "far, others' mean": without(ood_combine="far_left_out", score_ranges={}, subset_ensembles={}),
        "far or beyond range, others' mean": without(ood_combine="far_left_out", subset_ensembles={}),
        "far or beyond range, refit": without(ood_combine="far_left_out"),
        "beyond range only, refit": without(ood_combine="far_left_out"),
    }
    # far members kept in the score (their verdict stays "uncertain"): only a score beyond its range leaves it out
    beyond_only = out["beyond range only, refit"]
    beyond_only.left_out_matrix = types.MethodType(lambda self, ood, n: self.out_matrix(ood, n, "beyond_range"),
                                                   beyond_only)
    for name, subsets in (refits or {}).items():
        out[name] = without(ood_combine="far_left_out", subset_ensembles=subsets)
    return out


def subsets_with_copies(dataset: str, members: list[str], models: dict, n_copies: int, seed: int) -> dict:
    """The subset ensembles refit on the clean validation faces and ``n_copies`` corrupted
    copies of each (:func:`dfd.evaluation.study.corrupted_member_scores`): they only score
    faces some member is far out or beyond its range for, i.e. shifted ones. Measured, not
    saved by the study: docs/experiments.md, session 15."""
    from dfd.evaluation.ensembles import fit_subset_ensembles
    from dfd.evaluation.study import corrupted_member_scores, crops_in_order, member_predictions, with_copies

    table = member_predictions(dataset, members)
    valid = np.flatnonzero(table.split.to_numpy() == "valid")
    P = table[members].to_numpy(np.float64)[valid]
    y = table.label.to_numpy(np.int64)[valid]
    crops = crops_in_order(dataset, "valid", table.path[valid], max(s for _m, s in models.values()))
    fit = with_copies(P, y, valid, *corrupted_member_scores(models, crops, n_copies, seed))
    return fit_subset_ensembles(*fit, members)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--csv", default=None, help="also write the table here")
    ap.add_argument("--n-boot", type=int, default=1000, help="resamples for the saved variant's gap interval")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subset-copies", type=int, nargs="*", default=[],
                    help="also: the subset ensembles refit on this many corrupted copies of each validation face")
    args = ap.parse_args(argv)

    import pandas as pd

    from dfd.evaluation.bundle import EnsembleBundle
    from dfd.evaluation.corruptions import MARGIN_TOLERANCE, sweep_scores
    from dfd.evaluation.scoring import bundle_combine, load_members
    from dfd.evaluation.study import test_split
    from dfd.metrics import auc_difference, roc_auc
    from dfd.paths import models_dir

    bundle = EnsembleBundle.load(models_dir(args.dataset))
    if not bundle.ood:
        print(f"the {args.dataset} bundle has no out-of-domain scorers: nothing is ever left out")
        return 1
    models = load_members(args.dataset, bundle.member_names)
    x, y, _ = test_split(args.dataset, max(s for _m, s in models.values()))
    refits = {f"refit on {k} copies": subsets_with_copies(args.dataset, bundle.member_names, models, k, args.seed)
              for k in args.subset_copies}
    named = variants(bundle, refits)
    saved = "far or beyond range, refit"
    rows = []
    for kind, level, scores in sweep_scores(models, x, {n: bundle_combine(b) for n, b in named.items()}, args.seed):
        row = {"corruption": kind, "level": level, **{n: roc_auc(y, p) for n, p in scores.items()}}
        best = max(bundle.member_names, key=lambda m: row[m])
        row["best member"] = row[best]
        for name in named:
            row[f"{name} - best"] = row[name] - row[best]
        for name in [saved, *refits]:
            gap = auc_difference(y, scores[name], scores[best], args.n_boot, args.seed)
            row[f"{name} - best, 95% CI"] = f"[{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]"
        rows.append(row)
    table = pd.DataFrame(rows).set_index(["corruption", "level"])
    pd.set_option("display.width", 250)
    print(f"{args.dataset}: {len(y)} test faces, test ROC-AUC per corruption level (saved variant: {saved})")
    print(table.round(4).to_string())
    for name in named:
        under = int((table[f"{name} - best"] < -MARGIN_TOLERANCE).sum())
        print(f"{name}: {under} of {len(table)} levels more than {MARGIN_TOLERANCE} under the best member")
    if args.csv:
        table.to_csv(args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
