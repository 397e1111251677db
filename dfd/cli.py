"""``python -m dfd`` / ``dfd``: scan files for deepfakes, show model cards and bundles.

    python -m dfd scan photo.jpg clips/ [--models DIR] [--json | --csv] [--frames N] [--explain-dir DIR]
    python -m dfd info models/dfd-default/cnn.h5
    python -m dfd info models/dfd-default

Everything runs offline. TensorFlow is imported only when a scan starts, so ``--help`` and
``info`` answer at once; its start-up notices and Python-side warnings are silenced
(:func:`quiet_tensorflow_logs`, :func:`~dfd.inference.logs.import_quietly`), so stderr holds
the progress bar and dfd's own messages.
"""

from __future__ import annotations

import argparse
import csv
import json
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
     of the others is fake or uncertain; files a folder scan skips as hidden or of an
     unsupported type do not count
"""

SCAN_EPILOG = """\
output:
  default / --json: one JSON object per file per line on stdout: path, kind, verdict
  (real | fake | uncertain | no_face | error), p_fake (calibrated probability that the
  file is fake), member_scores (per model), faces, frames (videos), error, timings;
  tracks (videos: each person's frames_seen, share_of_frames, face_px, confidence, p_fake
  and whether it decides: one seen in under a quarter of the frames or with a face under
  40 px does not, unless no other does), decided_by (the track id, or for a photo the
  index into faces, whose score is the verdict) and no_face_reason (verdict no_face: "no
  face found", "faces too small" or "too few frames with a face"). With a bundle that has
  out-of-domain scorers, each face's "ood" gives per model its distance, threshold and
  whether it is "out" or "far" out (beyond what the worst validation face reaches) and
  whether its score is "beyond_range" (outside every score it gave on validation: it is
  left out of that face's p_fake); the file's "ood" names the models checked and those out,
  far out or beyond range for the deciding face or track ("members_out", "members_far",
  "members_beyond_range", "all_out", "out_of_domain"), and "uncertain_reason"
  says why the verdict is uncertain when every model is out or one is far out ("unlike the
  data these models were trained on (out of domain for: ...)"). With a bundle that has a
  sharpness check, each face's "fine_detail" and the file's "sharpness" ("fine_detail" of
  the deciding face or track, "threshold", "soft", "active") say whether it is softer than
  the validation faces; when the check is active such a file is uncertain ("softer than the
  faces these models were checked on ..."). With a bundle that has a compression check, a
  photo's "compression" ("jpeg_quality" read from its pixels, 100 where no JPEG grid shows;
  "failing_levels", the JPEG qualities at which the validation faces' verdicts broke down;
  "flagged": nearest one of them and unlike the validation photos' own quality; "active"); when
  the check is active a flagged photo is uncertain ("saved at a JPEG quality these models'
  verdicts do not hold on ...").
  Files a folder scan leaves out (hidden, unsupported type, too large, unreadable, not a
  regular file) follow as records with verdict "skipped" and the "reason".
  --csv: one row per file with the same headline fields (a skipped file's reason in
  "error", a no_face file's in "no_face_reason", the models out of domain in "ood_members"
  separated by ";", and "uncertain_reason"). A progress bar goes to stderr, then the list of skipped files.

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


def _quiet_keras() -> None:
    """No Keras progress bars or summaries on stdout (which holds the JSON / CSV)."""
    import keras

    keras.config.disable_interactive_logging()


def main(argv: list[str] | None = None) -> int:
    from dfd.inference.logs import quiet_tensorflow_logs

    quiet_tensorflow_logs()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "scan":
        from dfd.inference.logs import import_quietly

        import_quietly("tensorflow")  # its C++ start-up notices held back, real messages kept
        return _scan(args, parser)
    if args.command == "info":
        return _info(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


CSV_FIELDS = ["path", "kind", "verdict", "p_fake", "n_faces", "error", "seconds", "no_face_reason",
              "ood_members", "uncertain_reason"]
# skipped media files that count as "could not be analysed" for the exit code (as before,
# when they were analysed and gave an error); hidden files and other types do not
SKIPS_THAT_ARE_ERRORS = {"too large", "unreadable", "not a regular file"}


def _scan(args, parser) -> int:
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if any(not str(p).strip() for p in args.paths):
        # Path("") is the current folder: an unset shell variable must not scan everything here
        parser.error("an empty path was given (an unset shell variable?)")
    from dfd.inference import Limits, default_models_dir, scan_paths

    _quiet_keras()
    found = scan_paths(args.paths, max_bytes=Limits().max_bytes)  # the detector's default limit
    files = found.files
    if not files:
        print("dfd: no image or video files found in " + ", ".join(args.paths), file=sys.stderr)
        _report_skipped(found.skipped)
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
        _write_record(result.to_dict(), writer, member_names)
        if explain_dir is not None:
            _write_explanations(explain_dir, i, result)
        bar.set_postfix_str(f"fake/uncertain {flagged}, errors {errors}", refresh=False)
    bar.close()
    for skipped in found.skipped:  # after the analysed files, so their records keep their lines
        _write_record(_skipped_record(skipped, detector), writer, member_names)
        errors += skipped.reason in SKIPS_THAT_ARE_ERRORS
    _report_skipped(found.skipped)
    if flagged:
        return EXIT_FLAGGED
    if errors:
        return EXIT_FILE_ERRORS
    return EXIT_OK


def _write_record(d: dict, writer, member_names) -> None:
    if writer is not None:
        row = {"path": d["path"], "kind": d["kind"], "verdict": d["verdict"], "p_fake": d["p_fake"],
               "n_faces": len(d["faces"]), "error": d["error"] or d.get("reason"),
               "seconds": d["timings"].get("total"), "no_face_reason": d.get("no_face_reason"),
               "ood_members": ";".join((d.get("ood") or {}).get("members_out", [])),
               "uncertain_reason": d.get("uncertain_reason")}
        row.update({f"p_{n}": d["member_scores"].get(n) for n in member_names})
        writer.writerow(row)
    else:
        sys.stdout.write(json.dumps(d, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _skipped_record(skipped, detector) -> dict:
    """A skipped file as a result record: every key of an analysed file's record (so JSON
    consumers that read them keep working), verdict "skipped" and the reason."""
    from dfd.inference import AnalysisResult
    from dfd.io.images import media_kind

    result = AnalysisResult(
        path=str(skipped.path), kind=media_kind(skipped.path), verdict="skipped", p_fake=None, member_scores={},
        faces=[], frames=[], suspicious_frames=[], timings={"total": 0.0}, models=list(detector.model_ids),
        threshold=detector.bundle.threshold, uncertain_band=tuple(detector.bundle.uncertain_band),
    )
    return {**result.to_dict(), "reason": skipped.reason}


def _report_skipped(skipped) -> None:
    """The human-readable list of what a folder scan left out, on stderr."""
    if not skipped:
        return
    print(f"dfd: {len(skipped)} skipped, not analysed:", file=sys.stderr)
    for s in skipped:
        d = s.to_dict()
        print(f"  skipped ({d['reason']}): {d['path']}", file=sys.stderr)


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
    from dfd.evaluation.bundle import EnsembleBundle
    from dfd.errors import DfdError
    from dfd.inference import bundle_summary
    from dfd.models.card import read_card

    if not (folder / "bundle.json").is_file():
        raise DfdError(f"no bundle.json in {folder} — run `make reproduce` first to train the models")
    bundle = EnsembleBundle.load(folder, verify=False)
    payload = bundle_summary(bundle)
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
