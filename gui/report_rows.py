"""What an export writes: a snapshot of each table entry (exports run off the UI thread,
so they never read the live table)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """A snapshot of one table entry (export runs off the UI thread)."""

    path: Path
    kind: str
    status: str  # queued / running / done / cancelled / error
    verdict: str
    p_fake: float | None
    n_faces: int | None
    elapsed: float | None
    message: str | None
    result: Any = None
    verdict_rule: Callable[[float], str] | None = None  # the analysing detector's Detector.verdict

    @classmethod
    def from_entry(cls, e) -> Row:
        r = e.result if e.status == "done" else None
        return cls(e.path, (getattr(r, "kind", None) or e.kind or ""), e.status, e.verdict, e.p_fake,
                   e.n_faces, e.elapsed, e.message, r, e.verdict_rule)

    def score_verdict(self, p: float | None) -> str:
        """As :meth:`gui.results_model.Entry.score_verdict`: a face's or frame's verdict."""
        if p is None:
            return "no_face"
        return self.verdict_rule(p) if self.verdict_rule is not None else ""
