"""Evaluation layer: metrics, calibration, ensembles, the operating point, the bundle
manifest, the leakage guard, the study, plots and reports.

The fitting and bundle API is re-exported here; it needs numpy/scipy only (no TensorFlow,
OpenCV or matplotlib), so importing it stays cheap for the desktop app.
"""

from dfd.evaluation.bundle import BUNDLE_FILE, BUNDLE_FORMAT_VERSION, EnsembleBundle, MemberEntry
from dfd.evaluation.calibration import TemperatureScaler, to_logits
from dfd.evaluation.ensembles import (
    MeanEnsemble,
    MemberEnsemble,
    StackingEnsemble,
    WeightedMeanEnsemble,
    choose_best,
    ensemble_from_dict,
    fit_ensembles,
    fit_subset_ensembles,
)
from dfd.evaluation.leakage import LeakageError, assert_no_leakage
from dfd.evaluation.operating_point import BAND_RULES, OperatingPoint, choose_operating_point, decided_accuracy, risk_coverage

__all__ = ["BUNDLE_FILE", "BUNDLE_FORMAT_VERSION", "EnsembleBundle", "LeakageError", "MeanEnsemble", "MemberEnsemble",
           "MemberEntry", "OperatingPoint", "StackingEnsemble", "TemperatureScaler", "WeightedMeanEnsemble",
           "BAND_RULES", "assert_no_leakage", "choose_best", "choose_operating_point", "decided_accuracy", "ensemble_from_dict",
           "fit_ensembles", "fit_subset_ensembles", "risk_coverage", "to_logits"]
