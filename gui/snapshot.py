"""``python -m gui --screenshot OUT.png FILES...``: the real app, started as a user starts
it, saves its window as a PNG once every file is analysed, then quits. ``make screenshot``
(scripts/screenshot.py) and the Xvfb test of tests/test_gui_xvfb.py go through here."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from .formatting import percent

FINISHED = ("done", "error", "cancelled")
POLL_MS = 100


class WindowSnapshot(QObject):
    """Watches ``window``: when its models are loaded and every listed file is finished, it
    shows ``featured`` (a path; else the first file), with its Grad-CAM overlay when there
    is one, saves the window to ``out`` and quits the application with 0. Quits with 2 when
    the models cannot be loaded, 1 on a timeout or a failed save."""

    def __init__(self, window, out: str | Path, featured: str | Path | None = None,
                 timeout_s: float = 600.0):
        super().__init__(window)
        self.window = window
        self.out = Path(out)
        self.featured = Path(featured) if featured else None
        self.deadline = time.monotonic() + timeout_s
        self._shown_at: float | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)
        self._timer.start(POLL_MS)

    def _finish(self, code: int, message: str) -> None:
        self._timer.stop()
        print(message, file=sys.stdout if code == 0 else sys.stderr, flush=True)
        self.window.close()
        QApplication.exit(code)

    def _all_finished(self) -> bool:
        entries = self.window.model.entries()
        return bool(entries) and not self.window.running and all(e.status in FINISHED for e in entries)

    def _poll(self) -> None:
        w = self.window
        if time.monotonic() > self.deadline:
            self._finish(1, f"screenshot: timed out before every file was analysed ({self.out})")
            return
        if w.loading or w.outcome is None:
            return
        if not w.outcome.ok:
            self._finish(2, w.outcome.message)
            return
        if not self._all_finished():
            return
        if self._shown_at is None:
            self._show_featured()
            self._shown_at = time.monotonic()
            return
        # the picture is decoded in the background: wait for it (or give up after 10 s)
        if w.view.canvas.image.isNull() and time.monotonic() - self._shown_at < 10.0:
            return
        self._save()

    def _show_featured(self) -> None:
        w = self.window
        entry = (w.model.find_path(self.featured) if self.featured else None) or w.model.entries()[0]
        w.select_entry(entry.id)
        if w.view.heat_toggle.isEnabled():
            w.view.heat_toggle.setChecked(True)
        w.statusBar().clearMessage()

    def _save(self) -> None:
        w = self.window
        entry = w.current_entry()
        QApplication.processEvents()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not w.grab().save(str(self.out)):
            self._finish(1, f"screenshot: could not write {self.out}")
            return
        size = f"{w.width()}x{w.height()}"
        self._finish(0, f"{self.out}: {entry.name} -> {entry.verdict} (P(fake) {percent(entry.p_fake)}), {size}")
