"""Work off the UI thread, reporting through signals (delivered on the UI thread as
queued connections).

* :class:`Task` - run any function, get ``done(result)`` or ``failed(message)``.
* :class:`AnalysisBatch` - analyse a list of files one by one with progress and a
  ``threading.Event`` for cancelling (passed to ``Detector.analyze(..., cancel=event)``).

Both are ``QRunnable`` s. Display work (decoding pictures, walking folders, exports) runs
on a ``QThreadPool``. TensorFlow work (loading models, analysing) runs on one
:class:`JobThread` instead: a ``QThread`` whose single ``run()`` call executes the jobs
one after another. The reason is TensorFlow's pybind11 layer: it caches a Python thread
state per OS thread, while PySide gives every ``QRunnable.run()`` on a pool thread a
fresh one; the second TensorFlow job on the same pool thread then takes the GIL with a
stale thread state and the process crashes (segfault in ``take_gil``; reproduced with
load, warm-up and analysis as three runnables on a one-thread pool). One long ``run()``
keeps one thread state for the thread's whole life.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, QTimer, Signal

from .backend import plain_error

# A runnable's signals object must outlive the queued signals it emitted; the pool deletes
# runnables as soon as run() returns, so every signals object is kept here until its last
# signal has been delivered on the UI thread.
_ALIVE: set[QObject] = set()


def _release(obj: QObject) -> None:
    # deferred: every queued signal emitted before this one is delivered first
    QTimer.singleShot(0, lambda: _ALIVE.discard(obj))


class JobThread(QThread):
    """A thread that runs submitted jobs (objects with ``run()``) in order, all inside
    one ``run()`` call (see the module docstring for why TensorFlow needs this)."""

    def __init__(self, name: str = "jobs", parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self._jobs: queue.Queue = queue.Queue()
        self._stopping = False

    def submit(self, job) -> None:
        if self._stopping:
            return
        self._jobs.put(job)
        if not self.isRunning():
            self.setStackSize(16 * 1024 * 1024)  # TensorFlow / Keras graph code recurses deeply
            self.start()

    def clear(self) -> None:
        """Drop the jobs not started yet."""
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                return

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Finish the running job, drop the rest, end the thread; False on timeout."""
        self._stopping = True
        self.clear()
        self._jobs.put(None)
        return self.wait(timeout_ms) if self.isRunning() else True

    def run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.run()
            except Exception:  # jobs report their own errors; never let one end the thread
                traceback.print_exc()


def make_pool(threads: int, name: str) -> QThreadPool:
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(threads)
    return pool


class TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Task(QRunnable):
    """``fn(*args, **kwargs)`` in a pool thread."""

    def __init__(self, fn: Callable, *args, **kwargs):
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = TaskSignals()
        _ALIVE.add(self.signals)
        sig = self.signals
        sig.done.connect(lambda _r: _release(sig))
        sig.failed.connect(lambda _m: _release(sig))

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
        except Exception as exc:  # reported, never raised into Qt
            traceback.print_exc()
            self.signals.failed.emit(plain_error(exc))
        else:
            self.signals.done.emit(result)


def run_task(pool: QThreadPool | JobThread, fn: Callable, *args, on_done=None, on_failed=None,
             **kwargs) -> Task:
    task = Task(fn, *args, **kwargs)
    if on_done is not None:
        task.signals.done.connect(on_done)
    if on_failed is not None:
        task.signals.failed.connect(on_failed)
    submit(pool, task)
    return task


def submit(pool: QThreadPool | JobThread, job) -> None:
    if isinstance(pool, JobThread):
        pool.submit(job)
    else:
        pool.start(job)


@dataclass
class AnalysisOptions:
    explain: bool = True
    frames: int = 32


@dataclass
class Outcome:
    """One file's end: ``status`` done / cancelled / error, the AnalysisResult if any, and
    the verdict rule of the detector that made it (``Detector.verdict``)."""

    entry_id: int
    status: str
    result: Any = None
    elapsed: float = 0.0
    error: str | None = None
    verdict_rule: Callable[[float], str] | None = None


class BatchSignals(QObject):
    started = Signal(int)  # entry id
    progress = Signal(int, float)  # entry id, fraction of this file done
    finished = Signal(object)  # Outcome
    batchFinished = Signal(bool)  # cancelled?


class AnalysisBatch(QRunnable):
    """Analyse ``items`` (``[(entry_id, path), ...]``) in order with one detector.

    Stops at the first file after ``cancel`` is set: that file comes back ``cancelled``
    (its partial work discarded) and the files not started are reported ``cancelled``
    too, so the table never shows a file as analysed when it was not."""

    def __init__(self, detector, items: list[tuple[int, Path]], options: AnalysisOptions,
                 cancel: threading.Event):
        super().__init__()
        self.detector = detector
        self.items = list(items)
        self.options = options
        self.cancel = cancel
        self.signals = BatchSignals()
        _ALIVE.add(self.signals)
        sig = self.signals
        sig.batchFinished.connect(lambda _c: _release(sig))

    def run(self) -> None:
        cancelled = False
        try:
            for entry_id, path in self.items:
                if self.cancel.is_set():
                    cancelled = True
                    self.signals.finished.emit(Outcome(entry_id, "cancelled"))
                    continue
                self.signals.finished.emit(self._one(entry_id, path))
            cancelled = cancelled or self.cancel.is_set()
        finally:
            self.signals.batchFinished.emit(cancelled)

    def _one(self, entry_id: int, path: Path) -> Outcome:
        self.signals.started.emit(entry_id)
        last = [-1.0, 0.0]  # last fraction sent, when

        def progress(frac) -> None:
            try:
                f = min(1.0, max(0.0, float(frac)))
            except (TypeError, ValueError):
                return
            now = time.monotonic()
            # at most ~20 updates a second: the UI thread is never flooded
            if f >= 1.0 or (f - last[0] >= 0.005 and now - last[1] >= 0.05):
                last[0], last[1] = f, now
                self.signals.progress.emit(entry_id, f)

        t0 = time.perf_counter()
        try:
            result = self.detector.analyze(
                str(path), explain=self.options.explain, frames=self.options.frames,
                progress=progress, cancel=self.cancel,
            )
        except Exception as exc:  # analyze() promises not to raise for bad files; be safe anyway
            traceback.print_exc()
            if self.cancel.is_set():
                return Outcome(entry_id, "cancelled", elapsed=time.perf_counter() - t0)
            return Outcome(entry_id, "error", elapsed=time.perf_counter() - t0, error=plain_error(exc))
        elapsed = time.perf_counter() - t0
        if self.cancel.is_set():
            return Outcome(entry_id, "cancelled", elapsed=elapsed)
        return Outcome(entry_id, "done", result=result, elapsed=elapsed, verdict_rule=self.detector.verdict)
