#!/usr/bin/env python
"""Which members the out-of-domain checks put out at each level of the robustness sweep.

The saved bundle (``models/<dataset>/bundle.json``) on its test split under every corruption of
notebook 05's sweep: each member's ROC-AUC, the bundle's score as the engine gives it (members
far out or beyond their score range left out) and the stacking ensemble with every member in,
then per member the share of faces that are out / far out / beyond its score range. The
docs/experiments.md rows "which member is far" (session 16) come from this command.

    python scripts/sweep_ood_detail.py --dataset faces140k [--csv out.csv]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", default=None, help="also write the table here")
    args = ap.parse_args(argv)

    import pandas as pd

    from dfd.evaluation.bundle import EnsembleBundle
    from dfd.evaluation.corruptions import sweep_inputs
    from dfd.evaluation.scoring import load_members, scores_and_features
    from dfd.evaluation.study import test_split
    from dfd.metrics import roc_auc
    from dfd.paths import models_dir

    bundle = EnsembleBundle.load(models_dir(args.dataset))
    if not bundle.ood:
        print(f"the {args.dataset} bundle has no out-of-domain scorers")
        return 1
    models = load_members(args.dataset, bundle.member_names)
    x, y, _ = test_split(args.dataset, max(s for _m, s in models.values()))
    rows = []
    for kind, level, xc in sweep_inputs(x, args.seed):
        P, features = scores_and_features(models, xc)
        p_engine, ood = bundle.score_faces(P, features)
        row = {"corruption": kind, "level": level}
        row |= {m: roc_auc(y, P[:, j]) for j, m in enumerate(bundle.member_names)}
        row |= {"engine": roc_auc(y, p_engine), "all members in": roc_auc(y, bundle.predict(P))}
        for m in bundle.member_names:
            o = ood[m]
            row[f"{m} out/far/beyond"] = f"{o['out'].mean():.2f}/{o['far'].mean():.2f}/{o['beyond_range'].mean():.2f}"
        rows.append(row)
    table = pd.DataFrame(rows).set_index(["corruption", "level"])
    pd.set_option("display.width", 250)
    thresholds = ", ".join(f"{m} {sc.threshold_:.3f}" for m, sc in bundle.ood.items())
    print(f"{args.dataset}: {len(y)} test faces; thresholds {thresholds}; worst ratio {bundle.ood_worst_ratio:.3f}")
    print(table.round(3).to_string())
    if args.csv:
        table.to_csv(args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
