"""Command line entry point: ``python -m gui [--models DIR] [FILES...]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m gui",
        description="Check local images, videos and folders for deepfakes, offline.",
    )
    ap.add_argument("files", nargs="*", help="images, videos or folders to analyse")
    ap.add_argument("--models", metavar="DIR",
                    help="models folder with bundle.json (default: models/dfd-default of the project)")
    ap.add_argument("--frames", type=int, default=32, help="frames sampled per video (default 32)")
    ap.add_argument("--no-explain", action="store_true", help="skip Grad-CAM heatmaps (faster)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .backend import start_preload

    start_preload()  # TensorFlow imports while Qt starts
    from .main_window import MainWindow, ensure_app

    app = ensure_app(sys.argv[:1])
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl+C in the terminal closes the app
    window = MainWindow(args.models, frames=max(1, args.frames), explain=not args.no_explain)
    window.show()
    if args.files:
        window.open_paths(args.files)
    return app.exec()
