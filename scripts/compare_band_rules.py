"""How well does the uncertain band hold its stated accuracy off the rows it was chosen on?

The bundle's band (``choose_operating_point``) decides the most validation faces at the
target accuracy. Chosen on a small validation split with the ensemble fit on those same
rows, it can promise more than it keeps. This compares, for the dataset's study (its
chosen ensemble, as notebook 05 fits it), the band rules of ``BAND_RULES`` (``max_coverage``:
the observed validation accuracy of the decided reaches the target; ``calibrated``: the
accuracy the calibrated scores expect of them too), each chosen

- ``in_sample``: on the validation scores of the ensemble fit on them (what the bundle does);
- ``cross_fit``: on out-of-fold validation scores (the ensemble kind and its calibrator refit
  on the other folds, folds by identity);

and ``max_coverage`` as the median edges over stratified bootstrap resamples.

Each band is then applied to the test scores of the ensemble fit on all validation rows
(what the bundle would ship), and, with ``--external <per_file.csv>`` of notebook 07, to
the external files' scores (files the engine calls uncertain out of domain stay so).

    python scripts/compare_band_rules.py [--dataset dfd-default] [--external reports/.../per_file.csv]
    python scripts/compare_band_rules.py --simulate   # the rules on simulated detectors, no bundle needed
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from dfd.data.prepare import load_manifest
from dfd.evaluation.ensembles import fit_ensembles
from dfd.evaluation.bundle import EnsembleBundle
from dfd.evaluation.operating_point import BAND_RULES, choose_operating_point, decided_accuracy
from dfd.evaluation.study import EnsembleStudy
from dfd.paths import data_dir, models_dir


def out_of_fold(study: EnsembleStudy, groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Calibrated validation scores of the study's chosen ensemble kind, each row scored by
    the ensemble and calibrator fit on the folds it is not in."""
    P = study.P_valid_
    y = study.y_valid
    out = np.empty(len(y))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held in splitter.split(P, y, groups):
        fitted = fit_ensembles(P[fit_rows], y[fit_rows], study.valid_idx[fit_rows], study.members)
        ens, cal = fitted[study.best]
        out[held] = cal.transform(ens.predict(P[held]))
    return out


