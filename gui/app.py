"""Command line entry point: ``python -m gui [--models DIR] [FILES...]``."""

from __future__ import annotations

import argparse
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
    ap.add_argument("--size", metavar="WxH", type=window_size, help="window size, e.g. 1280x800")
    ap.add_argument("--screenshot", metavar="PNG",
                    help="once every file is analysed, save the window as PNG (the last file shown) and quit")
    ap.add_argument("--check-platform", action="store_true",
                    help="only check that the system libraries Qt needs here are installed (exit 1 if not)")
    return ap.parse_args(argv)


def window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x800, got {text!r}") from None
    if w < 200 or h < 150:
        raise argparse.ArgumentTypeError(f"window size {w}x{h} is too small (at least 200x150)")
    return w, h


def ensure_app(argv=None):
    """The QApplication (created, named and following the system's colour scheme, if
    there is none yet)."""
    from PySide6.QtWidgets import QApplication

    from . import theme
    from .dialogs import APP_TITLE

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [])
        app.setApplicationName(APP_TITLE)
        app.setOrganizationName("dfd")
        app.setApplicationDisplayName(APP_TITLE)
        theme.follow_system_scheme(app)
    return app


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from .platform_check import check_platform

    report = check_platform()
    if args.check_platform or not report.ok:
        if not report.ok:  # one line with the install command instead of Qt's abort
            print(report.message(), file=sys.stderr)
        return 0 if report.ok else 1
    from .backend import quiet_tensorflow, start_preload

    quiet_tensorflow()
    start_preload()  # TensorFlow imports while Qt starts
    app = ensure_app(sys.argv[:1])
    from .main_window import MainWindow

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl+C in the terminal closes the app
    window = MainWindow(args.models, frames=max(1, args.frames), explain=not args.no_explain)
    if args.size:
        window.resize(*args.size)
    window.show()
    if args.screenshot:
        from .snapshot import WindowSnapshot

        WindowSnapshot(window, args.screenshot, featured=args.files[-1] if args.files else None)
    if args.files:
        window.open_paths(args.files)
    return app.exec()
