"""External evaluation: a trained bundle, through the app's engine, over a labelled folder of
images and videos no training set has seen (``make evaluate-external EXTERNAL=<folder>``).

A layer above :mod:`dfd.inference`; only the CLI, notebooks and scripts import it.

    report = evaluate_external("../shared/datasets/crossdomain_dev", models="models/dfd-default")
    report.out_dir  # reports/dfd-default/external/crossdomain_dev/{metrics.json,results.md,per_file.csv,figures/}
"""

from dfd.external.evaluate import ExternalReport, evaluate_external, external_dir
from dfd.external.groups import comparison_set, group_row, group_rows
from dfd.external.labels import LabelledSet, collect_labels
from dfd.external.report import markdown_header, markdown_rows
from dfd.external.runner import CACHE_FILE, analyse, read_cache

__all__ = ["CACHE_FILE", "ExternalReport", "LabelledSet", "analyse", "collect_labels", "comparison_set",
           "evaluate_external", "external_dir", "group_row", "group_rows", "markdown_header", "markdown_rows",
           "read_cache"]