def bootstrap_band(y, p, target: float, n: int, seed: int) -> tuple[float, float]:
    """Median edges of the observed-accuracy rule over stratified bootstrap resamples."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == c) for c in (0, 1)]
    lows, highs = [], []
    for _ in range(n):
        rows = np.concatenate([rng.choice(ix, size=len(ix), replace=True) for ix in by_class])
        op = choose_operating_point(y[rows], p[rows], target_accuracy=target, band_rule="max_coverage")
        lows.append(op.band[0])
        highs.append(op.band[1])
    return float(np.median(lows)), float(np.median(highs))


def external_effect(table: pd.DataFrame, band, old_band, threshold: float) -> dict:
    """Verdicts the band gives the external files: the engine's out-of-domain "uncertain"
    (verdict uncertain though the score is outside the saved band) stays uncertain."""
    scored = table[table.p_fake.notna() & table.verdict.isin(["real", "fake", "uncertain"])]
    p = scored.p_fake.to_numpy(float)
    ood = (scored.verdict.to_numpy() == "uncertain") & ((p < old_band[0]) | (p > old_band[1]))
    fake = (p > band[1]) & ~ood
    real = (p < band[0]) & ~ood
    y = (scored.label.astype(str).to_numpy() == "fake").astype(int)
    decided = fake | real
    out = {}
    for kind in ("image", "video"):
        k = scored.kind.to_numpy() == kind
        if not k.any():
            continue
        reals = k & (y == 0)
        out[f"{kind}: real called fake"] = f"{int((fake & reals).sum())}/{int(reals.sum())}"
        acc = float(np.mean(fake[k & decided] == (y[k & decided] == 1))) if (k & decided).any() else float("nan")
        out[f"{kind}: decided (accuracy)"] = f"{(k & decided).sum() / k.sum():.1%} ({acc:.3f})"
    return out


def simulate(draws: int = 40, seed: int = 0) -> pd.DataFrame:
    """Each rule on a simulated detector (two unit Gaussians ``2 * separation`` apart, its
    scores temperature-calibrated on the validation draw as the study does): the band chosen
    on ``n`` validation faces, what it delivers on 20000 new faces, mean over ``draws``."""
    from scipy.special import expit

    from dfd.evaluation.calibration import TemperatureScaler

    rng = np.random.default_rng(seed)

    def draw(n, separation, scale):
        y = rng.integers(0, 2, n)
        return y, expit(scale * 2 * separation * rng.normal(np.where(y == 1, separation, -separation), 1.0))

    rows = []
    for separation, n in ((0.68, 116), (0.68, 220), (1.3, 116)):
        for scale in (1.0, 2.0, 0.6):  # the raw scores over- or under-confident before calibration
            got = {rule: [] for rule in BAND_RULES}
            for _ in range(draws):
                (yv, pv), (yn, pn) = draw(n, separation, scale), draw(20000, separation, scale)
                cal = TemperatureScaler().fit(pv, yv)
                for rule in BAND_RULES:
                    op = choose_operating_point(yv, cal.transform(pv), band_rule=rule)
                    got[rule].append(decided_accuracy(yn, cal.transform(pn), op.threshold, op.band))
            for rule, v in got.items():
                cov = np.array([c for c, _a in v])
                acc = np.array([np.nan if a is None else a for _c, a in v])
                rows.append({"separation": separation, "valid faces": n, "raw scale": scale, "rule": rule,
                             "decided": cov.mean(), "accuracy delivered": np.nanmean(acc),
                             "runs under 0.93": np.nanmean(acc < 0.93)})
        y, p = draw(200000, separation, 1.0)
        op = choose_operating_point(y, p, band_rule="max_coverage")
        rows.append({"separation": separation, "valid faces": 200000, "raw scale": 1.0, "rule": "oracle",
                     "decided": op.coverage, "accuracy delivered": op.accuracy_outside, "runs under 0.93": 0.0})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--external", default=None, help="per_file.csv of notebook 07 for the same bundle")
    ap.add_argument("--simulate", action="store_true", help="the rules on simulated detectors instead")
    args = ap.parse_args()
    if args.simulate:
        print(simulate(seed=args.seed).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        return

    study = EnsembleStudy(args.dataset, n_boot=0, seed=args.seed)
    manifest = load_manifest(data_dir(args.dataset) / "manifest.csv")
    group_of = dict(zip(manifest.path.astype(str), manifest.group.astype(str)))
    groups = np.array([group_of.get(str(p), str(p)) for p in study.table.path.iloc[study.valid_idx]])
    ens, cal = study.fitted[study.best]
    p_valid = cal.transform(ens.predict(study.P_valid_))
    p_test = study.calibrated_test[study.best]
    p_oof = out_of_fold(study, groups, args.folds, args.seed)
    threshold = 0.5
    bands, fit_on = {}, {}
    for rule in BAND_RULES:
        for where, p in (("in_sample", p_valid), ("cross_fit", p_oof)):
            bands[f"{rule}, {where}"] = choose_operating_point(study.y_valid, p, target_accuracy=args.target,
                                                               band_rule=rule).band
            fit_on[f"{rule}, {where}"] = p
    bands["max_coverage, bootstrap median"] = bootstrap_band(study.y_valid, p_valid, args.target, args.boot, args.seed)
    fit_on["max_coverage, bootstrap median"] = p_valid
    external = pd.read_csv(args.external) if args.external else None
    saved_band = tuple(EnsembleBundle.load(models_dir(args.dataset)).uncertain_band)  # what the per-file verdicts used
    rows = []
    for rule, band in bands.items():
        v_cov, v_acc = decided_accuracy(study.y_valid, fit_on[rule], threshold, band)
        t_cov, t_acc = decided_accuracy(study.y_test, p_test, threshold, band)
        row = {"rule": rule, "band": f"[{band[0]:.3f}, {band[1]:.3f}]", "valid decided": f"{v_cov:.1%}",
               "valid acc": v_acc, "test decided": f"{t_cov:.1%}", "test acc": t_acc}
        if external is not None:
            row.update(external_effect(external, band, saved_band, threshold))
        rows.append(row)
    print(f"{args.dataset}: ensemble {study.best}, {len(study.y_valid)} validation / {len(study.y_test)} test faces, "
          f"target {args.target}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
