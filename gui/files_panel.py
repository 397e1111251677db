"""The Files dock: a filter box, the batch queue's table and the files left out."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QWidget

from .builders import column
from .results_table import ResultsTable
from .skipped_files import SkippedFiles


class FilesPanel(QWidget):
    """Shows ``proxy`` (a :class:`~gui.results_model.ResultsProxy`) filtered by file name."""

    def __init__(self, proxy, parent=None):
        super().__init__(parent)
        lay = column(self, (6, 6, 6, 6), 4)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by file name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(proxy.setFilterFixedString)
        lay.addWidget(self.filter)
        self.table = ResultsTable(proxy)
        lay.addWidget(self.table, 1)
        self.skipped = SkippedFiles()
        lay.addWidget(self.skipped)
