"""The main window: the batch queue (Files dock), the result view, the models panel,
progress and cancel, export, drag and drop, keyboard shortcuts.

Everything slow runs off the UI thread: model loading and analysis on one job thread (so
they are serialised and TensorFlow is only ever driven from one thread, see
:mod:`gui.workers`; the queue itself is run by :class:`gui.batch_runner.BatchRunner`),
folder walks, picture decoding and exports in a small I/O thread pool. The UI thread
only paints."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QWidget,
)

from .backend import (
    MAKE_HINT,
    LoadOutcome,
    default_models_dir,
    expand_paths,
    load_detector,
)
from .banner import Banner
from .batch_runner import BatchRunner
from .builders import column
from .dialogs import (
    APP_TITLE,
    EXPORT_FILTERS,
    EXPORT_SUFFIXES,
    OPEN_FILTERS,
)
from .export import export_rows
from .files_panel import FilesPanel
from .formatting import count, seconds, verdict_counts
from .main_actions import MainWindowActions
from .models_panel import ModelsPanel
from .report_rows import Row
from .result_view import ResultView
from .results_model import ENTRY_ROLE, Entry, ResultsModel, ResultsProxy
from .workers import AnalysisOptions, JobThread, make_pool, run_task


class MainWindow(MainWindowActions, QMainWindow):
    ready = Signal()  # window shown and models loaded
    modelsLoaded = Signal(object)  # LoadOutcome, whether it worked or not
    entryFinished = Signal(int)  # entry id
    batchFinished = Signal(bool)  # cancelled?
    exported = Signal(str)
    exportFailed = Signal(str)

    def __init__(self, models_dir: str | os.PathLike | None = None, *, frames: int = 32,
                 explain: bool = True, auto_analyse: bool = True, load: bool = True):
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.models_dir = Path(models_dir).expanduser() if models_dir else None
        self.auto_analyse = auto_analyse
        self.detector = None
        self.outcome: LoadOutcome | None = None
        self.loading = False
        self._ready_sent = False
        self.analysis_thread = JobThread("analysis", self)
        self.io_pool = make_pool(2, "io")

        self.model = ResultsModel(self)
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.runner = BatchRunner(self.model, self.analysis_thread, self)
        self.runner.entryStarted.connect(self._on_started)
        self.runner.entryChanged.connect(self._refresh_view)
        self.runner.progressed.connect(self._on_progress)
        self.runner.entryFinished.connect(self.entryFinished)
        self.runner.batchFinished.connect(self._on_batch_finished)
        self._build_ui(frames, explain)
        self._build_actions()
        self._update_actions()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_theme)
        self.resize(1280, 800)
        if load:
            self.load_models()  # in the analysis thread: the window shows meanwhile

    def _build_ui(self, frames: int, explain: bool) -> None:
        central = QWidget()
        cv = column(central, spacing=0)
        self.banner = Banner()
        self.banner.action_button.clicked.connect(self.choose_models_folder)
        banner_wrap = QWidget()
        bw = column(banner_wrap, (10, 8, 10, 0))
        bw.addWidget(self.banner)
        cv.addWidget(banner_wrap)
        self.view = ResultView(self.io_pool)
        cv.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.files_panel = FilesPanel(self.proxy)
        self.filter, self.table, self.skipped = (self.files_panel.filter, self.files_panel.table,
                                                 self.files_panel.skipped)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.files_dock = self._dock("Files", "filesDock", self.files_panel)
        self.models_panel = ModelsPanel()
        self.models_panel.chooseFolder.connect(self.choose_models_folder)
        self.models_panel.reloadRequested.connect(lambda: self.load_models(self.models_dir))
        self.models_dock = self._dock("Models", "modelsDock", self.models_panel)
        self.resizeDocks([self.files_dock], [450], Qt.Orientation.Horizontal)
        self.resizeDocks([self.files_dock, self.models_dock], [480, 260], Qt.Orientation.Vertical)
        self._build_controls(frames, explain)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        return dock

    # models
    def load_models(self, models_dir: str | os.PathLike | None = None) -> None:
        """(Re)load the ensemble from ``models_dir`` (default: the window's folder, else
        the study's ``models/dfd-default``) in the analysis thread."""
        if models_dir is not None:
            self.models_dir = Path(models_dir).expanduser()
        self.runner.cancel()  # a running batch stops; the loader runs right after it
        self.detector = None
        self.loading = True
        shown = self.models_dir or default_models_dir()
        self.models_panel.set_loading(shown)
        self.models_status.setText("Loading models…")
        self.statusBar().showMessage(f"Loading models from {shown}…")
        self._update_actions()
        run_task(self.analysis_thread, load_detector, self.models_dir,
                 on_done=self._on_models, on_failed=self._on_models_crash)

    def _on_models_crash(self, message: str) -> None:
        self._on_models(LoadOutcome(self.models_dir, message=message))

    def _on_models(self, outcome: LoadOutcome) -> None:
        self.loading = False
        self.outcome = outcome
        self.models_panel.set_outcome(outcome)
        if outcome.ok:
            self.detector = outcome.detector
            if outcome.models_dir is not None:
                self.models_dir = outcome.models_dir
            n = len((outcome.info or {}).get("models") or [])
            ens = (outcome.info or {}).get("ensemble_name") or ""
            self.models_status.setText(count(n, "model") + (f" · {ens}" if ens else ""))
            self.statusBar().showMessage(f"Models loaded in {seconds(outcome.seconds)}", 5000)
            if self.banner.kind == "models":
                self.banner.hide()
            if hasattr(self.detector, "warmup"):
                # trace the graphs now, in the analysis thread, so the first file is fast
                run_task(self.analysis_thread, self.detector.warmup)
        else:
            self.detector = None
            self.models_status.setText("No models" if outcome.missing else "Models failed to load")
            self.statusBar().showMessage(outcome.message, 10000)
            if self.model.rowCount():
                self._show_models_banner()
        self._update_actions()
        self.modelsLoaded.emit(outcome)
        self._maybe_ready()
        if outcome.ok and self.auto_analyse:
            self._start_batch()

    def _show_models_banner(self) -> None:
        msg = self.outcome.message if self.outcome is not None else "No models loaded."
        hint = escape(MAKE_HINT).replace("`make reproduce`", "<code>make reproduce</code>")
        self.banner.show_message(f"{escape(msg)} <b>{hint}</b> Your files stay in the list and are "
                                 "analysed once models are loaded.", "uncertain", "Choose models folder…")
        self.banner.kind = "models"

    def _maybe_ready(self) -> None:
        if not self._ready_sent and self.detector is not None and self.isVisible():
            self._ready_sent = True
            self.ready.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._maybe_ready)

    def choose_models_folder(self) -> None:
        start = str(self.models_dir or default_models_dir())
        folder = QFileDialog.getExistingDirectory(self, "Choose the models folder (with bundle.json)", start)
        if folder:
            self.load_models(folder)

    # opening files
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images or videos", self._start_dir(), OPEN_FILTERS)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images and videos", self._start_dir())
        if folder:
            self.open_paths([folder])

    def _start_dir(self) -> str:
        entries = self.model.entries()
        return str(entries[-1].path.parent) if entries else str(Path.home())

    def open_paths(self, paths) -> None:
        """Queue files and folders (folders walked in the background). The same path for
        the file dialogs, drag and drop and the command line."""
        paths = [os.fspath(p) for p in paths if p]
        if not paths:
            return
        self.statusBar().showMessage("Adding files…")
        limits = getattr(self.detector, "limits", None)
        run_task(self.io_pool, expand_paths, paths, getattr(limits, "max_bytes", None), on_done=self._on_expanded,
                 on_failed=lambda msg: self.statusBar().showMessage(f"Could not open: {msg}", 10000))

    def _on_expanded(self, expanded) -> None:
        files = expanded.files
        new = self.model.add_paths(files)
        left_out = self.skipped.add(expanded.skipped)
        note = f"; {count(left_out, 'file')} left out (listed under the queue)" if left_out else ""
        if expanded.problems:
            problems = expanded.problems
            self.statusBar().showMessage("; ".join(problems[:3]) + (" …" if len(problems) > 3 else "") + note,
                                         10000)
        elif new:
            self.statusBar().showMessage(f"Added {count(len(new), 'file')}{note}", 6000)
        elif files:
            self.statusBar().showMessage(f"Those files are already in the list{note}", 4000)
        target = new[0] if new else (self.model.find_path(files[0]) if files else None)
        if target is not None:
            self.select_entry(target.id)
        if new:
            if self.detector is not None:
                if self.auto_analyse:
                    self._start_batch()
            elif self.loading:
                self.statusBar().showMessage("Files queued: they are analysed as soon as the models are loaded",
                                             6000)
            else:
                self._show_models_banner()
        self._update_actions()

    @staticmethod
    def _local_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event) -> None:
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = self._local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # analysis
    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(explain=self.explain_check.isChecked(), frames=self.frames_spin.value())

    @property
    def running(self) -> bool:
        return self.runner.running

    def analyse(self) -> None:
        """Ctrl+R: analyse every file not analysed yet (queued, cancelled or failed); if
        there is none, analyse the selected files again."""
        if self.detector is None:
            if self.loading:
                self.statusBar().showMessage("The models are still loading; analysis starts when they are ready",
                                             5000)
            else:
                self._show_models_banner()
            return
        pending = [e for e in self.model.entries() if e.status in ("queued", "cancelled", "error")]
        if not pending:
            pending = [e for e in self.selected_entries() if e.status != "running"]
        for e in pending:
            if e.status != "queued":
                self.model.update(e.id, status="queued", progress=0.0, result=None, elapsed=None, error=None)
        if not pending:
            self.statusBar().showMessage("Nothing to analyse: open files first (Ctrl+O)", 4000)
            return
        self._start_batch()
        self._refresh_view()

    def _start_batch(self) -> None:
        n = self.runner.start(self.detector, self.analysis_options())
        if not n:
            return
        self.progress.setValue(0)
        self.progress.setFormat(f"0 of {n}")
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self._update_actions()

    def cancel(self) -> None:
        """Esc: stop the running analysis; the file being analysed and those waiting in this
        batch are marked cancelled (Ctrl+R analyses them again)."""
        if self.runner.cancel():
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage("Cancelling…")

    def _on_started(self, entry_id: int) -> None:
        e = self.model.entry(entry_id)
        if e is not None:
            self.statusBar().showMessage(f"Analysing {e.name}…")

    def _on_progress(self, value: float, text: str) -> None:
        self.progress.setValue(round(1000 * value))
        self.progress.setFormat(text)

    def _on_batch_finished(self, cancelled: bool, ids: list) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        text = verdict_counts(e.verdict for e in map(self.model.entry, ids) if e is not None)
        if cancelled:
            self.statusBar().showMessage(f"Cancelled ({text})", 8000)
        else:
            self.statusBar().showMessage(f"Analysed {count(len(ids), 'file')}: {text}", 8000)
        self._update_actions()
        self.batchFinished.emit(cancelled)
        if not cancelled and self.auto_analyse and not self.loading:
            self._start_batch()  # files added while this batch ran

    # selection and the result view
    def selected_entries(self) -> list[Entry]:
        rows = self.table.selectionModel().selectedRows()
        return [r.data(ENTRY_ROLE) for r in rows if r.data(ENTRY_ROLE) is not None]

    def current_entry(self) -> Entry | None:
        idx = self.table.currentIndex()
        return idx.data(ENTRY_ROLE) if idx.isValid() else None

    def select_entry(self, entry_id: int) -> None:
        row = self.model.row_of(entry_id)
        if row < 0:
            return
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        if not idx.isValid():  # filtered out
            return
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx)

    def _on_current_changed(self, current: QModelIndex, _previous) -> None:
        self.view.show_entry(current.data(ENTRY_ROLE) if current.isValid() else None)
        self._update_actions()

    def _refresh_view(self, entry_id: int | None = None) -> None:
        e = self.current_entry()
        if e is not None and (entry_id is None or e.id == entry_id):
            self.view.show_entry(e)

    def remove_selected(self) -> None:
        ids = [e.id for e in self.selected_entries() if e.status != "running"]
        if ids:
            self.model.remove(ids)
            if self.model.rowCount() == 0:
                self.view.show_entry(None)
            self._update_actions()

    def clear_list(self) -> None:
        self.runner.cancel()
        running = {e.id for e in self.model.entries() if e.status == "running"}
        self.model.remove([e.id for e in self.model.entries() if e.id not in running])
        self.skipped.clear()
        if not running:
            self.view.show_entry(None)
        self._update_actions()

    # export
    def export_dialog(self) -> None:
        if not self.model.rowCount():
            self.statusBar().showMessage("Nothing to export yet: open and analyse files first", 4000)
            return
        start = str(Path(self._start_dir()) / "deepfake-check.html")
        path, selected = QFileDialog.getSaveFileName(self, "Export results", start, EXPORT_FILTERS)
        if not path:
            return
        if not Path(path).suffix:
            path += EXPORT_SUFFIXES.get(selected.split(" ")[0], ".html")
        self.export_to(path)

    def export_to(self, path: str | os.PathLike, fmt: str | None = None) -> None:
        """Export every file in the list, and those left out, (format from ``fmt`` or the
        suffix) in the background; ``exported(path)`` or ``exportFailed(message)`` follows."""
        rows = [Row.from_entry(e) for e in self.model.entries()]
        info = dict(self.outcome.info) if self.outcome is not None and self.outcome.ok else None
        self.statusBar().showMessage(f"Exporting {count(len(rows), 'file')} to {Path(path).name}…")
        run_task(self.io_pool, export_rows, rows, Path(path), fmt, info, skipped=self.skipped.entries(),
                 on_done=self._on_exported, on_failed=self._on_export_failed)

    def _on_exported(self, path) -> None:
        self.statusBar().showMessage(f"Exported to {path}", 8000)
        self.exported.emit(str(path))

    def _on_export_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Export failed: {message}", 10000)
        self.banner.show_message(f"Export failed: {escape(message)}", "error")
        self.exportFailed.emit(message)

    # theme and closing
    def _on_theme(self, *_args) -> None:
        self.model.refresh_theme()
        self.view.show_entry(self.view.entry, force=True)
        if self.banner.isVisible() and self.banner.kind == "models":
            self._show_models_banner()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._on_theme()
        super().changeEvent(event)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop background work and wait for it (called on close)."""
        self.runner.cancel()
        self.analysis_thread.stop(timeout_ms)
        self.io_pool.clear()
        self.io_pool.waitForDone(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
