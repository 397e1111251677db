#!/usr/bin/env python
"""Train one member of a dataset's recipe that the notebooks do not train (e.g. dfd-default's
``effnet_sbi``: EfficientNet-Lite0 on ImageNet weights, fresh fakes every epoch from the real
training faces), writing ``models/<dataset>/<model>.h5`` and its predictions like notebooks
02-04. Then notebook 05 with ``-p members cnn,cnn_lstm,resnext,<model>`` builds a bundle with it.

    python scripts/train_member.py --dataset dfd-default --model effnet_sbi [--seed 0]

``--extra-reals`` adds the train-split real faces of other prepared datasets (a name under
``data/`` or a ``manifest.csv``; never their fakes, never a face already in the dataset) to the
real faces the fresh fakes are made from; validation and test stay the dataset's own. With
``--home DIR`` the run writes under ``DIR`` (``DFD_HOME``) instead of over the checkout's bundle:
``DIR/data/<dataset>`` links to the checkout's and ``DIR/models/<dataset>/`` gets copies of the
other members' files, so notebook 05 and 07 run there with ``DFD_HOME=DIR`` build and judge the bundle with
this member (docs/experiments.md, session 18, has the whole sequence).

    python scripts/train_member.py --model effnet_sbi --extra-reals data/ffhq-reals/manifest.csv --home /tmp/h
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def link_home(home: Path, dataset: str, model: str) -> None:
    """``home`` as a DFD_HOME that shares the checkout's data (a link: nothing there is written)
    and holds copies of the dataset's other member files (copies, since notebook 05 rewrites
    bundle files and a link would let it write through to the checkout's bundle)."""
    src_data, src_models = ROOT / "data" / dataset, ROOT / "models" / dataset
    if not (src_data / "manifest.csv").is_file():
        raise SystemExit(f"{src_data}/manifest.csv not found: prepare {dataset} first (notebook 01)")
    (home / "data").mkdir(parents=True, exist_ok=True)
    if not (home / "data" / dataset).exists():
        (home / "data" / dataset).symlink_to(src_data, target_is_directory=True)
    out = home / "models" / dataset
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(src_models.glob("*")) if src_models.is_dir() else []:
        if f.name.split(".")[0] != model and not (out / f.name).exists():
            shutil.copy2(f, out / f.name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--model", required=True, help="a section of dfd/training/recipes/<dataset>.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra-reals", action="append", default=[], metavar="DATASET_OR_CSV",
                    help="a prepared dataset whose train-split real faces also train (repeatable)")
    ap.add_argument("--input-size", type=int, default=None, help="instead of the recipe's")
    ap.add_argument("--epochs", type=int, default=None, help="instead of the recipe's")
    ap.add_argument("--home", type=Path, help="write under this DFD_HOME, sharing the checkout's data and members")
    args = ap.parse_args(argv)

    if args.home:
        from dfd.data.prepare import manifest_path

        # resolved before DFD_HOME moves the project root, so names and relative paths mean the checkout's
        args.extra_reals = [str(manifest_path(e).resolve()) for e in args.extra_reals]
        link_home(args.home.resolve(), args.dataset, args.model)
        os.environ["DFD_HOME"] = str(args.home.resolve())

    from dfd.training.train import TrainConfig, train

    result = train(TrainConfig(model=args.model, dataset=args.dataset, seed=args.seed, input_size=args.input_size,
                               epochs=args.epochs, extra_reals=args.extra_reals or None))
    auc = result.test_metrics["roc_auc"]
    print(f"{args.model}: test ROC-AUC {auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] -> {result.model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
