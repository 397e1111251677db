"""Desktop app start-up: time from process start to "ready with models loaded" (the main
window shown and the Detector loaded), offscreen. ``make bench-gui``.

Each run is a fresh process (``python scripts/bench_gui.py --child``), timed from just
before it is spawned until it reports the window's ``ready`` signal; the child also
reports when its window was first shown. Models come from ``models/dfd-default`` (or
``--models DIR``)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def child(models: str | None) -> int:
    t0 = time.perf_counter()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    from gui.backend import start_preload

    start_preload()  # as gui.app.main does
    from PySide6.QtCore import QTimer

    from gui.app import ensure_app
    from gui.main_window import MainWindow

    app = ensure_app(["bench"])
    marks: dict[str, float] = {"imports": time.perf_counter() - t0}
    window = MainWindow(models)

    def shown():
        marks.setdefault("window_shown", time.perf_counter() - t0)

    def ready():
        marks["ready"] = time.perf_counter() - t0
        print("READY " + json.dumps(marks), flush=True)
        app.quit()

    def loaded(outcome):
        if not outcome.ok:
            print("FAILED " + json.dumps({"message": outcome.message}), flush=True)
            app.exit(2)

    window.ready.connect(ready)
    window.modelsLoaded.connect(loaded)
    window.show()
    QTimer.singleShot(0, shown)
    rc = app.exec()
    window.close()
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="models folder (default: models/dfd-default)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.models)

    sys.path.insert(0, str(ROOT))
    from dfd.paths import models_dir
    from gui.backend import missing_models_message

    folder = Path(args.models) if args.models else models_dir("dfd-default")
    missing = missing_models_message(folder)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--models", str(folder)]
    totals, shown, inner = [], [], []
    print(f"models: {folder}  ({os.cpu_count()} CPUs, {args.runs} runs)")
    for i in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        marks = None
        for line in proc.stdout:
            if line.startswith("READY "):
                total = time.perf_counter() - t0
                marks = json.loads(line[6:])
                break
            if line.startswith("FAILED "):
                print(f"run {i + 1}: models failed to load: {json.loads(line[7:])['message']}", file=sys.stderr)
                proc.kill()
                return 1
        proc.wait(timeout=120)
        if marks is None:
            print(f"run {i + 1}: the app exited (code {proc.returncode}) before it was ready", file=sys.stderr)
            return 1
        # interpreter start-up = what the child could not see itself
        startup = total - marks["ready"]
        totals.append(total)
        shown.append(startup + marks.get("window_shown", float("nan")))
        inner.append(marks)
        print(f"run {i + 1}: ready {total:.2f} s after process start  (window shown at {shown[-1]:.2f} s; "
              f"Qt+gui imports {marks['imports']:.2f} s; interpreter {startup:.2f} s)")
    med = statistics.median(totals)
    print(f"start-up to ready (median of {len(totals)}): {med:.2f} s; window shown after "
          f"{statistics.median(shown):.2f} s; target <= {TARGET_S:.0f} s: {'met' if med <= TARGET_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
