"""The models panel: which ensemble and member models are loaded, their model cards
(training data, date, metrics...), "Choose models folder…", and what to do when there are
no models yet."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidgetItem,
    QWidget,
)

from .backend import MAKE_HINT, LoadOutcome
from .builders import column, muted_label, two_column_tree
from .formatting import count, percent, seconds

# card fields worth a line in the member's summary, in this order
_SUMMARY_KEYS = ("architecture", "input_size", "params", "dataset", "created_utc")
# metric-like card keys shown near the top of a member's details
_METRIC_HINTS = ("auc", "acc", "eer", "loss", "f1", "ap", "metric")
_MAX_LIST = 12


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        if len(value) > _MAX_LIST:
            head = ", ".join(_fmt(v) for v in value[:_MAX_LIST])
            return f"[{head}, … ({count(len(value), 'item')})]"
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, default=str)[:200]
    return str(value)


def _add_tree(parent: QTreeWidgetItem, data, depth: int = 0) -> None:
    """Nested dicts become nested items; lists of dicts get one item per element."""
    if isinstance(data, dict):
        items = list(data.items())
        # metrics first: they are what people look for
        items.sort(key=lambda kv: (not any(h in str(kv[0]).lower() for h in _METRIC_HINTS), 0))
        for k, v in items:
            if isinstance(v, dict) and v and depth < 4:
                child = QTreeWidgetItem(parent, [str(k), ""])
                _add_tree(child, v, depth + 1)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and depth < 4:
                child = QTreeWidgetItem(parent, [str(k), count(len(v), "item")])
                for i, x in enumerate(v[:_MAX_LIST]):
                    sub = QTreeWidgetItem(child, [f"[{i}]", ""])
                    _add_tree(sub, x, depth + 1)
            else:
                item = QTreeWidgetItem(parent, [str(k), _fmt(v)])
                item.setToolTip(1, _fmt(v))
    else:
        QTreeWidgetItem(parent, ["", _fmt(data)])


def _card_summary(name: str, card: dict) -> str:
    bits = []
    arch = card.get("architecture")
    if arch and arch != name:
        bits.append(str(arch))
    if card.get("input_size"):
        bits.append(f"{card['input_size']} px")
    if isinstance(card.get("params"), int):
        bits.append(f"{card['params'] / 1e6:.2f} M params" if card["params"] >= 1e5 else f"{card['params']:,} params")
    if card.get("dataset"):
        bits.append(f"trained on {card['dataset']}")
    created = card.get("created_utc") or card.get("created")
    if created:
        bits.append(str(created)[:10])
    return " · ".join(bits)


class ModelsPanel(QWidget):
    """Lives in a dock; ``chooseFolder`` / ``reloadRequested`` ask the window to act."""

    chooseFolder = Signal()
    reloadRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = column(self, (6, 6, 6, 6))
        self.status = QLabel()
        f = self.status.font()
        f.setBold(True)
        self.status.setFont(f)
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.folder = muted_label(selectable=True)
        lay.addWidget(self.folder)
        self.hint = QLabel()
        self.hint.setObjectName("modelsHint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.hint)
        self.tree = two_column_tree(("Model / field", "Value"), "Loaded models and their model cards")
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.choose_button = QPushButton("Choose models folder…")
        self.choose_button.clicked.connect(self.chooseFolder)
        row.addWidget(self.choose_button)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Load the models folder again (e.g. after `make reproduce`)")
        self.reload_button.clicked.connect(self.reloadRequested)
        row.addWidget(self.reload_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.state = "empty"
        self.set_loading(None)

    # -- states
    def set_loading(self, folder: Path | None) -> None:
        self.state = "loading"
        self.status.setText("Loading models…")
        self.folder.setText(str(folder) if folder else "")
        self.hint.hide()
        self.tree.clear()
        self.reload_button.setEnabled(False)

    def set_outcome(self, outcome: LoadOutcome) -> None:
        self.reload_button.setEnabled(True)
        self.folder.setText(f"Folder: {outcome.models_dir}" if outcome.models_dir else "")
        self.tree.clear()
        if not outcome.ok:
            self.state = "missing" if outcome.missing else "failed"
            self.status.setText("No models loaded" if outcome.missing else "Models could not be loaded")
            self.hint.setText(hint_html(outcome.message))
            self.hint.show()
            return
        self.state = "loaded"
        self.hint.hide()
        info = outcome.info or {}
        cards = info.get("cards") or {}
        members = [m.get("name") if isinstance(m, dict) else str(m) for m in info.get("members") or []]
        members = members or list(cards)
        ens = info.get("ensemble_name") or (info.get("ensemble") or {}).get("kind") or "ensemble"
        self.status.setText(f"{count(len(members), 'model')} loaded · {ens}"
                            + (f" · {seconds(outcome.seconds)}" if outcome.seconds else ""))
        top = QTreeWidgetItem(self.tree, [f"Ensemble: {ens}", _ensemble_summary(info)])
        f = top.font(0)
        f.setBold(True)
        top.setFont(0, f)
        for key in ("dataset", "created", "threshold", "uncertain_band"):
            if info.get(key) not in (None, ""):
                QTreeWidgetItem(top, [key.replace("_", " "), _fmt(info[key])])
        extra = info.get("extra") or {}
        if extra:
            ex = QTreeWidgetItem(top, ["details", ""])
            _add_tree(ex, extra)
        for k in ("ensemble", "calibrator"):
            if isinstance(info.get(k), dict):
                sub = QTreeWidgetItem(top, [k, info[k].get("kind", "")])
                _add_tree(sub, {kk: vv for kk, vv in info[k].items() if kk != "kind"})
        entries = {m.get("name"): m for m in info.get("members") or [] if isinstance(m, dict)}
        for name in members:
            card = cards.get(name) or {}
            item = QTreeWidgetItem(self.tree, [str(name), _card_summary(str(name), card)])
            item.setFont(0, f)
            item.setToolTip(1, _card_summary(str(name), card))
            entry = entries.get(name) or {}
            if entry.get("file"):
                QTreeWidgetItem(item, ["file", str(entry["file"])])
            if entry.get("sha256"):
                QTreeWidgetItem(item, ["sha256", str(entry["sha256"])])
            _add_tree(item, card)
        self.tree.resizeColumnToContents(0)

    def has_hint(self) -> bool:
        return self.hint.isVisibleTo(self) and "make reproduce" in self.hint.text()


def _ensemble_summary(info: dict) -> str:
    bits = []
    if info.get("dataset"):
        bits.append(f"dataset {info['dataset']}")
    thr = info.get("threshold")
    band = info.get("uncertain_band")
    if isinstance(thr, int | float):
        bits.append(f"threshold {percent(thr, 0)}")
    if isinstance(band, list | tuple) and len(band) == 2 and band[1] > band[0]:
        bits.append(f"uncertain {percent(band[0], 0)}–{percent(band[1], 0)}")
    return " · ".join(bits)


def hint_html(message: str) -> str:
    """The no-models message with the way out, as rich text."""
    from html import escape

    hint = escape(MAKE_HINT).replace("`make reproduce`", "<code>make reproduce</code>")
    text = f"<p>{escape(message)}</p>" if message else ""
    return (f"{text}<p><b>{hint}</b><br>Or choose a folder that holds <code>bundle.json</code> "
            "and the <code>.h5</code> model files.</p>")
