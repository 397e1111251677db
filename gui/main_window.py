"""The main window: batch queue (sortable table), result view, models panel, progress
and cancel, export, drag and drop, keyboard shortcuts.

Everything slow runs off the UI thread: model loading and analysis on one job thread (so
they are serialised and TensorFlow is only ever driven from one thread, see
:mod:`gui.workers`), folder walks, picture decoding and exports in a small I/O thread
pool. The UI thread only paints."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .backend import MAKE_HINT, LoadOutcome, default_models_dir, expand_paths, load_detector
from .export import Row, export_rows
from .models_panel import ModelsPanel
from .result_view import ResultView
from .results_model import COL_FILE, ENTRY_ROLE, Entry, ResultsModel, ResultsProxy
from .workers import AnalysisBatch, AnalysisOptions, JobThread, Outcome, make_pool, run_task

APP_TITLE = "Deepfake Checker"
IMAGE_PATTERNS = "*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.gif"
VIDEO_PATTERNS = "*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv"
OPEN_FILTERS = (f"Images and videos ({IMAGE_PATTERNS} {VIDEO_PATTERNS});;Images ({IMAGE_PATTERNS});;"
                f"Videos ({VIDEO_PATTERNS});;All files (*)")
EXPORT_FILTERS = "HTML report (*.html);;JSON (*.json);;CSV (*.csv)"


class ResultsTable(QTableView):
    """The batch table, with a hint painted while it is empty."""

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(16, 16, -16, -16),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Drop images, videos or folders here\nor press Ctrl+O to open files")
            p.end()


class Banner(QFrame):
    """A non-modal message strip above the result (e.g. "no models yet")."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.action_button = QPushButton()
        lay.addWidget(self.action_button)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(close)
        self.kind = ""
        self.hide()

    def show_message(self, html_text: str, kind: str = "uncertain", action: str | None = None) -> None:
        self.kind = kind
        c = theme.verdict_colour(kind, self.palette())
        self.setStyleSheet(f"QFrame#banner {{ border: 1px solid rgba({c.red()}, {c.green()}, {c.blue()}, 140); "
                           f"border-left: 5px solid {c.name()}; border-radius: 4px; }}")
        self.label.setText(html_text)
        self.action_button.setVisible(bool(action))
        if action:
            self.action_button.setText(action)
        self.show()

    def text(self) -> str:
        return self.label.text()


