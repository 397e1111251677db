"""The main window's actions (menus, toolbar, shortcuts, the table's context menu), the
toolbar's options and the status bar's progress and cancel: the commands half of
:class:`gui.main_window.MainWindow`, which mixes this class in."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QMenu,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from .builders import muted_label
from .dialogs import show_about, show_shortcuts


class MainWindowActions:
    """Needs the window's slots (open_dialog, analyse, cancel, export_dialog...), its
    ``view``, ``table``, ``model``, ``runner``, ``skipped`` and the two docks."""

    def _build_controls(self, frames: int, explain: bool) -> None:
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
        self.models_status = muted_label(wrap=False)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.models_status)

    def _action(self, text: str, slot, shortcuts=(), tip: str = "", icon: str | None = None) -> QAction:
        act = QAction(text, self)
        if icon:
            act.setIcon(self.style().standardIcon(getattr(self.style().StandardPixmap, icon)))
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
        self.act_shortcuts = self._action("&Keyboard shortcuts", lambda: show_shortcuts(self), ["F1"])
        self.act_about = self._action("&About", lambda: show_about(self))

        mb = self.menuBar()
        menus = {
            "&File": (self.act_open, self.act_open_folder, None, self.act_export, None, self.act_models, None,
                      self.act_quit),
            "&Analysis": (self.act_analyse, self.act_cancel, None, self.act_remove, self.act_clear),
            "&View": (self.act_heat, None, self.files_dock.toggleViewAction(), self.models_dock.toggleViewAction()),
            "&Help": (self.act_shortcuts, self.act_about),
        }
        for title, acts in menus.items():
            m = mb.addMenu(title)
            for a in acts:
                m.addSeparator() if a is None else m.addAction(a)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.act_open, self.act_open_folder, None, self.act_analyse, self.act_cancel, None,
                  self.act_export, None):
            tb.addSeparator() if a is None else tb.addAction(a)
        tb.addWidget(self.frames_spin)
        tb.addWidget(self.explain_check)

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
        self.act_cancel.setEnabled(self.runner.running)
        self.act_export.setEnabled(has_rows)
        self.act_clear.setEnabled(has_rows or bool(self.skipped.entries()))
        self.act_remove.setEnabled(has_rows)
        self.act_analyse.setEnabled(has_rows)
