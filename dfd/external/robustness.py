"""The external set's robustness column: the engine on degraded copies of a labelled folder's photos.

The in-domain robustness sweep (notebook 05) degrades test face crops; here every photo of
an external folder is degraded as a whole file — JPEG quality 50, Gaussian blur sigma 1,
0.5x downscale and back (:data:`EXTERNAL_CORRUPTIONS`, the levels issue 19 names; the same
functions as the sweep, :func:`dfd.evaluation.corruptions.corrupt_one`) — saved as PNG
(lossless: only the corruption changes the pixels; JPEG 50 is the JPEG's decoded pixels) and
analysed by the engine the app uses, faces found again on the degraded file. Each copy's
results are cached like the external evaluation's (``robustness/<corruption>/results.jsonl``
beside its report), and the table gives, per photo source, ROC-AUC [95% CI] against the real
photos and its fall from the clean copy (issue 19's target: <= 0.03).

    python -m dfd.external.robustness ../shared/datasets/crossdomain_dev [--models DIR] [--dataset NAME]

Videos are not degraded (re-encoding them would add a second compression); the table says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dfd.external.labels import LabelledSet

EXTERNAL_CORRUPTIONS: tuple[tuple[str, float], ...] = (("jpeg_quality", 50), ("gaussian_blur_sigma", 1.0),
                                                       ("downscale", 0.5))


def degraded_copies(labelled: LabelledSet, kind: str, level, out_dir, seed: int = 0) -> LabelledSet:
    """The labelled set's photos degraded by ``kind`` at ``level``, written once under
    ``out_dir`` (same relative paths, ``.png`` added) and labelled as their originals. A photo
    that cannot be read is left out (the clean run reports it)."""
    from dfd.evaluation.corruptions import corrupt_one
    from dfd.io.images import load_image

    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows = []
    for row in labelled.files[labelled.files.kind == "image"].to_dict(orient="records"):
        rel = Path(os.path.relpath(row["path"], labelled.root))
        rel = rel.with_name(rel.name + ".png")
        target = out_dir / rel
        if not target.is_file():
            try:
                rgb = load_image(row["path"])
            except Exception:  # noqa: BLE001 — unreadable here means unreadable in the clean run too
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            bad = corrupt_one(rgb, kind, level, rng)
            tmp = target.with_name(target.name + ".tmp.png")
            cv2.imwrite(str(tmp), cv2.cvtColor(bad, cv2.COLOR_RGB2BGR))
            os.replace(tmp, target)
        rows.append({**row, "path": str(target), "rel": rel.as_posix()})
    files = pd.DataFrame(rows, columns=list(labelled.files.columns))
    return LabelledSet(out_dir, files.reset_index(drop=True), labelled.origin)


def robustness_table(labelled: LabelledSet, detector, out_dir, frames: int = 32, n_boot: int = 1000,
                     seed: int = 0, corruptions=EXTERNAL_CORRUPTIONS) -> pd.DataFrame:
    """Per corruption (``none`` first) and photo group (pooled, then each fake source against
    every real photo): the scored fake / real photos, ROC-AUC [95% CI], its fall from the
    clean copy, the share of real photos called fake and the photos without a face. The clean run is the external
    evaluation's cache in ``out_dir`` (analysed now where missing)."""
    from dfd.external.groups import group_rows
    from dfd.external.runner import analyse

    photos = LabelledSet(labelled.root, labelled.files[labelled.files.kind == "image"].reset_index(drop=True),
                         labelled.origin)
    runs = [("none", 0, analyse(photos, detector, out_dir, frames=frames, progress=False))]
    for kind, level in corruptions:
        folder = Path(out_dir) / "robustness" / f"{kind}_{level:g}"
        copies = degraded_copies(photos, kind, level, folder / "files", seed=seed)
        runs.append((kind, level, analyse(copies, detector, folder, frames=frames, progress=False)))
    rows = []
    clean = {}
    for kind, level, table in runs:
        for r in group_rows(table, n_boot=n_boot, seed=seed):
            if r["kind"] != "image" or r["n_fake"] == 0:
                continue  # the real photos alone have no AUC of their own
            auc = r["metrics"]["roc_auc"]
            if kind == "none":
                clean[r["group"]] = auc["value"]
            rows.append({"corruption": kind, "level": level, "group": r["group"],
                         "n_fake": r["scored_fake"], "n_real": r["scored_real"],
                         "roc_auc": auc["value"], "roc_auc_ci": (auc["ci_low"], auc["ci_high"]),
                         "share_reals_called_fake": r["share_reals_called_fake"],
                         "no_face": r["verdicts"].get("no_face", 0)})
    out = pd.DataFrame(rows)
    out["fall"] = [None if clean.get(g) is None or a is None else clean[g] - a for g, a in zip(out.group, out.roc_auc)]
    return out


def markdown(table: pd.DataFrame) -> str:
    lines = ["Photos only (videos are not degraded). Fall: clean AUC minus degraded AUC (target <= 0.03).", "",
             "| corruption | level | group | fake / real photos scored | ROC-AUC [95% CI] | fall | reals called fake | no face |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict(orient="records"):
        lo, hi = r["roc_auc_ci"]
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}" + ("" if lo is None else f" [{lo:.3f}, {hi:.3f}]")
        fall = "-" if r["fall"] is None or r["corruption"] == "none" else f"{r['fall']:+.3f}"
        share = "-" if pd.isna(r["share_reals_called_fake"]) else f"{r['share_reals_called_fake']:.0%}"
        lines.append(f"| {r['corruption']} | {r['level']:g} | {r['group']} | {r['n_fake']} / {r['n_real']} | {auc} | "
                     f"{fall} | {share} | "
                     f"{r['no_face']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from dfd.external.report import write_table
    from dfd.external.runner import folder_arguments, folder_engine

    ap = folder_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="at most this many photos per label and source")
    args = ap.parse_args(argv)
    labelled, out, detector = folder_engine(args)
    labelled = labelled.limited(args.limit)
    table = robustness_table(labelled, detector, out, frames=args.frames, n_boot=args.n_boot)
    write_table(table, out, "robustness", markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
