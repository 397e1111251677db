"""Runs the queue: the queued entries of a :class:`~gui.results_model.ResultsModel` go
through one detector as a batch on the analysis thread (:class:`gui.workers.AnalysisBatch`);
the entries are updated as the results arrive. One batch at a time; the window shows the
progress and starts the next batch."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from .formatting import percent
from .results_model import ResultsModel
from .workers import AnalysisBatch, AnalysisOptions, JobThread, Outcome


class BatchRunner(QObject):
    entryStarted = Signal(int)  # entry id now analysed
    entryChanged = Signal(int)  # an entry's status, progress or result changed
    progressed = Signal(float, str)  # fraction of the batch done, e.g. "2 of 5 · 40%"
    entryFinished = Signal(int)  # entry id
    batchFinished = Signal(bool, list)  # cancelled?, the batch's entry ids

    def __init__(self, model: ResultsModel, thread: JobThread, parent=None):
        super().__init__(parent)
        self.model = model
        self.thread = thread
        self._batch: AnalysisBatch | None = None
        self._ids: list[int] = []
        self._done = 0
        self._current = 0.0  # fraction of the file being analysed
        self._cancel: threading.Event | None = None

    @property
    def running(self) -> bool:
        return self._batch is not None

    def start(self, detector, options: AnalysisOptions) -> int:
        """Analyse every queued entry; returns how many (0: nothing queued, or a batch runs)."""
        if self._batch is not None or detector is None:
            return 0
        queued = [e for e in self.model.entries() if e.status == "queued"]
        if not queued:
            return 0
        self._cancel = threading.Event()
        batch = AnalysisBatch(detector, [(e.id, e.path) for e in queued], options, self._cancel)
        batch.signals.started.connect(self._on_started)
        batch.signals.progress.connect(self._on_progress)
        batch.signals.finished.connect(self._on_finished)
        batch.signals.batchFinished.connect(self._on_batch_finished)
        self._batch, self._ids, self._done, self._current = batch, [e.id for e in queued], 0, 0.0
        self.thread.submit(batch)
        return len(queued)

    def cancel(self) -> bool:
        """Stop the running batch: the file being analysed and those waiting come back
        cancelled. False if nothing was running (or it is already stopping)."""
        if self._cancel is None or self._cancel.is_set():
            return False
        self._cancel.set()
        return True

    def progress_text(self) -> tuple[float, str]:
        n = max(1, len(self._ids))
        value = (self._done + min(1.0, self._current)) / n
        return value, f"{min(self._done + 1, n)} of {n} · {percent(value, 0)}"

    def _emit_progress(self) -> None:
        self.progressed.emit(*self.progress_text())

    def _on_started(self, entry_id: int) -> None:
        self.model.update(entry_id, status="running", progress=0.0)
        self._current = 0.0
        self._emit_progress()
        self.entryStarted.emit(entry_id)
        self.entryChanged.emit(entry_id)

    def _on_progress(self, entry_id: int, frac: float) -> None:
        e = self.model.entry(entry_id)
        if e is None or e.status != "running":
            return
        self.model.update(entry_id, progress=frac)
        self._current = frac
        self._emit_progress()
        self.entryChanged.emit(entry_id)

    def _on_finished(self, outcome: Outcome) -> None:
        self._done += 1
        self._current = 0.0
        if self.model.entry(outcome.entry_id) is None:  # removed from the list meanwhile
            return
        fields = {"status": outcome.status, "progress": 1.0 if outcome.status == "done" else 0.0,
                  "result": outcome.result, "elapsed": outcome.elapsed if outcome.elapsed else None,
                  "error": outcome.error, "verdict_rule": outcome.verdict_rule}
        kind = getattr(outcome.result, "kind", None)
        if kind:
            fields["kind"] = kind
        if outcome.status == "cancelled":
            fields["elapsed"] = None
        self.model.update(outcome.entry_id, **fields)
        self._emit_progress()
        self.entryChanged.emit(outcome.entry_id)
        self.entryFinished.emit(outcome.entry_id)

    def _on_batch_finished(self, cancelled: bool) -> None:
        ids = self._ids
        self._batch, self._ids, self._cancel = None, [], None
        self.batchFinished.emit(cancelled, ids)
