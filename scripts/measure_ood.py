"""Measure the OOD score candidates and the combination rules on a trained dataset.

    DFD_HOME=/tmp/ood_home .venv/bin/python scripts/measure_ood.py [--dataset dfd-default] [--cache F.npz]

For every member: features and raw P(fake) of the train / valid / test crops, of the test
crops under heavy and mild corruptions, and of foreign inputs (noise, flat colours, drawn
cartoon faces, and scikit-image's sample pictures when scikit-image is importable). Prints,
per member and OOD method (threshold: the split-conformal 0.99 quantile of clean validation distances), the
share of each set flagged out of domain and the member's AUC there; then, for the bundle's
ensemble, the test AUC on each corrupted copy under each combination rule. Nothing is fit
on anything but the train and valid splits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dfd.evaluation.corruptions import corrupt
from dfd.evaluation.ood import METHODS, OodScorer, foreign_inputs, member_features
from dfd.metrics import roc_auc

CORRUPTED = [("jpeg_quality", 50), ("jpeg_quality", 20), ("jpeg_quality", 10), ("gaussian_blur_sigma", 1.0),
             ("gaussian_blur_sigma", 3.0), ("downscale", 0.5), ("downscale", 0.125), ("gaussian_noise_sigma", 10.0)]


def sample_pictures(size: int) -> np.ndarray | None:
    try:
        import skimage.data as d
    except ImportError:
        return None
    import cv2

    out = []
    for img in (d.chelsea(), d.coffee(), d.astronaut()):
        h, w = img.shape[:2]
        side = min(h, w)
        views = [img[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2], img]
        out += [cv2.resize(v, (size, size), interpolation=cv2.INTER_AREA) for v in views]
    return np.stack(out)


def collect(dataset: str) -> dict:
    from dfd.evaluation.study import load_members, split_crops

    models = load_members(dataset)
    data: dict = {}
    for name, (model, size) in models.items():
        sets = {split: split_crops(dataset, split, size)[0] for split in ("train", "valid", "test")}
        data["y_test"] = split_crops(dataset, "test", size)[1]
        data["y_valid"] = split_crops(dataset, "valid", size)[1]
        for kind, level in CORRUPTED:
            sets[f"{kind}={level}"] = corrupt(sets["test"], kind, level)
        sets.update(foreign_inputs(size, n=12))
        pictures = sample_pictures(size)
        if pictures is not None:
            sets["skimage_pictures"] = pictures
        for key, images in sets.items():
            p, f = member_features(model, images)
            data[f"{name}|{key}|p"], data[f"{name}|{key}|f"] = p, f
        print("features of", name, "done", flush=True)
    data["members"] = np.array(list(models))
    return data


def ood_table(data: dict) -> dict:
    members = [str(m) for m in data["members"]]
    keys = sorted({k.split("|")[1] for k in data if k.count("|") == 2} - {"train", "valid"},
                  key=lambda k: (k != "test", k))
    flags = {}
    print("\nshare flagged out of domain (threshold: conformal 0.99 quantile of clean valid); member AUC in brackets")
    for name in members:
        for method in METHODS:
            sc = OodScorer(method).fit(data[f"{name}|train|f"], data[f"{name}|valid|f"])
            row = []
            for key in keys:
                out = sc.is_out(data[f"{name}|{key}|f"])
                flags[name, method, key] = out
                auc = ""
                if key == "test" or "=" in key:
                    auc = f" ({roc_auc(data['y_test'], data[f'{name}|{key}|p']):.2f})"
                row.append(f"{key}: {out.mean():.2f}{auc}")
            print(f"{name:9s} {method:12s}", " | ".join(row))
    return flags


def combine_table(data: dict, flags: dict, bundle, method: str) -> None:
    """Ensemble AUC per rule on all test faces, and on those with at least one member in
    domain (the rest are "uncertain" under every rule); then the share of foreign inputs
    with every member out."""
    members = list(bundle.member_names)
    keys = ["test"] + [f"{k}={v}" for k, v in CORRUPTED]
    print(f"\nensemble test AUC per combination rule (OOD method {method}), all faces / faces with a member in domain")
    y = data["y_test"]
    for key in keys:
        P = np.stack([data[f"{m}|{key}|p"] for m in members], axis=1)
        out = np.stack([flags[m, method, key] for m in members], axis=1)
        cal = np.stack(list(bundle.member_probabilities(P).values()), axis=1)
        rules = {
            "ensemble as is": bundle.predict(P),
            "in-domain mean": np.where(out.all(1), cal.mean(1),
                                       np.nansum(np.where(out, np.nan, cal), 1) / np.maximum(1, (~out).sum(1))),
            "out columns at 0.5": bundle.predict(np.where(out, 0.5, P)),
        }
        keep = ~out.all(1)
        best = max(roc_auc(y, P[:, j]) for j in range(len(members)))
        cells = [f"{r} {roc_auc(y, p):.3f}/{roc_auc(y[keep], p[keep]) if len(set(y[keep])) > 1 else float('nan'):.3f}"
                 for r, p in rules.items()]
        print(f"{key:26s} best member {best:.3f} | " + " | ".join(cells)
              + f" | all out {out.all(1).mean():.2f} any out {out.any(1).mean():.2f}")
    foreign = [k for k in sorted({k.split("|")[1] for k in data if k.count("|") == 2}) if "=" not in k
               and k not in ("train", "valid", "test")]
    print("every member out: " + ", ".join(
        f"{k} {np.stack([flags[m, method, k] for m in members], 1).all(1).mean():.2f}" for k in foreign))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--cache", type=Path, help="npz of the features (written on the first run, read after)")
    args = ap.parse_args()
    if args.cache and args.cache.exists():
        data = dict(np.load(args.cache))
    else:
        data = collect(args.dataset)
        if args.cache:
            np.savez(args.cache, **data)
    flags = ood_table(data)
    from dfd.evaluation.bundle import EnsembleBundle
    from dfd.paths import models_dir

    bundle = EnsembleBundle.load(models_dir(args.dataset), verify=False)
    for method in METHODS:
        combine_table(data, flags, bundle, method)


if __name__ == "__main__":
    main()
