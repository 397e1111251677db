"""Turn any dataset into face crops plus a manifest the training pipeline reads.

``prepare_dataset`` runs the face stage on every item of an adapter (videos contribute a few
evenly spaced frames each) and writes, under ``data/<dataset>/``:

- ``faces/``         cached crops (``<source hash>_<params>.png`` + ``.json``)
- ``manifest.csv``   one row per usable crop: path,label,split,group,source,method,sha256,source_path,frame,n_faces
- ``face_report.csv`` one row per source file and frame: status (ok / no_face / error) and reason
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dfd.errors import BadInputError
from dfd.io.images import save_png
from dfd.paths import data_dir
from dfd.data.datasets import SPLITS, MediaItem, get_adapter, load_items
from dfd.faces.crops import CropRecord, FaceCropper

MANIFEST_FIELDS = ["path", "label", "split", "group", "source", "method", "sha256", "source_path", "frame", "n_faces"]


@dataclass
class PreparedDataset:
    name: str
    manifest_path: Path
    report_path: Path
    manifest: pd.DataFrame
    report: pd.DataFrame
    items: list[MediaItem] = field(repr=False, default_factory=list)

    def counts(self) -> pd.DataFrame:
        """Crops per split and label (rows: split, columns: real/fake)."""
        table = self.manifest.assign(label=self.manifest.label.map({0: "real", 1: "fake"}))
        return table.pivot_table(index="split", columns="label", values="path", aggfunc="count", fill_value=0)


def smoke_subset(items: list[MediaItem], limit: int, seed: int = 0) -> list[MediaItem]:
    """At most ``limit`` items, spread evenly over split x label (for smoke runs)."""
    rng = np.random.default_rng(seed)
    per_cell = max(1, limit // 6)
    chosen = []
    for split in SPLITS:
        for label in (0, 1):
            cell = [it for it in items if it.split == split and it.label == label]
            if cell:
                idx = rng.choice(len(cell), size=min(per_cell, len(cell)), replace=False)
                chosen.extend(cell[i] for i in sorted(idx))
    return chosen


def _video_frames(item: MediaItem, n_frames: int):
    from dfd.io.video import sample_frames  # video decoding only when a dataset has videos

    return sample_frames(item.path, n_frames)


def prepare_dataset(
    dataset: str,
    root: str | os.PathLike,
    image_size: int | None = None,
    margin: float = 0.3,
    seed: int = 0,
    limit: int | None = None,
    frames_per_video: int = 8,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> PreparedDataset:
    adapter = get_adapter(dataset)
    items = load_items(dataset, root, seed=seed)
    if limit:
        items = smoke_subset(items, limit, seed)
    out = Path(out_dir) if out_dir else data_dir(dataset)
    image_size = int(image_size or adapter.image_size)
    cropper = FaceCropper(out / "faces", size=image_size, margin=margin, mode=adapter.face_mode)
    rows, report = [], []
    for item in tqdm(items, desc=f"face stage ({dataset})", disable=not progress):
        if item.kind == "video":
            records = list(_crop_video(cropper, item, frames_per_video))
        else:
            records = [(cropper.process(item.path), -1)]
        for rec, frame in records:
            report.append({"source_path": item.path, "frame": frame, "split": item.split, "label": item.label,
                           "status": rec.status, "reason": rec.reason, "n_faces": rec.n_faces})
            if rec.status == "ok":
                rows.append({"path": rec.crop_path, "label": item.label, "split": item.split, "group": item.group,
                             "source": item.source, "method": item.method, "sha256": rec.sha256,
                             "source_path": item.path, "frame": frame, "n_faces": rec.n_faces})
    out.mkdir(parents=True, exist_ok=True)
    manifest = pd.DataFrame(rows, columns=MANIFEST_FIELDS)
    manifest_path = out / "manifest.csv"
    # paths relative to the manifest's folder keep the dataset relocatable
    manifest.assign(path=[os.path.relpath(p, out) for p in manifest["path"]]).to_csv(
        manifest_path, index=False, quoting=csv.QUOTE_MINIMAL)
    report_df = pd.DataFrame(report, columns=["source_path", "frame", "split", "label", "status", "reason", "n_faces"])
    report_path = out / "face_report.csv"
    report_df.to_csv(report_path, index=False)
    return PreparedDataset(dataset, manifest_path, report_path, manifest, report_df, items)


def _crop_video(cropper: FaceCropper, item: MediaItem, n_frames: int):
    """Face-stage a few frames of a video; each frame is cached like an image."""
    try:
        frames = _video_frames(item, n_frames)
    except BadInputError as exc:
        yield CropRecord(item.path, "error", exc.reason), -1
        return
    if not frames:
        yield CropRecord(item.path, "error", "no frame could be decoded"), -1
        return
    for index, rgb in frames:
        key = hashlib.sha256(f"{item.path}|{index}|{rgb.shape}".encode() + rgb[::7, ::7].tobytes()).hexdigest()
        frame_dir = cropper.cache_dir / "frames"
        frame_path = frame_dir / f"{key[:32]}.png"
        if not frame_path.exists():
            save_png(frame_path, rgb)
        yield cropper.process(frame_path), int(index)


def manifest_path(dataset_or_path: str | os.PathLike) -> Path:
    """The manifest file of a prepared dataset: a ``.csv`` path as given, else ``data/<name>/manifest.csv``."""
    p = Path(dataset_or_path)
    return p if p.suffix == ".csv" else data_dir(str(dataset_or_path)) / "manifest.csv"


def load_manifest(dataset_or_path: str | os.PathLike) -> pd.DataFrame:
    """Read a prepared manifest (dataset name or path) with absolute crop paths."""
    p = manifest_path(dataset_or_path)
    if not p.exists():
        raise FileNotFoundError(f"{p} not found — run notebook 01 (or `make prepare`) for this dataset first")
    df = pd.read_csv(p)
    df["path"] = [str((p.parent / x).resolve()) for x in df["path"]]
    return df


def summarize(prepared: PreparedDataset) -> dict:
    rep = prepared.report
    per_status = Counter(rep.status)
    return {
        "files": int(rep.source_path.nunique()),
        "faces_ok": int(per_status.get("ok", 0)),
        "no_face": int(per_status.get("no_face", 0)),
        "errors": int(per_status.get("error", 0)),
        "yield": float(per_status.get("ok", 0) / max(1, len(rep))),
    }
