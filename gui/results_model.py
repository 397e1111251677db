"""The batch queue: one :class:`Entry` per file, shown by :class:`ResultsModel` (a
``QAbstractTableModel``) through :class:`ResultsProxy` (sorting and filtering)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from . import theme
from .formatting import percent, seconds, verdict_label
from .previews import guess_kind

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("File", "Type", "Verdict", "P(fake)", "Faces", "Time")
COL_FILE, COL_TYPE, COL_VERDICT, COL_PFAKE, COL_FACES, COL_TIME = range(len(COLUMNS))

# verdict order when sorting the Verdict column: the files that need attention first
_VERDICT_ORDER = {v: i for i, v in enumerate(
    ("fake", "uncertain", "real", "no_face", "error", "cancelled", "running", "queued"))}

_ids = itertools.count(1)


@dataclass
class Entry:
    """One file in the batch. ``status``: queued, running, done, cancelled or error
    (``error`` = the app could not run the analysis at all; a file the detector could not
    read is ``done`` with ``result.verdict == "error"``). ``verdict_rule`` is the verdict
    rule of the detector that analysed it (``Detector.verdict``), for its faces, frames
    and per-model scores."""

    path: Path
    kind: str = ""
    status: str = "queued"
    progress: float = 0.0
    result: Any = None  # dfd.inference.AnalysisResult
    elapsed: float | None = None
    error: str | None = None
    verdict_rule: Callable[[float], str] | None = None
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)

    @property
    def verdict(self) -> str:
        if self.status == "done" and self.result is not None:
            return str(getattr(self.result, "verdict", "error") or "error")
        return self.status

    @property
    def p_fake(self) -> float | None:
        if self.status != "done" or self.result is None:
            return None
        p = getattr(self.result, "p_fake", None)
        return None if p is None else float(p)

    @property
    def message(self) -> str | None:
        """The error in plain words, if any."""
        if self.error:
            return self.error
        if self.result is not None and getattr(self.result, "error", None):
            return str(self.result.error)
        return None

    @property
    def n_faces(self) -> int | None:
        r = self.result
        if self.status != "done" or r is None or getattr(r, "verdict", None) == "error":
            return None
        faces = list(getattr(r, "faces", None) or [])
        if getattr(r, "kind", None) == "video":
            tracks = {f.track_id for f in faces if getattr(f, "track_id", None) is not None}
            if tracks:
                return len(tracks)
            per_frame = [getattr(fr, "n_faces", 0) or 0 for fr in (getattr(r, "frames", None) or [])]
            return max(per_frame, default=0)
        return len(faces)

    def score_verdict(self, p: float | None) -> str:
        """The verdict of one score of this file (a face, a frame, a model) by the rule of
        the detector that analysed it: 'no_face' without a score, '' without a rule."""
        if p is None:
            return "no_face"
        return self.verdict_rule(p) if self.verdict_rule is not None else ""

    def verdict_text(self) -> str:
        v = self.verdict
        if v == "running":
            return f"Analysing… {percent(self.progress, 0)}"
        return verdict_label(v)


def most_suspicious_frame(result) -> int | None:
    """The video frame to show first: the highest-scored sampled frame, else the engine's
    first suspicious frame, else the first sampled one (None without frames)."""
    frames = list(getattr(result, "frames", None) or [])
    scored = [f for f in frames if f.p_fake is not None]
    if scored:
        return max(scored, key=lambda f: f.p_fake).index
    sus = list(getattr(result, "suspicious_frames", None) or [])
    if sus:
        return int(sus[0])
    return frames[0].index if frames else None


def _dot(colour: QColor, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)


class ResultsModel(QAbstractTableModel):
    """Table of :class:`Entry` objects, addressed by their stable ``id``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries: list[Entry] = []
        self._row: dict[int, int] = {}
        self._icons: dict[str, QIcon] = {}

    # -- Qt model interface
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return {
                COL_PFAKE: "Calibrated probability that the file is fake",
                COL_FACES: "Faces found (for a video: distinct faces tracked)",
                COL_TIME: "Analysis time",
            }.get(section)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        e = self._entries[index.row()]
        col = index.column()
        if role == ENTRY_ROLE:
            return e
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(e, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_FILE:
                return str(e.path)
            if e.message:
                return e.message
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == COL_VERDICT:
            return self._icon(e.verdict)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_PFAKE, COL_FACES, COL_TIME):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(e: Entry, col: int) -> str:
        if col == COL_FILE:
            return e.name
        if col == COL_TYPE:
            return (e.kind or "—").capitalize()
        if col == COL_VERDICT:
            return e.verdict_text()
        if col == COL_PFAKE:
            p = e.p_fake
            return "" if p is None else percent(p)
        if col == COL_FACES:
            n = e.n_faces
            return "" if n is None else str(n)
        if col == COL_TIME:
            return "" if e.elapsed is None else seconds(e.elapsed)
        return ""

    def _icon(self, verdict: str) -> QIcon:
        if verdict not in self._icons:
            self._icons[verdict] = _dot(theme.verdict_colour(verdict))
        return self._icons[verdict]

    def refresh_theme(self) -> None:
        self._icons.clear()
        if self._entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._entries) - 1, len(COLUMNS) - 1))

    # -- entries
    def entries(self) -> list[Entry]:
        return list(self._entries)

    def entry(self, entry_id: int) -> Entry | None:
        row = self._row.get(entry_id)
        return None if row is None else self._entries[row]

    def entry_at(self, row: int) -> Entry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def row_of(self, entry_id: int) -> int:
        return self._row.get(entry_id, -1)

    def find_path(self, path: str | os.PathLike) -> Entry | None:
        key = _path_key(path)
        for e in self._entries:
            if _path_key(e.path) == key:
                return e
        return None

    def add_paths(self, paths) -> list[Entry]:
        """Append files not already in the list; returns the new entries."""
        seen = {_path_key(e.path) for e in self._entries}
        new = []
        for p in paths:
            path = Path(p)
            key = _path_key(path)
            if key in seen:
                continue
            seen.add(key)
            new.append(Entry(path=path, kind=guess_kind(path)))
        if new:
            first = len(self._entries)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for i, e in enumerate(new):
                self._entries.append(e)
                self._row[e.id] = first + i
            self.endInsertRows()
        return new

    def update(self, entry_id: int, **fields) -> None:
        row = self._row.get(entry_id)
        if row is None:
            return
        e = self._entries[row]
        for k, v in fields.items():
            setattr(e, k, v)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def remove(self, entry_ids) -> None:
        for row in sorted((self._row[i] for i in set(entry_ids) if i in self._row), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._entries[row]
            self.endRemoveRows()
        self._row = {e.id: r for r, e in enumerate(self._entries)}

    def clear(self) -> None:
        self.beginResetModel()
        self._entries.clear()
        self._row.clear()
        self.endResetModel()


def _path_key(path) -> str:
    try:
        return os.path.normcase(str(Path(path).resolve()))
    except OSError:
        return os.path.normcase(os.path.abspath(str(path)))


def sort_key(e: Entry, col: int):
    """Python sort key for column ``col``; empty cells sort last in ascending order."""
    missing = (1, 0)
    if col == COL_FILE:
        return (0, e.name.lower())
    if col == COL_TYPE:
        return (0, e.kind or "~")
    if col == COL_VERDICT:
        p = e.p_fake
        return (0, _VERDICT_ORDER.get(e.verdict, 99), -(p if p is not None else -1.0))
    if col == COL_PFAKE:
        return missing if e.p_fake is None else (0, e.p_fake)
    if col == COL_FACES:
        return missing if e.n_faces is None else (0, e.n_faces)
    if col == COL_TIME:
        return missing if e.elapsed is None else (0, e.elapsed)
    return missing


class ResultsProxy(QSortFilterProxyModel):
    """Sorts with Python keys (numbers as numbers, empty cells last) and filters on the
    file name."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(COL_FILE)
        self.setDynamicSortFilter(True)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right) -> bool:
        a = left.data(ENTRY_ROLE)
        b = right.data(ENTRY_ROLE)
        if a is None or b is None:
            return super().lessThan(left, right)
        ka, kb = sort_key(a, left.column()), sort_key(b, right.column())
        if ka == kb:
            return a.id < b.id
        return ka < kb
