"""Which files of an external folder are real and which fake, and where each comes from.

Two ways to label a folder, tried in this order:

* ``manifest.csv`` at the folder root with at least the columns ``path`` (relative to the
  folder), ``label`` (``real`` / ``fake``, or ``0`` / ``1``) and ``source``; an optional
  ``kind`` (``image`` / ``video``) and ``method`` column. Files on disk that the manifest
  does not name are left out (and listed); rows whose file is missing are listed too.
* otherwise a ``real`` or ``fake`` folder anywhere in a file's path (the deepest one wins);
  the source is the folder just below it (``fake/deepfakes/x.mp4`` → ``deepfakes``), or the
  label itself when the file sits directly in it.

Results are grouped by ``source`` (``source/method`` when the manifest has a method
column that says more than the label).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dfd import LABEL_NAMES
from dfd.errors import DfdError
from dfd.inference import file_kind, iter_media

MANIFEST = "manifest.csv"
LABEL_FOLDERS = {"real": 0, "fake": 1}
LABEL_VALUES = {"real": 0, "fake": 1, "0": 0, "1": 1}
KINDS = ("image", "video")
REQUIRED_COLUMNS = ("path", "label", "source")
# the columns of LabelledSet.files
COLUMNS = ["path", "rel", "label", "source", "kind"]


@dataclass
class LabelledSet:
    """The labelled files of one folder (``files``: one row per file on disk, columns
    :data:`COLUMNS`, ``label`` 0 = real / 1 = fake), what could not be used, and how the
    labels were found (``"manifest"`` or ``"folders"``)."""

    root: Path
    files: pd.DataFrame
    origin: str
    missing: list[str] = field(default_factory=list)  # manifest rows with no file on disk
    unlabelled: list[str] = field(default_factory=list)  # media files with no label

    @property
    def name(self) -> str:
        return self.root.name

    def limited(self, per_group: int) -> "LabelledSet":
        """At most ``per_group`` files of each (kind, label, source), the first by path
        (quick and smoke runs); ``0`` keeps everything."""
        if per_group <= 0:
            return self
        files = (self.files.groupby(["kind", "label", "source"], sort=False, group_keys=False)
                 .head(int(per_group)).reset_index(drop=True))
        return LabelledSet(self.root, files, self.origin, list(self.missing), list(self.unlabelled))


def collect_labels(folder) -> LabelledSet:
    """Label every image and video under ``folder`` (see the module docstring). Raises
    :class:`DfdError` with a plain reason when the folder is missing, its manifest is
    malformed, or no file has a label."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DfdError(f"external folder {root} does not exist or is not a folder")
    root = root.resolve()
    if (root / MANIFEST).is_file():
        labelled = _from_manifest(root)
    else:
        labelled = _from_folders(root)
    if labelled.files.empty:
        what = (f"none of the files named by {root / MANIFEST} is on disk" if labelled.origin == "manifest"
                else "no image or video file lies under a folder named `real` or `fake`")
        raise DfdError(
            f"no labelled files in {root}: {what}. Label the files with `real/` and `fake/` folders, "
            f"or with a {MANIFEST} at the folder root (columns path,label,source)"
        )
    return labelled


def _media_on_disk(root: Path) -> list[Path]:
    return [p for p in iter_media([root]) if p.name != MANIFEST]


def _rel(root: Path, path: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _kind_of(path: Path, declared: str = "") -> str:
    declared = (declared or "").strip().lower()
    if declared in KINDS:
        return declared
    return file_kind(path) or "other"


def _from_folders(root: Path) -> LabelledSet:
    rows, unlabelled = [], []
    for path in _media_on_disk(root):
        rel = _rel(root, path)
        dirs = [d.lower() for d in Path(rel).parts[:-1]]
        hits = [i for i, d in enumerate(dirs) if d in LABEL_FOLDERS]
        if not hits:
            unlabelled.append(rel)
            continue
        i = hits[-1]
        label = LABEL_FOLDERS[dirs[i]]
        source = Path(rel).parts[i + 1] if i + 1 < len(dirs) else LABEL_NAMES[label]
        rows.append({"path": str(path), "rel": rel, "label": label, "source": source, "kind": _kind_of(path)})
    return LabelledSet(root, pd.DataFrame(rows, columns=COLUMNS), "folders", [], unlabelled)


def _from_manifest(root: Path) -> LabelledSet:
    manifest = root / MANIFEST
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DfdError(f"cannot read {manifest}: {exc}") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    lacking = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if lacking:
        raise DfdError(f"{manifest} lacks the column(s) {', '.join(lacking)} (needs at least path,label,source)")
    labels = table["label"].str.strip().str.lower()
    bad = table.loc[~labels.isin(LABEL_VALUES), ["path", "label"]]
    if len(bad):
        sample = "; ".join(f"{r.path!r}: {r.label!r}" for r in bad.head(3).itertuples())
        raise DfdError(f"{manifest}: {len(bad)} row(s) with a label other than real/fake (or 0/1), e.g. {sample}")
    paths = table["path"].str.strip()
    if (paths == "").any():
        raise DfdError(f"{manifest}: {int((paths == '').sum())} row(s) with an empty path")
    dup = paths[paths.duplicated()]
    if len(dup):
        raise DfdError(f"{manifest} names {dup.iloc[0]!r} more than once")
    methods = table["method"] if "method" in table.columns else pd.Series([""] * len(table))
    kinds = table["kind"] if "kind" in table.columns else pd.Series([""] * len(table))
    rows, missing = [], []
    for rel, label, source, method, kind in zip(paths, labels, table["source"], methods, kinds):
        path = (root / rel).resolve()
        if not path.is_file():
            missing.append(Path(rel).as_posix())
            continue
        source = source.strip() or "unknown"
        method = method.strip()
        if method and method.lower() not in LABEL_VALUES:
            source = f"{source}/{method}"
        rows.append({"path": str(path), "rel": Path(rel).as_posix(), "label": LABEL_VALUES[label],
                     "source": source, "kind": _kind_of(path, kind)})
    named = {r["path"] for r in rows}
    unlabelled = [_rel(root, p) for p in _media_on_disk(root) if str(p.resolve()) not in named]
    files = pd.DataFrame(rows, columns=COLUMNS).sort_values("rel", kind="stable").reset_index(drop=True)
    return LabelledSet(root, files, "manifest", missing, unlabelled)