class MainWindow(QMainWindow):
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
        self._batch: AnalysisBatch | None = None
        self._batch_ids: list[int] = []
        self._batch_done = 0
        self._batch_progress = 0.0
        self._cancel: threading.Event | None = None
        self._warm_task = None
        self.analysis_thread = JobThread("analysis", self)
        self.io_pool = make_pool(2, "io")

        self.model = ResultsModel(self)
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build_ui(frames, explain)
        self._build_actions()
        self._update_actions()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_theme)
        self.resize(1280, 800)
        if load:
            self.load_models()  # in the analysis thread: the window shows meanwhile

    # ================================================================== UI
    def _build_ui(self, frames: int, explain: bool) -> None:
        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.setSpacing(0)
        self.banner = Banner()
        self.banner.action_button.clicked.connect(self.choose_models_folder)
        banner_wrap = QWidget()
        bw = QVBoxLayout(banner_wrap)
        bw.setContentsMargins(10, 8, 10, 0)
        bw.addWidget(self.banner)
        cv.addWidget(banner_wrap)
        self.view = ResultView(self.io_pool)
        cv.addWidget(self.view, 1)
        self.setCentralWidget(central)

        # files dock: filter + table
        files = QWidget()
        fv = QVBoxLayout(files)
        fv.setContentsMargins(6, 6, 6, 6)
        fv.setSpacing(4)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by file name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        fv.addWidget(self.filter)
        self.table = ResultsTable()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.setAccessibleName("Files and their verdicts")
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        fv.addWidget(self.table, 1)
        self.files_dock = QDockWidget("Files", self)
        self.files_dock.setObjectName("filesDock")
        self.files_dock.setWidget(files)
        self.files_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                    | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.files_dock)

        self.models_panel = ModelsPanel()
        self.models_panel.chooseFolder.connect(self.choose_models_folder)
        self.models_panel.reloadRequested.connect(lambda: self.load_models(self.models_dir))
        self.models_dock = QDockWidget("Models", self)
        self.models_dock.setObjectName("modelsDock")
        self.models_dock.setWidget(self.models_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.models_dock)
        self.resizeDocks([self.files_dock], [450], Qt.Orientation.Horizontal)
        self.resizeDocks([self.files_dock, self.models_dock], [480, 260], Qt.Orientation.Vertical)

        # options living in the toolbar
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(1, 512)
        self.frames_spin.setValue(int(frames))
        self.frames_spin.setSuffix(" frames")
        self.frames_spin.setToolTip("Frames sampled evenly from each video")
        self.explain_check = QCheckBox("Explain with Grad-CAM")
        self.explain_check.setChecked(bool(explain))
        self.explain_check.setToolTip("Compute Grad-CAM heatmaps (slower; needed for the heatmap overlay)")

        # status bar: message, progress, cancel
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the analysis (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.models_status = QLabel()
        self.models_status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.models_status)

    def _action(self, text: str, slot, shortcuts=(), tip: str = "", icon: str | None = None) -> QAction:
        act = QAction(text, self)
        if icon:
            ic = self.style().standardIcon(getattr(self.style().StandardPixmap, icon))
            act.setIcon(ic)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip or shortcuts:
            keys = ", ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText) for s in shortcuts)
            act.setToolTip(f"{tip or text.replace('…', '')}" + (f" ({keys})" if keys else ""))
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        self.act_open = self._action("&Open…", self.open_dialog, ["Ctrl+O"], "Open images or videos",
                                     "SP_DialogOpenButton")
        self.act_open_folder = self._action("Open &folder…", self.open_folder_dialog, ["Ctrl+Shift+O"],
                                            "Open every image and video in a folder", "SP_DirOpenIcon")
        self.act_analyse = self._action("&Analyse", self.analyse, ["Ctrl+R", "F5"],
                                        "Analyse the files not analysed yet (or the selected ones again)",
                                        "SP_MediaPlay")
        self.act_cancel = self._action("&Cancel", self.cancel, ["Esc"], "Stop the analysis", "SP_MediaStop")
        self.act_export = self._action("&Export…", self.export_dialog, ["Ctrl+E"],
                                       "Export the results as HTML report, JSON or CSV", "SP_DialogSaveButton")
        self.act_remove = self._action("&Remove from list", self.remove_selected, ["Del"],
                                       "Remove the selected files from the list")
        self.act_clear = self._action("C&lear list", self.clear_list, [], "Remove every file from the list")
        self.act_models = self._action("Choose &models folder…", self.choose_models_folder, ["Ctrl+M"],
                                       "Load the models from another folder")
        self.act_quit = self._action("&Quit", self.close, ["Ctrl+Q"])
        self.act_heat = QAction("Show Grad-CAM &heatmap", self)
        self.act_heat.setCheckable(True)
        self.act_heat.setShortcut(QKeySequence("Ctrl+H"))
        self.act_heat.toggled.connect(self.view.heat_toggle.setChecked)
        self.view.heat_toggle.toggled.connect(self.act_heat.setChecked)
        self.addAction(self.act_heat)
        self.act_shortcuts = self._action("&Keyboard shortcuts", self._show_shortcuts, ["F1"])
        self.act_about = self._action("&About", self._show_about)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, None, self.act_export, None, self.act_models, None,
                  self.act_quit):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&Analysis")
        for a in (self.act_analyse, self.act_cancel, None, self.act_remove, self.act_clear):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&View")
        m.addAction(self.act_heat)
        m.addSeparator()
        m.addAction(self.files_dock.toggleViewAction())
        m.addAction(self.models_dock.toggleViewAction())
        m = mb.addMenu("&Help")
        m.addAction(self.act_shortcuts)
        m.addAction(self.act_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.act_open, self.act_open_folder, None, self.act_analyse, self.act_cancel, None,
                  self.act_export):
            tb.addSeparator() if a is None else tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(self.frames_spin)
        tb.addWidget(self.explain_check)

    # ================================================================== models
    def load_models(self, models_dir: str | os.PathLike | None = None) -> None:
        """(Re)load the ensemble from ``models_dir`` (default: the window's folder, else
        the study's ``models/dfd-default``) in the analysis thread."""
        if models_dir is not None:
            self.models_dir = Path(models_dir).expanduser()
        if self._cancel is not None:
            self._cancel.set()  # a running batch stops; the loader runs right after it
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
            self.models_status.setText(f"{n} model{'s' if n != 1 else ''}" + (f" · {ens}" if ens else ""))
            self.statusBar().showMessage(f"Models loaded in {outcome.seconds:.1f} s", 5000)
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
        from html import escape

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

    # ================================================================== opening files
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
        run_task(self.io_pool, expand_paths, paths, on_done=self._on_expanded,
                 on_failed=lambda msg: self.statusBar().showMessage(f"Could not open: {msg}", 10000))

    def _on_expanded(self, expanded) -> None:
        files, problems = expanded
        new = self.model.add_paths(files)
        if problems:
            self.statusBar().showMessage("; ".join(problems[:3]) + (" …" if len(problems) > 3 else ""), 10000)
        elif new:
            self.statusBar().showMessage(f"Added {len(new)} file{'s' if len(new) != 1 else ''}", 4000)
        elif files:
            self.statusBar().showMessage("Those files are already in the list", 4000)
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

    # drag and drop ----------------------------------------------------------
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

    # ================================================================== analysis
    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(explain=self.explain_check.isChecked(), frames=self.frames_spin.value())

    @property
    def running(self) -> bool:
        return self._batch is not None

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
        if self._batch is not None or self.detector is None:
            return
        queued = [e for e in self.model.entries() if e.status == "queued"]
        if not queued:
            return
        self._cancel = threading.Event()
        batch = AnalysisBatch(self.detector, [(e.id, e.path) for e in queued], self.analysis_options(),
                              self._cancel)
        batch.signals.started.connect(self._on_started)
        batch.signals.progress.connect(self._on_progress)
        batch.signals.finished.connect(self._on_finished)
        batch.signals.batchFinished.connect(self._on_batch_finished)
        self._batch = batch
        self._batch_ids = [e.id for e in queued]
        self._batch_done = 0
        self._batch_progress = 0.0
        self.progress.setValue(0)
        self.progress.setFormat(f"0 of {len(queued)}")
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self._update_actions()
        self.analysis_thread.submit(batch)

    def cancel(self) -> None:
        """Esc: stop the running analysis; the file being analysed and those waiting in this
        batch are marked cancelled (Ctrl+R analyses them again)."""
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage("Cancelling…")

    def _on_started(self, entry_id: int) -> None:
        self.model.update(entry_id, status="running", progress=0.0)
        e = self.model.entry(entry_id)
        if e is not None:
            self.statusBar().showMessage(f"Analysing {e.name}…")
        self._batch_progress = 0.0
        self._update_progress()
        self._refresh_view(entry_id)

    def _on_progress(self, entry_id: int, frac: float) -> None:
        e = self.model.entry(entry_id)
        if e is None or e.status != "running":
            return
        self.model.update(entry_id, progress=frac)
        self._batch_progress = frac
        self._update_progress()
        self._refresh_view(entry_id)

    def _update_progress(self) -> None:
        n = max(1, len(self._batch_ids))
        value = (self._batch_done + min(1.0, self._batch_progress)) / n
        self.progress.setValue(round(1000 * value))
        self.progress.setFormat(f"{min(self._batch_done + 1, n)} of {n} · {round(100 * value)}%")

    def _on_finished(self, outcome: Outcome) -> None:
        e = self.model.entry(outcome.entry_id)
        self._batch_done += 1
        self._batch_progress = 0.0
        if e is None:  # removed from the list meanwhile
            return
        fields = {"status": outcome.status, "progress": 1.0 if outcome.status == "done" else 0.0,
                  "result": outcome.result, "elapsed": outcome.elapsed if outcome.elapsed else None,
                  "error": outcome.error}
        kind = getattr(outcome.result, "kind", None)
        if kind:
            fields["kind"] = kind
        if outcome.status == "cancelled":
            fields["elapsed"] = None
        self.model.update(outcome.entry_id, **fields)
        self._update_progress()
        self._refresh_view(outcome.entry_id)
        self.entryFinished.emit(outcome.entry_id)

    def _on_batch_finished(self, cancelled: bool) -> None:
        ids = self._batch_ids
        self._batch = None
        self._batch_ids = []
        self._cancel = None
        self.progress.hide()
        self.cancel_button.hide()
        entries = [self.model.entry(i) for i in ids]
        counts = Counter(e.verdict for e in entries if e is not None)
        text = ", ".join(f"{n} {theme.VERDICT_LABELS.get(v, v).lower()}" for v, n in counts.most_common())
        if cancelled:
            self.statusBar().showMessage(f"Cancelled ({text})", 8000)
        else:
            self.statusBar().showMessage(f"Analysed {len(ids)} file{'s' if len(ids) != 1 else ''}: {text}", 8000)
        self._update_actions()
        self.batchFinished.emit(cancelled)
        if not cancelled and self.auto_analyse and not self.loading:
            self._start_batch()  # files added while this batch ran

    # ================================================================== selection / view
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
        if self._cancel is not None:
            self._cancel.set()
        running = {e.id for e in self.model.entries() if e.status == "running"}
        self.model.remove([e.id for e in self.model.entries() if e.id not in running])
        if not running:
            self.view.show_entry(None)
        self._update_actions()

    def _table_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction(self.act_analyse)
        menu.addAction(self.act_remove)
        entry = self.current_entry()
        if entry is not None:
            copy = menu.addAction("Copy path")
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(str(entry.path)))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _update_actions(self) -> None:
        has_rows = self.model.rowCount() > 0
        self.act_cancel.setEnabled(self._batch is not None)
        self.act_export.setEnabled(has_rows)
        self.act_clear.setEnabled(has_rows)
        self.act_remove.setEnabled(has_rows)
        self.act_analyse.setEnabled(has_rows)

    # ================================================================== export
    def export_dialog(self) -> None:
        if not self.model.rowCount():
            self.statusBar().showMessage("Nothing to export yet: open and analyse files first", 4000)
            return
        start = str(Path(self._start_dir()) / "deepfake-check.html")
        path, selected = QFileDialog.getSaveFileName(self, "Export results", start, EXPORT_FILTERS)
        if not path:
            return
        if not Path(path).suffix:
            path += {"JSON": ".json", "CSV": ".csv"}.get(selected.split(" ")[0], ".html")
        self.export_to(path)

    def export_to(self, path: str | os.PathLike, fmt: str | None = None) -> None:
        """Export every file in the list (format from ``fmt`` or the suffix) in the
        background; ``exported(path)`` or ``exportFailed(message)`` follows."""
        rows = [Row.from_entry(e) for e in self.model.entries()]
        info = dict(self.outcome.info) if self.outcome is not None and self.outcome.ok else None
        self.statusBar().showMessage(f"Exporting {len(rows)} files to {Path(path).name}…")
        run_task(self.io_pool, export_rows, rows, Path(path), fmt, info,
                 on_done=self._on_exported, on_failed=self._on_export_failed)

    def _on_exported(self, path) -> None:
        self.statusBar().showMessage(f"Exported to {path}", 8000)
        self.exported.emit(str(path))

    def _on_export_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Export failed: {message}", 10000)
        self.banner.show_message(f"Export failed: {message}", "error")
        self.exportFailed.emit(message)

    # ================================================================== misc
    def _on_theme(self, *_args) -> None:
        self.model.refresh_theme()
        self.view.show_entry(self.view.entry, force=True)
        if self.banner.isVisible() and self.banner.kind == "models":
            self._show_models_banner()

    def changeEvent(self, event) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._on_theme()
        super().changeEvent(event)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join([
            "Ctrl+O\tOpen images or videos", "Ctrl+Shift+O\tOpen a folder", "Ctrl+R, F5\tAnalyse",
            "Esc\tCancel the analysis", "Ctrl+E\tExport (HTML, JSON, CSV)", "Ctrl+H\tGrad-CAM heatmap",
            "Ctrl+M\tChoose models folder", "Del\tRemove from list", "←/→\tStep through video frames (timeline)",
        ]))

    def _show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_TITLE}",
                          "Checks local photos and videos for face manipulation with the models trained by "
                          "this project. Everything runs on this computer; nothing is uploaded.")

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop background work and wait for it (called on close)."""
        if self._cancel is not None:
            self._cancel.set()
        self.analysis_thread.stop(timeout_ms)
        self.io_pool.clear()
        self.io_pool.waitForDone(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def ensure_app(argv=None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [])
        app.setApplicationName(APP_TITLE)
        app.setOrganizationName("dfd")
        app.setApplicationDisplayName(APP_TITLE)
        theme.follow_system_scheme(app)
    return app
