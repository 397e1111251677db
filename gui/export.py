"""Export the batch as JSON, CSV or a self-contained HTML report (:mod:`gui.html_report`),
written atomically; JSON and HTML also list the files a folder scan left out, with their
reason. Safe to run in a worker thread."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .html_report import APP_NAME, to_html
from .report_rows import Row

FORMATS = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in {"json", "csv", "html"}:
            raise ValueError(f"unknown export format {fmt!r}; use json, csv or html")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the export format from {Path(path).name!r}: name it .json, .csv or .html")
    return FORMATS[suffix]


def export_rows(rows: list[Row], path: str | os.PathLike, fmt: str | None = None,
                models_info: dict | None = None, progress: Callable[[float], None] | None = None,
                skipped=()) -> Path:
    """Write ``rows`` to ``path`` (format from ``fmt`` or the suffix), atomically. JSON and
    HTML also list the files a folder scan left out (``skipped``: objects with ``path`` and
    ``reason``); CSV has one line per file in the list only."""
    path = Path(path)
    kind = format_for(path, fmt)
    skipped = list(skipped)
    if kind == "json":
        text = json.dumps(to_json(rows, models_info, skipped), indent=2, ensure_ascii=False, allow_nan=False)
        _write_atomic(path, text)
    elif kind == "csv":
        _write_atomic(path, to_csv(rows))
    else:
        _write_atomic(path, to_html(rows, models_info, progress, skipped))
    return path


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; exports are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(value):
    """JSON-safe: NaN/inf become None, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _models_summary(models_info: dict | None) -> dict | None:
    if not models_info:
        return None
    keys = ("folder", "dataset", "ensemble_name", "models", "threshold", "uncertain_band", "created")
    return _clean({k: models_info.get(k) for k in keys if k in models_info})


def to_json(rows: list[Row], models_info: dict | None = None, skipped=()) -> dict:
    results = []
    for row in rows:
        if row.result is not None and hasattr(row.result, "to_dict"):
            d = dict(row.result.to_dict())
        else:
            d = {"path": str(row.path), "kind": row.kind or None, "verdict": row.verdict, "p_fake": None,
                 "error": row.message}
        d["file"] = str(row.path)
        d["status"] = row.status
        d["elapsed_s"] = None if row.elapsed is None else round(float(row.elapsed), 3)
        results.append(_clean(d))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    return {
        "generator": APP_NAME,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "models": _models_summary(models_info),
        "summary": counts,
        "results": results,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in skipped],
    }


def _member_names(rows: list[Row]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for k in (getattr(row.result, "member_scores", None) or {}):
            if k not in names:
                names.append(k)
    return names


def to_csv(rows: list[Row]) -> str:
    members = _member_names(rows)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["file", "type", "status", "verdict", "p_fake", "faces", "time_s", "threshold",
                "uncertain_low", "uncertain_high", *[f"p_fake_{m}" for m in members],
                "suspicious_frames", "models", "error", "no_face_reason", "ood_members", "uncertain_reason"])
    for row in rows:
        r = row.result
        thr = getattr(r, "threshold", None)
        band = getattr(r, "uncertain_band", None) or (None, None)
        scores = getattr(r, "member_scores", None) or {}
        w.writerow([
            str(row.path), row.kind, row.status, row.verdict,
            "" if row.p_fake is None else f"{row.p_fake:.6f}",
            "" if row.n_faces is None else row.n_faces,
            "" if row.elapsed is None else f"{row.elapsed:.3f}",
            "" if thr is None else f"{thr:.6f}",
            "" if band[0] is None else f"{band[0]:.6f}",
            "" if band[1] is None else f"{band[1]:.6f}",
            *["" if scores.get(m) is None else f"{scores[m]:.6f}" for m in members],
            ";".join(str(i) for i in (getattr(r, "suspicious_frames", None) or [])),
            ";".join(getattr(r, "models", None) or []),
            row.message or "",
            getattr(r, "no_face_reason", None) or "",
            ";".join(getattr(r, "ood_members", None) or []),
            getattr(r, "uncertain_reason", None) or "",
        ])
    return out.getvalue()
