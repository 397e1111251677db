"""The head of the result view: the file's name and facts, its verdict badge with the
calibrated probability, and a message saying what the verdict means."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from . import theme
from .builders import column, muted_label
from .formatting import VERDICT_EXPLANATIONS, left_out_text, no_face_text, out_of_domain_text, percent
from .results_model import Entry


class ResultHeader(QWidget):
    """Title, subtitle, verdict badge and message of one :class:`~gui.results_model.Entry`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entry: Entry | None = None
        outer = column(self, spacing=6)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title = QLabel()
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = muted_label(wrap=False, selectable=True)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        self.badge = QLabel()
        self.badge.setObjectName("verdictBadge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bf = self.badge.font()
        bf.setBold(True)
        bf.setPointSizeF(bf.pointSizeF() * 1.2)
        self.badge.setFont(bf)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        outer.addLayout(head)
        self.message = QLabel()
        self.message.setObjectName("resultMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.message)

    def show_entry(self, entry: Entry | None) -> None:
        self.entry = entry
        e = entry
        if e is None:
            self.title.setText("No file selected")
            self.subtitle.setText("Results appear here")
            self.badge.hide()
            self.message.hide()
            return
        r = e.result if e.status == "done" else None
        self.title.setText(e.name)
        bits = [str(e.path.parent)]
        kind = getattr(r, "kind", None) or e.kind
        if kind:
            bits.append(kind)
        size = getattr(r, "image_size", None)
        if size:
            bits.append(f"{size[0]}×{size[1]}")
        self.subtitle.setText(" · ".join(bits))
        verdict = e.verdict
        text = e.verdict_text().upper()
        if e.p_fake is not None:
            text += f"  {percent(e.p_fake)}"
        self.badge.setText(text)
        self.badge.setToolTip("Calibrated probability that the file is fake" if e.p_fake is not None else "")
        self._style_badge(verdict)
        self.badge.show()
        if verdict == "error":
            self._set_message(f"Could not analyse this file: {e.message or 'unknown error'}", "error")
        elif verdict == "running":
            self._set_message(f"Analysing… {percent(e.progress, 0)}", verdict)
        elif verdict == "no_face":  # say why: none found, too small, too few frames
            self._set_message(no_face_text(getattr(r, "no_face_reason", None)), verdict)
        elif out_of_domain_text(r):  # uncertain: unlike the training data, whatever the score
            self._set_message(out_of_domain_text(r), verdict)
        elif verdict in VERDICT_EXPLANATIONS:
            note = left_out_text(r)
            self._set_message(VERDICT_EXPLANATIONS[verdict] + (f" {note}" if note else ""), verdict)
        else:
            self.message.hide()

    def _style_badge(self, verdict: str) -> None:
        c = theme.verdict_colour(verdict, self.palette())
        fg = "#ffffff" if c.lightness() < 170 else "#000000"
        self.badge.setStyleSheet(
            f"QLabel#verdictBadge {{ background: {c.name()}; color: {fg}; border-radius: 6px; "
            "padding: 6px 14px; }")

    def _set_message(self, text: str, verdict: str) -> None:
        c = theme.verdict_colour(verdict, self.palette())
        self.message.setStyleSheet(
            f"QLabel#resultMessage {{ border: 1px solid rgba({c.red()}, {c.green()}, {c.blue()}, 110); "
            f"border-left: 5px solid {c.name()}; border-radius: 4px; padding: 6px 8px; }}")
        self.message.setText(text)
        self.message.show()

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if self.entry is not None:
                self.show_entry(self.entry)  # the badge's colours follow the theme
        super().changeEvent(event)
