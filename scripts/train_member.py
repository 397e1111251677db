#!/usr/bin/env python
"""Train one member of a dataset's recipe that the notebooks do not train (e.g. dfd-default's
``effnet_sbi``: EfficientNet-Lite0 on ImageNet weights, fresh fakes every epoch from the real
training faces), writing ``models/<dataset>/<model>.h5`` and its predictions like notebooks
02-04. Then notebook 05 with ``-p members cnn,cnn_lstm,resnext,<model>`` builds a bundle with it.

    python scripts/train_member.py --dataset dfd-default --model effnet_sbi [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--model", required=True, help="a section of dfd/training/recipes/<dataset>.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from dfd.training.train import TrainConfig, train

    result = train(TrainConfig(model=args.model, dataset=args.dataset, seed=args.seed))
    auc = result.test_metrics["roc_auc"]
    print(f"{args.model}: test ROC-AUC {auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] -> {result.model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
