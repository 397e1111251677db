"""``python -m dfd`` / ``dfd``: scan files for deepfakes, show model cards and bundles.

    python -m dfd scan photo.jpg clips/ [--models DIR] [--json | --csv] [--frames N] [--explain-dir DIR]
    python -m dfd info models/dfd-default/cnn.h5
    python -m dfd info models/dfd-default

Everything runs offline. TensorFlow is imported only when a scan starts, so ``--help`` and
``info`` answer at once.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

EXIT_OK = 0  # every file analysed, none fake or uncertain
EXIT_FLAGGED = 1  # at least one file fake or uncertain
EXIT_USAGE = 2  # bad arguments, no files, models missing or refused
EXIT_FILE_ERRORS = 3  # some files could not be analysed (and none of the others was flagged)

EXIT_CODES_HELP = """\
exit codes:
  0  every file was analysed and none is fake or uncertain ("no face" counts as analysed)
  1  at least one file is fake or uncertain (takes precedence over 3)
  2  usage error, no image/video files found, or the models are missing or refused
     (tampered file, unsafe Lambda layer, ...)
  3  some files could not be analysed (unreadable, corrupt, over a limit, ...) and none
     of the others is fake or uncertain
"""

SCAN_EPILOG = """\
output:
  default / --json: one JSON object per file per line on stdout: path, kind, verdict
  (real | fake | uncertain | no_face | error), p_fake (calibrated probability that the
  file is fake), member_scores (per model), faces, frames (videos), error, timings.
  --csv: one row per file with the same headline fields. A progress bar goes to stderr.

