"""Source of notebook 05: ensembles, calibration, operating point, cross-dataset matrix, robustness."""


PARAMS = '''
# Parameters (papermill)
dataset = "dfd-default"
data_root = ""
seed = 0
smoke = 0                # 1: no bootstrap, light sweep (nbval / CI); env DFD_SMOKE 1 also turns it on
target_accuracy = 0.95   # accuracy required of the decided faces (outside the "uncertain" band, on validation)
robust_copies = 0        # > 0: fit the ensembles on that many corrupted copies of each validation crop too
members = ""             # comma-separated members of the bundle; "": cnn, cnn_lstm, resnext (notebooks 02-04)
n_boot = 1000            # bootstrap resamples for the 95% intervals
'''

CELLS = [
    '''#md
# 05 · Ensemble, calibration and evaluation

What the study hands a user is a **probability that a face is fake**. This notebook combines the three detectors
and checks that the probability means what it says.

* Ensembles — mean, weighted mean (weights fit on validation) and logistic-regression stacking — and
  temperature scaling of every model and ensemble, **all fit on validation predictions only** (asserted on row
  indices below). The ensemble with the lowest validation log loss is saved as `models/<dataset>/bundle.json`
  (with each member's SHA-256) — the bundle the CLI and the desktop app load.
* Test metrics with bootstrap 95% intervals, ROC/PR curves, reliability diagrams before and after calibration,
  score histograms, confusion matrix, an interactive ROC (`reports/<dataset>/roc.html`).
* The decision threshold and the **uncertain band**, the cross-dataset matrix and a robustness sweep.
''',
    '''
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dfd.data.sources import is_smoke
from dfd.evaluation.container import container_sensitivity
from dfd.evaluation.corruptions import CORRUPTIONS, robustness_sweep_with_margins
from dfd.evaluation.ood import ood_rates
from dfd.metrics import accuracy_interval, summarize_table
from dfd.evaluation.operating_point import risk_coverage
from dfd.evaluation.plots import (interactive_roc_html, plot_confusion_matrix, plot_pr_curves, plot_reliability,
                                  plot_risk_coverage, plot_robustness, plot_roc_curves, plot_score_histograms)
from dfd.evaluation.report import decided_counts, margin_summary, save_figure, update_metrics, write_results_md
from dfd.evaluation.scoring import IMAGE_MODELS, bundle_combine, scores_and_features
from dfd.evaluation.compression import compressed_verdicts
from dfd.evaluation.sharpness import soft_verdicts
from dfd.evaluation.study import EnsembleStudy, cross_dataset_matrix, load_members, test_split
from dfd.paths import reports_dir

smoke = is_smoke(smoke)
study = EnsembleStudy(dataset, members=[m.strip() for m in members.split(",") if m.strip()] or IMAGE_MODELS,
                      target_accuracy=target_accuracy, n_boot=0 if smoke else n_boot, seed=seed,
                      robust_copies=min(int(robust_copies), 1) if smoke else int(robust_copies))
print(f"members: {study.members}; validation rows {len(study.valid_idx)}, test rows {len(study.test_idx)}")
print("fit rows are validation rows only:",
      all(set(e.fitted_indices_) <= set(study.valid_idx) for e, _ in study.fitted.values()),
      f"({study.robust_copies} corrupted copies of each beside the clean crop)")
''',
    '''#md
## Every model and ensemble on the test split
''',
    '''
table = summarize_table(study.metrics, metrics=["roc_auc", "average_precision", "accuracy", "balanced_accuracy",
                                                "eer", "log_loss", "brier", "ece", "mce"])
display(table)
best_single = study.best_single()
best_key = study.best if study.best not in study.members else f"{study.best} (calibrated)"
b, s = study.metrics[best_key], study.metrics[f"{best_single} (raw)"]
display(Markdown(
    f"Chosen ensemble (lowest validation log loss): **{study.best}**. Best single model on test: **{best_single}**.  \\n"
    f"Test log loss {b['log_loss']['value']:.3f} vs {s['log_loss']['value']:.3f}; "
    f"ROC-AUC {b['roc_auc']['value']:.3f} vs {s['roc_auc']['value']:.3f}; "
    f"ECE {study.metrics[f'{study.best} (raw, uncalibrated)']['ece']['value']:.3f} before calibration, "
    f"{b['ece']['value']:.3f} after. A perfectly calibrated model with these same scores would show ECE "
    f"{study.ece_floor[best_key]['mean']:.3f} on average (95th percentile {study.ece_floor[best_key]['p95']:.3f}) "
    f"on {len(study.y_test)} test rows: ECE is biased upwards on small sets, so that is the floor to compare with."))
''',
    '''
y = study.y_test
curves = {m: (y, study.raw_test[m]) for m in study.members}
curves[f"ensemble: {study.best}"] = (y, study.calibrated_test[study.best])
save_figure(plot_roc_curves(curves), dataset, "05_roc.png")
save_figure(plot_pr_curves(curves), dataset, "05_pr.png")
interactive_roc_html(curves, reports_dir(dataset) / "roc.html")
''',
    '''#md
## Calibration

Reliability diagram: among faces scored *p*, the observed share of fakes. Temperature scaling (one parameter,
fit by negative log-likelihood on validation) pulls over-confident scores towards the diagonal.
''',
    '''
save_figure(plot_reliability(y, study.uncalibrated_test[study.best], study.calibrated_test[study.best],
                             labels=("before calibration", "after calibration")), dataset, "05_reliability.png")
op = study.operating_point
save_figure(plot_score_histograms(y, study.calibrated_test[study.best], threshold=op.threshold, band=op.band),
            dataset, "05_score_histograms.png")
save_figure(plot_confusion_matrix(y, study.calibrated_test[study.best], threshold=op.threshold),
            dataset, "05_confusion.png")
''',
    '''#md
## Decision threshold and the uncertain band

A face is called **fake** when its calibrated probability is above the threshold and **real** when below —
except inside the *uncertain band*. Its two edges are chosen apart on validation so that the **largest share of
faces is decided at the target accuracy** (the `target_accuracy` parameter, stored in the bundle) — both the
accuracy observed on the validation faces and the accuracy their calibrated scores expect (rule `calibrated`: the
observed count alone, maximised over many bands on ~100 faces, promises more than it keeps on new faces). Inside
it the app says "uncertain" instead of guessing: the evidence is too weak either way, and a person should look
closer.
The risk–coverage curve shows the trade: each point is the band chosen on validation for one target accuracy,
and what it gives on validation and on test (star: the chosen target).
''',
    '''
bundle = study.save_bundle()
p = study.calibrated_test[study.best]
outside = (p < op.band[0]) | (p > op.band[1])
decided_test = accuracy_interval(y[outside], p[outside], op.threshold)  # tens of faces: its interval says how sure
acc_outside = decided_test["value"] if decided_test["n"] else float("nan")
display(Markdown(f"Threshold **{op.threshold:.2f}**, uncertain band **[{op.band[0]:.2f}, {op.band[1]:.2f}]**"
                 f"{' (fallback: ' + op.fallback + ')' if op.fallback else ''}; target accuracy {op.target_accuracy:.0%}: "
                 f"{op.coverage:.0%} of validation faces decided at accuracy "
                 f"{'–' if op.accuracy_outside is None else format(op.accuracy_outside, '.3f')}.  \\n"
                 f"On test: {outside.mean():.0%} of faces decided, accuracy on those {acc_outside:.3f}"
                 f"{decided_counts(decided_test)}."))
best_ens, best_cal = study.fitted[study.best]
p_valid = best_cal.transform(best_ens.predict(study.table[study.members].to_numpy()[study.valid_idx]))
curve = risk_coverage(study.y_valid, p_valid, y, p, threshold=op.threshold)
save_figure(plot_risk_coverage(curve, target=op.target_accuracy), dataset, "05_risk_coverage.png")
print("bundle:", bundle.member_names, "→", study.best)
''',
    '''#md
## Cross-dataset matrix

Each dataset's saved ensemble scored on the test split of every prepared dataset (ROC-AUC). Run
`make reproduce` with another `DATASET=` first to fill more cells.
''',
    '''
cross = cross_dataset_matrix(seed=seed)
display(cross.pivot(index="trained_on", columns="tested_on", values="auc").round(3) if len(cross) else cross)
''',
    '''#md
## Robustness sweep

Test ROC-AUC when the test faces are degraded: JPEG quality 90/70/50/30, Gaussian blur, down-scaling ×0.5/×0.25
(and back up), additive Gaussian noise. The second table is the ensemble's margin over the best member at each level
(the bundle as the engine scores it, members far out or beyond their score range left out) with a 95% interval
from resampling the test faces within each class: the ensemble should not fall more than 0.01 under its best member
anywhere, and on a test split this small the interval says whether a miss is resolved. The last column is the share
of `n_boot` label shuffles in which the best of the members reaches the best member's AUC: above 0.05 no member is
shown to be above chance at that level, and the summary says how often a combination meets the tolerance there
when the labels carry no signal at all.
''',
    '''
models = load_members(dataset, study.members)
size = max(s for _m, s in models.values())
x_test, y_sweep, _rows = test_split(dataset, size)
sweep, margins = robustness_sweep_with_margins(models, x_test, y_sweep, combine=bundle_combine(bundle), seed=seed,
                                               n_boot=0 if smoke else n_boot)
display(sweep.pivot_table(index=["corruption", "level"], columns="model", values="auc", sort=False).round(3))
display(margins.drop(columns="model").round(3))
print(margin_summary(margins.to_dict(orient="records")))
save_figure(plot_robustness(sweep[sweep.corruption != "none"], x="level", y="auc", hue="model", style="corruption"),
            dataset, "05_robustness.png")
''',
    '''#md
## Out-of-domain checks

Share of inputs each member's out-of-domain check (fit on the training faces, threshold at the split-conformal
0.99 quantile of clean validation faces) flags: the clean test faces (at most about 1% by construction), every
corruption of the sweep above, and inputs like no face photo (noise, flat colour, drawn cartoon faces). A file's
verdict is `uncertain` when every member is out for its deciding face, or when one member sees it far out: its
distance over that member's threshold beyond the split-conformal 0.995 quantile of the clean validation faces'
largest such ratio (the bundle's `ood_worst_ratio`; with fewer than 199 validation faces, their largest), or when
its verdict rests on a member out of domain (the members in domain alone would not give it). Column "verdict rule":
the share the first two make `uncertain`.
''',
    '''
ood = ood_rates(models, bundle.ood, x_test, n_foreign=4 if smoke else 16, seed=seed,
                worst_ratio=bundle.ood_worst_ratio)
display(ood.pivot_table(index=["input", "level"], columns="member", values="flagged", sort=False).round(2))
# what the engine decides on the clean test faces: the band and the out-of-domain rule together
p_engine, verdicts = bundle.face_verdicts(*scores_and_features(models, x_test), bundle.fine_detail(x_test),
                                          bundle.jpeg_quality(x_test))
engine_decided = np.array([v != "uncertain" for v in verdicts])
decided_engine = accuracy_interval(y_sweep[engine_decided], p_engine[engine_decided], bundle.threshold)
engine_acc = decided_engine["value"] if decided_engine["n"] else float("nan")
print(f"test faces decided by the engine (band and out-of-domain rule): {engine_decided.mean():.1%} at accuracy "
      f"{engine_acc:.3f}; by the band alone {outside.mean():.1%}")
''',
    '''#md
## Faces softer than validation

The members' out-of-domain checks barely notice blur, yet blur and resampling remove the fine detail they read and
move every score towards "fake". The bundle's sharpness check (`dfd.evaluation.sharpness`) flags a face whose ratio
of finest-scale to mid-scale detail lies under the split-conformal 1% tail of the clean validation faces, and makes
its verdict `uncertain` only if the bundle's verdicts on blurred and downscaled copies of the validation faces missed
the target accuracy credibly (the upper end of their Wilson interval below it). Below: the measurement that set it,
then the engine's verdicts on the test faces as given, blurred (sigma 1) and downscaled (0.5x), with and without it.
''',
    '''
check = bundle.sharpness
acc_soft = check.soft_accuracy_
print(f"sharpness check: threshold {check.threshold_:.3f} at {check.size_} px; soft validation copies decided without "
      f"it: {acc_soft['n']}" + (f" at accuracy {acc_soft['value']:.3f}{decided_counts(acc_soft)}" if acc_soft["n"] else "")
      + f"; active (their accuracy credibly under {acc_soft['target']:.0%}): {check.active_}")
softened = soft_verdicts(bundle, models, x_test, y_sweep, seed=seed)
display(softened.round(3))
''',
    '''#md
## Photos saved at JPEG qualities the verdicts do not hold on

The sharpness check does not see JPEG compression (block edges add fine detail), yet heavy compression moves the
scores too. The bundle's compression check (`dfd.evaluation.compression`) reads a photo's JPEG quality from its pixels
(the 8x8 grid's DCT coefficients lie near multiples of the quantisation steps; 100 where no grid shows) and makes its
verdict `uncertain` when that quality lies nearest a level at which the bundle's verdicts on JPEG copies of the
validation faces missed the target accuracy credibly (the upper end of their Wilson interval below it) — never for a
photo saved as the validation photos themselves were (within the 1% tails of their own qualities). Below: that measurement per level, then the engine's
verdicts on the test faces as given and saved at JPEG 70, 50 and 30, with and without the check. The copies here are
compressed crops; an analyst's photo is compressed as a whole (`scripts/measure_file_verdicts.py` measures that).
''',
    '''
jpeg_check = bundle.compression
print(f"compression check: active {jpeg_check.active_}, failing JPEG quality levels {jpeg_check.failing_levels_}; "
      f"validation photos' own quality (1% tails of {jpeg_check.n_reference_}): {jpeg_check.reference_range_}")
display(pd.DataFrame(jpeg_check.level_accuracy_).T.rename_axis("JPEG quality").round(3))
jpeg_verdicts = compressed_verdicts(bundle, models, x_test, y_sweep)
display(jpeg_verdicts.round(3))
''',
    '''#md
## Container sensitivity

The same test faces only re-saved as JPEG and WebP at quality 90: how far each score moves (median, 90th
percentile and largest |Δ p_fake|, and the share moved by more than the 0.03 target). A detector that separates
classes by file processing moves a lot here.
''',
    '''
container = container_sensitivity(models, x_test, combine=bundle_combine(bundle))
display(container.pivot_table(index="model", columns="resave", values="median_abs_delta", sort=False).round(3))
''',
    '''
payload = {
    "members": study.members,
    "chosen_ensemble": study.best,
    "best_single_model": best_single,
    "validation_log_loss": study.valid_losses,
    "test": study.metrics,
    "ece_if_perfectly_calibrated": study.ece_floor,
    "operating_point": op.to_dict(),
    "test_decided_share": float(outside.mean()),
    "test_accuracy_outside_band": acc_outside,
    "test_engine_decided_share": float(engine_decided.mean()),
    "test_engine_accuracy_decided": engine_acc,
    "test_decided": decided_test,
    "test_engine_decided": decided_engine,
    "target_accuracy": op.target_accuracy,
    "robust_copies": study.robust_copies,
    "risk_coverage": curve.to_dict(orient="records"),
    "cross_dataset": cross.to_dict(orient="records"),
    "robustness": sweep.to_dict(orient="records"),
    "robustness_margins": margins.to_dict(orient="records"),
    "container_sensitivity": container.to_dict(orient="records"),
    "ood_rates": ood.to_dict(orient="records"),
    "sharpness_check": check.to_dict(),
    "soft_verdicts": softened.replace({np.nan: None}).to_dict(orient="records"),  # none decided: null, not NaN
    "compression_check": jpeg_check.to_dict(),
    "compressed_verdicts": jpeg_verdicts.replace({np.nan: None}).to_dict(orient="records"),
}
update_metrics(dataset, "evaluation", payload)
print("wrote", write_results_md(dataset))
''',
]



def notebooks() -> dict:
    return {"05_ensemble_and_calibration.ipynb": (CELLS, PARAMS)}
