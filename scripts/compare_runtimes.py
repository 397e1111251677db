#!/usr/bin/env python
"""The engine's ensemble on the test split, clean and at every robustness-sweep level, with its
members run by TensorFlow Lite (what the engine uses) and by TensorFlow's graph (``DFD_LITE=0``):
AUC of both and the largest |P(fake)| difference per level.

Scores come from ``Detector.score_crops`` (the engine's scoring path: member scores, OOD checks,
left-out members, calibration) on the test split's face crops; the faces themselves are the
prepared crops, so this isolates the members' runtime (face detection is compared on the external
set: ``make evaluate-external``).

    python scripts/compare_runtimes.py --dataset dfd-default
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
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd

    from dfd.evaluation.corruptions import sweep_inputs
    from dfd.evaluation.study import test_split
    from dfd.inference import Detector
    from dfd.inference.members import compiled_predict
    from dfd.metrics import roc_auc
    from dfd.paths import models_dir

    lite = Detector.from_dir(models_dir(args.dataset))
    graph = Detector.from_dir(models_dir(args.dataset))
    for m in graph.members:
        m._predict = compiled_predict(m.model, m.input_size)
    x, y, _ = test_split(args.dataset, max(m.input_size[0] for m in lite.members))
    x = np.asarray(x, np.uint8)
    rows = []
    for kind, level, xc in sweep_inputs(x, args.seed):
        p_lite, p_graph = lite.score_crops(xc)[0], graph.score_crops(xc)[0]
        rows.append({"corruption": kind, "level": level, "AUC lite": roc_auc(y, p_lite),
                     "AUC TensorFlow": roc_auc(y, p_graph), "max |dp|": float(np.max(np.abs(p_lite - p_graph)))})
    print(f"{args.dataset}: {len(y)} test faces; members: {', '.join(f'{m.name} ({m.runtime})' for m in lite.members)}")
    print(pd.DataFrame(rows).to_string(index=False, formatters={"max |dp|": "{:.1e}".format}, float_format="{:.4f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