""" + EXIT_CODES_HELP


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dfd",
        description="Offline deepfake detection for photos and videos (dfd).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser(
        "scan", help="analyse images, videos or folders of them",
        description="Analyse images and videos (folders are searched recursively) with the "
                    "calibrated model ensemble, fully offline.",
        epilog=SCAN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="image, video or folder")
    scan.add_argument("--models", metavar="DIR", default=None,
                      help="folder with bundle.json and the model .h5 files (default: models/dfd-default)")
    fmt = scan.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="fmt", action="store_const", const="json",
                     help="JSON lines on stdout (the default)")
    fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="CSV on stdout")
    scan.add_argument("--frames", type=int, default=32, metavar="N",
                      help="frames sampled per video (default 32)")
    scan.add_argument("--explain-dir", metavar="DIR", default=None,
                      help="write Grad-CAM heatmap overlays of every scored face here (slower)")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    scan.set_defaults(fmt="json")

    info = sub.add_parser(
        "info", help="print a model card (MODEL.h5) or a model bundle (DIR)",
        description="Print the model card stored in a .h5 detector, or a bundle folder's "
                    "bundle.json with each member's card and whether the files match the manifest.",
    )
    info.add_argument("target", metavar="MODEL.h5|DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "scan":
        return _scan(args, parser)
    if args.command == "info":
        return _info(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


# --------------------------------------------------------------------------- scan
CSV_FIELDS = ["path", "kind", "verdict", "p_fake", "n_faces", "error", "seconds"]


def _scan(args, parser) -> int:
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if any(not str(p).strip() for p in args.paths):
        # Path("") is the current folder: an unset shell variable must not scan everything here
        parser.error("an empty path was given (an unset shell variable?)")
    from dfd.inference import default_models_dir, iter_media

    files = iter_media(args.paths)
    if not files:
        print("dfd: no image or video files found in " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_USAGE
    models = Path(args.models) if args.models else default_models_dir()
    if not (models / "bundle.json").is_file():
        print(
            f"dfd: no trained models in {models} (bundle.json not found). Run `make reproduce` first "
            "to train them, or pass --models DIR.", file=sys.stderr,
        )
        return EXIT_USAGE
    from dfd.errors import DfdError
    from dfd.inference import Detector

    try:
        detector = Detector.from_dir(models)
    except DfdError as exc:
        print(f"dfd: cannot use the models in {models}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    explain_dir = Path(args.explain_dir) if args.explain_dir else None
    if explain_dir is not None:
        explain_dir.mkdir(parents=True, exist_ok=True)
    member_names = [m.name for m in detector.members]
    writer = None
    if args.fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS + [f"p_{n}" for n in member_names],
                                lineterminator="\n")
        writer.writeheader()

    from tqdm import tqdm

    flagged = errors = 0
    bar = tqdm(files, desc="scanning", unit="file", file=sys.stderr, disable=args.no_progress,
               dynamic_ncols=True)
    for i, path in enumerate(bar):
        result = detector.analyze(path, explain=explain_dir is not None, frames=args.frames)
        if result.verdict in ("fake", "uncertain"):
            flagged += 1
        elif result.verdict == "error":
            errors += 1
        if writer is not None:
            d = result.to_dict()
            row = {"path": d["path"], "kind": d["kind"], "verdict": d["verdict"], "p_fake": d["p_fake"],
                   "n_faces": len(d["faces"]), "error": d["error"], "seconds": d["timings"].get("total")}
            row.update({f"p_{n}": d["member_scores"].get(n) for n in member_names})
            writer.writerow(row)
        else:
            sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if explain_dir is not None:
            _write_explanations(explain_dir, i, result)
        bar.set_postfix_str(f"fake/uncertain {flagged}, errors {errors}", refresh=False)
    bar.close()
    if flagged:
        return EXIT_FLAGGED
    if errors:
        return EXIT_FILE_ERRORS
    return EXIT_OK


def _safe_stem(path: str) -> str:
    from dfd.inference import display_path

    stem = Path(display_path(path)).stem or "file"
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    return keep[:60] or "file"


def _write_explanations(folder: Path, i: int, result) -> None:
    """``<n>_<stem>_face<k>[_f<frame>]_<model>.png``: heatmap overlaid on the scored crop,
    plus the crop itself."""
    from dfd.inference.explain import overlay
    from dfd.io.images import save_png

    base = f"{i:04d}_{_safe_stem(result.path)}"
    for k, face in enumerate(result.faces):
        if face.crop is None:
            continue
        tag = f"{base}_face{k}" + (f"_f{face.frame_index}" if face.frame_index is not None else "")
        save_png(folder / f"{tag}_crop.png", face.crop)
        for name, heat in face.heatmaps.items():
            save_png(folder / f"{tag}_{name}.png", overlay(face.crop, heat))


# --------------------------------------------------------------------------- info
def _info(args) -> int:
    from dfd.errors import DfdError

    target = Path(args.target)
    try:
        if target.is_dir():
            payload = _bundle_info(target)
        elif target.is_file():
            from dfd.models.card import read_card

            payload = read_card(target)
        else:
            hint = " Run `make reproduce` first to train the models." if "models" in target.parts else ""
            print(f"dfd: {target} does not exist.{hint}", file=sys.stderr)
            return EXIT_USAGE
    except DfdError as exc:
        print(f"dfd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False))
    return EXIT_OK


def _bundle_info(folder: Path) -> dict:
    from dfd.evaluation.ensemble import EnsembleBundle
    from dfd.errors import DfdError
    from dfd.inference.engine import _summarise_indices
    from dfd.models.card import read_card

    if not (folder / "bundle.json").is_file():
        raise DfdError(f"no bundle.json in {folder} — run `make reproduce` first to train the models")
    bundle = EnsembleBundle.load(folder, verify=False)
    payload = _summarise_indices(bundle.to_dict())
    try:
        bundle.verify_members(folder)
        payload["verified"], payload["verification"] = True, "every member file matches its SHA-256"
    except DfdError as exc:
        payload["verified"], payload["verification"] = False, str(exc)
    cards = {}
    for m in bundle.members:
        try:
            cards[m.name] = read_card(folder / m.file)
        except DfdError as exc:
            cards[m.name] = {"error": str(exc)}
    payload["cards"] = cards
    return payload


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
