#!/usr/bin/env python
"""What the engine decides on the test faces when they are only re-saved as JPEG or WebP q90.

Notebook 05's container sensitivity says how far the scores move under a re-save; this says
what that does to the verdicts an analyst sees: the saved bundle (``models/<dataset>/``) on
its test split as given and re-saved (``dfd.evaluation.container.resave``), each face decided
by ``EnsembleBundle.face_verdicts`` (the band and the out-of-domain rule, as the engine does):
ROC-AUC, share decided and its accuracy, verdict counts, real faces called fake. With
``--left-out out`` it also scores a variant of the bundle that leaves out every member that is
*out* of domain (not only far out) or beyond its score range, for comparison; the saved
bundle is not changed. ``--corruptions`` adds the faces degraded as issue 19 measures them.
``--in-domain`` compares variants of the rule that makes a verdict resting on a member out of
domain "uncertain": ``differs`` (the saved rule: the members in domain alone give another
verdict, "uncertain" included), ``opposite`` (only when they give the opposite decided verdict)
and ``none`` (no such rule); ``--split valid`` measures on the validation faces instead.

    python scripts/measure_resave_verdicts.py --dataset faces140k [--left-out out] [--corruptions]
    python scripts/measure_resave_verdicts.py --dataset faces140k --in-domain differs opposite none [--split valid]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import types
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

# the degradations issue 19 measures the robustness fall at (notebook 05's sweep has them all)
ROBUSTNESS_LEVELS = (("jpeg_quality", 50), ("gaussian_blur_sigma", 1), ("downscale", 0.5))


def leaving_out_every_member_out(bundle):
    """A copy of ``bundle`` whose score leaves out the members out of domain or beyond their
    score range for a face (the saved rule leaves out those far out or beyond range)."""
    variant = copy.copy(bundle)

    def left_out_matrix(self, ood, n):
        return self.out_matrix(ood, n, "out") | self.out_matrix(ood, n, "beyond_range")

    variant.left_out_matrix = types.MethodType(left_out_matrix, variant)
    return variant


def with_in_domain_rule(bundle, rule: str):
    """A copy of ``bundle`` whose "verdict rests on a member out of domain" reason follows
    ``rule`` (see the module docstring); the saved bundle is not changed."""
    if rule == "differs":
        return bundle
    variant = copy.copy(bundle)
    saved = bundle.in_domain_scores

    def in_domain_scores(self, P_members, ood):
        p_in = saved(P_members, ood)
        if rule == "none":
            return np.full_like(p_in, np.nan)
        lo, hi = self.uncertain_band  # "opposite": an undecided in-domain score is no reason
        return np.where((p_in >= lo) & (p_in <= hi), np.nan, p_in)

    variant.in_domain_scores = types.MethodType(in_domain_scores, variant)
    return variant


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--left-out", choices=("far", "out"), action="append", default=None,
                    help="far: the saved rule (default); out: also the variant described above")
    ap.add_argument("--corruptions", action="store_true",
                    help="also JPEG 50, blur sigma 1 and 0.5x downscale (issue 19's robustness levels)")
    ap.add_argument("--in-domain", nargs="+", choices=("differs", "opposite", "none"), default=None,
                    help="variants of the in-domain-alone reason (differs: the saved rule)")
    ap.add_argument("--split", choices=("test", "valid"), default="test")
    args = ap.parse_args(argv)

    from dfd.evaluation.bundle import EnsembleBundle
    from dfd.evaluation.container import RESAVES, resave
    from dfd.evaluation.corruptions import corrupt
    from dfd.evaluation.scoring import load_members, scores_and_features
    from dfd.evaluation.study import split_crops
    from dfd.metrics import accuracy_interval, roc_auc
    from dfd.paths import models_dir

    bundle = EnsembleBundle.load(models_dir(args.dataset))
    bundles = {} if args.in_domain else {"far (saved)": bundle}
    if "out" in (args.left_out or []):
        bundles["out"] = leaving_out_every_member_out(bundle)
    for rule in args.in_domain or ():
        bundles[f"in-domain rule {rule}" + (" (saved)" if rule == "differs" else "")] = with_in_domain_rule(bundle, rule)
    models = load_members(args.dataset, bundle.member_names)
    x, y, _rows = split_crops(args.dataset, args.split, max(s for _m, s in models.values()))
    inputs = {"as given": x, **{name: np.stack([resave(im, name) for im in x]) for name in RESAVES}}
    for kind, level in ROBUSTNESS_LEVELS if args.corruptions else ():
        inputs[f"{kind} {level:g}"] = corrupt(x, kind, level, seed=0)
    print(f"{args.dataset}: {len(y)} {args.split} faces, band [{bundle.uncertain_band[0]:.3f}, {bundle.uncertain_band[1]:.3f}]")
    for name, images in inputs.items():
        P, features = scores_and_features(models, images)
        for label, b in bundles.items():
            p, verdicts = b.face_verdicts(P, features, b.fine_detail(images), b.jpeg_quality(images))
            v = np.asarray(verdicts)
            decided = v != "uncertain"
            acc = accuracy_interval(y[decided], p[decided], b.threshold)
            acc_text = (f"{acc['value']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]" if acc["n"] else "n/a")
            print(f"{label:30s} {name:9s} ROC-AUC {roc_auc(y, p):.3f}  decided {decided.mean():6.1%} at "
                  f"accuracy {acc_text}  real faces called fake {int(((v == 'fake') & (y == 0)).sum())}/"
                  f"{int((y == 0).sum())}  verdicts {dict(sorted(Counter(verdicts).items()))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
