"""Export the batch as JSON, CSV or a self-contained HTML report.

The report embeds every picture (thumbnails with face boxes, face crops, Grad-CAM
overlays) as ``data:image/png;base64`` URIs and draws timelines as inline SVG: it opens
offline anywhere and references nothing outside itself. Safe to run in a worker thread
(QImage/QPainter only, no widgets)."""

from __future__ import annotations

import csv
import html
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPen, QColor

from . import theme
from .backend import face_verdict
from .imaging import blend_heatmap, load_image, png_data_uri, read_video_frames, rgb_to_qimage

FORMATS = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}
THUMB_SIDE = 360
CROP_SIDE = 112
MAX_FACES_IN_REPORT = 6
APP_NAME = "dfd desktop app"


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

    @classmethod
    def from_entry(cls, e) -> "Row":
        r = e.result if e.status == "done" else None
        return cls(e.path, (getattr(r, "kind", None) or e.kind or ""), e.status, e.verdict, e.p_fake,
                   e.n_faces, e.elapsed, e.message, r)


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
                models_info: dict | None = None, progress: Callable[[float], None] | None = None) -> Path:
    """Write ``rows`` to ``path`` (format from ``fmt`` or the suffix), atomically."""
    path = Path(path)
    kind = format_for(path, fmt)
    if kind == "json":
        text = json.dumps(to_json(rows, models_info), indent=2, ensure_ascii=False, allow_nan=False)
        _write_atomic(path, text)
    elif kind == "csv":
        _write_atomic(path, to_csv(rows))
    else:
        _write_atomic(path, to_html(rows, models_info, progress))
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


def to_json(rows: list[Row], models_info: dict | None = None) -> dict:
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
    }


def _member_names(rows: list[Row]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for k in (getattr(row.result, "member_scores", None) or {}):
            if k not in names:
                names.append(k)
    return names


def to_csv(rows: list[Row]) -> str:
    import io

    members = _member_names(rows)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["file", "type", "status", "verdict", "p_fake", "faces", "time_s", "threshold",
                "uncertain_low", "uncertain_high", *[f"p_fake_{m}" for m in members],
                "suspicious_frames", "models", "error"])
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
        ])
    return out.getvalue()


# --------------------------------------------------------------------------- HTML
def _draw_boxes(image: QImage, full_size, faces, thr, band) -> QImage:
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    sw, sh = full_size if full_size and full_size[0] > 0 else (img.width(), img.height())
    sx, sy = img.width() / sw, img.height() / sh
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    lw = max(2.0, img.width() / 200)
    for f in faces:
        x, y, w, h = f.box
        colour = QColor(theme.verdict_hex(face_verdict(f.p_fake, thr, band)))
        p.setPen(QPen(colour, lw))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(x * sx, y * sy, w * sx, h * sy))
    p.end()
    return img


def _thumbnail(row: Row) -> tuple[str | None, str]:
    """(data URI, caption) of the file's picture with face boxes."""
    r = row.result
    thr = float(getattr(r, "threshold", 0.5) or 0.5) if r is not None else 0.5
    band = tuple(getattr(r, "uncertain_band", None) or (thr, thr)) if r is not None else (thr, thr)
    faces = list(getattr(r, "faces", None) or []) if r is not None else []
    caption = ""
    try:
        if row.kind == "video":
            frames = list(getattr(r, "frames", None) or []) if r is not None else []
            scored = [f for f in frames if f.p_fake is not None]
            idx = max(scored, key=lambda f: f.p_fake).index if scored else (frames[0].index if frames else 0)
            imgs, full = read_video_frames(row.path, [idx], max_side=THUMB_SIDE)
            img = imgs.get(idx)
            if img is None:
                return None, ""
            faces = [f for f in faces if getattr(f, "frame_index", None) == idx]
            fr = next((f for f in frames if f.index == idx), None)
            caption = f"frame {idx}" + (f" ({fr.time_s:.2f} s)" if fr is not None else "")
            if scored:
                caption = "most suspicious " + caption
        else:
            img, full = load_image(row.path, max_side=THUMB_SIDE)
            if img.isNull():
                return None, ""
            full = getattr(r, "image_size", None) or full
        if faces:
            img = _draw_boxes(img, full, faces, thr, band)
        return png_data_uri(img), caption
    except Exception:  # a picture that cannot be made must not stop the report
        return None, ""


def _pct(p) -> str:
    return "–" if p is None else f"{100 * p:.1f}%"


def _gauge_svg(p, thr, band) -> str:
    w, h = 260, 26
    lo, hi = band

    def x(v):
        return 4 + (w - 8) * min(1.0, max(0.0, v))

    parts = [f'<svg class="gauge" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="P(fake) {_pct(p)}">',
             f'<rect x="4" y="9" width="{w - 8}" height="8" rx="4" class="track"/>']
    if hi > lo:
        parts.append(f'<rect x="{x(lo):.1f}" y="6" width="{x(hi) - x(lo):.1f}" height="14" rx="2" class="band"/>')
    parts.append(f'<line x1="{x(thr):.1f}" x2="{x(thr):.1f}" y1="3" y2="23" class="thr"/>')
    if p is not None:
        colour = theme.verdict_hex(face_verdict(p, thr, band))
        parts.append(f'<circle cx="{x(p):.1f}" cy="13" r="6" fill="{colour}" class="marker"/>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline_svg(result) -> str:
    frames = sorted(getattr(result, "frames", None) or [], key=lambda f: f.index)
    if not frames:
        return ""
    w, h, pad = 640, 120, 6
    thr = float(result.threshold)
    lo, hi = result.uncertain_band
    ts = [f.time_s if f.time_s is not None else f.index for f in frames]
    t0, t1 = min(ts), max(ts)
    t1 = t1 if t1 > t0 else t0 + 1

    def xy(t, p):
        return pad + (w - 2 * pad) * (t - t0) / (t1 - t0), h - pad - (h - 2 * pad) * p

    out = [f'<svg class="timeline" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
           'aria-label="per-frame P(fake)">',
           f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" class="plot"/>']
    if hi > lo:
        y_hi, y_lo = xy(t0, hi)[1], xy(t0, lo)[1]
        out.append(f'<rect x="{pad}" y="{y_hi:.1f}" width="{w - 2 * pad}" height="{y_lo - y_hi:.1f}" class="band"/>')
    y_t = xy(t0, thr)[1]
    out.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y_t:.1f}" y2="{y_t:.1f}" class="thr" stroke-dasharray="4 3"/>')
    seg: list[str] = []
    for t, f in zip(ts, frames):
        if f.p_fake is None:
            if len(seg) > 1:
                out.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
            seg = []
            continue
        px, py = xy(t, f.p_fake)
        seg.append(f"{px:.1f},{py:.1f}")
    if len(seg) > 1:
        out.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
    sus = set(getattr(result, "suspicious_frames", None) or [])
    for t, f in zip(ts, frames):
        if f.p_fake is None:
            px, py = xy(t, 0.0)
            out.append(f'<circle cx="{px:.1f}" cy="{py - 2:.1f}" r="2" class="noface"/>')
            continue
        px, py = xy(t, f.p_fake)
        colour = theme.verdict_hex(face_verdict(f.p_fake, thr, (lo, hi)))
        r = 4.5 if f.index in sus else 3
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r}" fill="{colour}">'
                   f'<title>frame {f.index} · {t:.2f} s · {_pct(f.p_fake)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _faces_html(result) -> str:
    faces = [f for f in (getattr(result, "faces", None) or []) if getattr(f, "crop", None) is not None]
    if not faces:
        return ""
    if getattr(result, "kind", None) == "video":
        sus = list(getattr(result, "suspicious_frames", None) or [])
        order = {idx: k for k, idx in enumerate(sus)}
        faces = sorted(faces, key=lambda f: (order.get(f.frame_index, len(order)), -(f.p_fake or 0)))
    else:
        faces = sorted(faces, key=lambda f: -(f.p_fake or 0))
    thr = float(result.threshold)
    band = tuple(result.uncertain_band)
    cells = []
    for f in faces[:MAX_FACES_IN_REPORT]:
        crop_q = rgb_to_qimage(f.crop).scaled(CROP_SIDE, CROP_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
        imgs = [f'<figure><img src="{png_data_uri(crop_q)}" alt="face crop" width="{CROP_SIDE}">'
                f"<figcaption>crop</figcaption></figure>"]
        for model, heat in (getattr(f, "heatmaps", None) or {}).items():
            over = rgb_to_qimage(blend_heatmap(f.crop, heat)).scaled(
                CROP_SIDE, CROP_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            imgs.append(f'<figure><img src="{png_data_uri(over)}" alt="Grad-CAM {html.escape(model)}" '
                        f'width="{CROP_SIDE}"><figcaption>Grad-CAM · {html.escape(model)}</figcaption></figure>')
        where = "" if f.frame_index is None else f"frame {f.frame_index} · "
        v = face_verdict(f.p_fake, thr, band)
        cells.append(f'<div class="face"><div class="imgs">{"".join(imgs)}</div>'
                     f'<div class="small">{where}P(fake) <b style="color:{theme.verdict_hex(v)}">'
                     f"{_pct(f.p_fake)}</b></div></div>")
    more = len(faces) - MAX_FACES_IN_REPORT
    extra = f'<p class="small">… and {more} more face crops</p>' if more > 0 else ""
    return f'<div class="faces">{"".join(cells)}</div>{extra}'


_CSS = """
:root { color-scheme: light dark; --bg:#ffffff; --fg:#1d1d1f; --muted:#6b6b70; --card:#f6f6f8;
        --line:#d6d6db; --band:rgba(217,130,0,.22); --track:#e4e4e8; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#1c1c1e; --fg:#ececf0; --muted:#a0a0a8; --card:#2a2a2e; --line:#444449;
          --band:rgba(255,183,77,.22); --track:#3a3a3f; } }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg);
       color: var(--fg); margin: 2rem auto; max-width: 1100px; padding: 0 1rem; line-height: 1.4; }
h1 { margin-bottom: .2rem; } .muted, .small { color: var(--muted); } .small { font-size: .85rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: .15rem .6rem; border-radius: .4rem; color: #fff;
         font-weight: 600; font-size: .85rem; }
.card { background: var(--card); border-radius: .7rem; padding: 1rem 1.2rem; margin: 1.2rem 0; }
.card h2 { margin: 0 0 .3rem 0; font-size: 1.15rem; word-break: break-all; }
.row { display: flex; gap: 1.4rem; flex-wrap: wrap; align-items: flex-start; }
.thumb img { max-width: 360px; border-radius: .4rem; display: block; }
.faces { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: .8rem; }
.face .imgs { display: flex; gap: .4rem; }
figure { margin: 0; } figcaption { font-size: .75rem; color: var(--muted); text-align: center; }
figure img { border-radius: .3rem; display: block; }
svg .track { fill: var(--track); } svg .band { fill: var(--band); } svg .thr { stroke: var(--fg); stroke-width: 1.5; }
svg .plot { fill: var(--bg); stroke: var(--line); } svg .line { fill: none; stroke: var(--muted); stroke-width: 1.3; }
svg .noface { fill: none; stroke: var(--muted); } svg .marker { stroke: var(--bg); stroke-width: 2; }
.error { border-left: 4px solid #8e24aa; padding-left: .6rem; }
"""


def to_html(rows: list[Row], models_info: dict | None = None, progress: Callable[[float], None] | None = None) -> str:
    esc = html.escape
    created = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    summary = " · ".join(f"{n} {theme.VERDICT_LABELS.get(v, v).lower()}" for v, n in sorted(counts.items()))
    models_line = ""
    if models_info:
        ids = models_info.get("models") or []
        ens = models_info.get("ensemble_name") or ""
        models_line = (f'<p class="small">Models: {esc(", ".join(map(str, ids)))}'
                       + (f" · ensemble {esc(str(ens))}" if ens else "")
                       + (f" · trained on {esc(str(models_info.get('dataset')))}" if models_info.get("dataset") else "")
                       + "</p>")
    head = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Deepfake check report · {esc(created)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>Deepfake check report</h1>",
        f'<p class="muted">{len(rows)} file{"s" if len(rows) != 1 else ""} · {esc(summary)} · {esc(created)}</p>',
        models_line,
        '<p class="small">P(fake) is the calibrated probability that a file is fake. Scores inside the '
        "uncertain band are too close to the decision line to trust either answer.</p>",
    ]
    table = ['<table><thead><tr><th>File</th><th>Type</th><th>Verdict</th><th class="num">P(fake)</th>'
             '<th class="num">Faces</th><th class="num">Time</th></tr></thead><tbody>']
    for i, row in enumerate(rows):
        colour = theme.verdict_hex(row.verdict)
        table.append(
            f'<tr><td><a href="#f{i}">{esc(row.path.name)}</a></td><td>{esc(row.kind or "")}</td>'
            f'<td><span class="badge" style="background:{colour}">{esc(theme.VERDICT_LABELS.get(row.verdict, row.verdict))}'
            f'</span></td><td class="num">{_pct(row.p_fake)}</td>'
            f'<td class="num">{"" if row.n_faces is None else row.n_faces}</td>'
            f'<td class="num">{"" if row.elapsed is None else f"{row.elapsed:.1f} s"}</td></tr>')
    table.append("</tbody></table>")
    cards = []
    for i, row in enumerate(rows):
        cards.append(_card_html(i, row))
        if progress is not None:
            progress((i + 1) / max(1, len(rows)))
    foot = [f'<p class="small">Made offline by the {APP_NAME}.</p>', "</body>", "</html>"]
    return "\n".join(head + table + cards + foot) + "\n"


def _card_html(i: int, row: Row) -> str:
    esc = html.escape
    r = row.result
    colour = theme.verdict_hex(row.verdict)
    label = theme.VERDICT_LABELS.get(row.verdict, row.verdict)
    parts = [f'<section class="card" id="f{i}">',
             f'<h2>{esc(row.path.name)} <span class="badge" style="background:{colour}">{esc(label)}'
             f"{'' if row.p_fake is None else ' · ' + _pct(row.p_fake)}</span></h2>",
             f'<div class="small">{esc(str(row.path))}</div>']
    if row.message:
        parts.append(f'<p class="error">{esc(row.message)}</p>')
    uri, caption = _thumbnail(row) if row.path.exists() else (None, "")
    body = ['<div class="row">']
    if uri:
        body.append(f'<figure class="thumb"><img src="{uri}" alt="{esc(row.path.name)}">'
                    f"<figcaption>{esc(caption)}</figcaption></figure>")
    if row.verdict == "no_face":
        body.append('<p class="small">No face was found, so nothing was checked: the detector only '
                    "judges faces.</p>")
    if r is not None and row.status == "done" and getattr(r, "p_fake", None) is not None:
        thr = float(getattr(r, "threshold", 0.5) or 0.5)
        band = tuple(getattr(r, "uncertain_band", None) or (thr, thr))
        info = [f"<div>{_gauge_svg(r.p_fake, thr, band)}</div>",
                f'<div class="small">threshold {100 * thr:.0f}% · uncertain {100 * band[0]:.0f}–{100 * band[1]:.0f}%</div>']
        scores = getattr(r, "member_scores", None) or {}
        if scores:
            info.append("<table><thead><tr><th>Model</th><th class=\"num\">P(fake)</th></tr></thead><tbody>")
            for name, v in scores.items():
                info.append(f'<tr><td>{esc(str(name))}</td><td class="num">{_pct(v)}</td></tr>')
            info.append("</tbody></table>")
        timings = getattr(r, "timings", None) or {}
        if timings:
            info.append('<div class="small">' + esc(" · ".join(
                f"{k} {v:.2f} s" for k, v in timings.items() if isinstance(v, int | float))) + "</div>")
        body.append(f'<div class="info">{"".join(info)}</div>')
    body.append("</div>")
    parts.extend(body)
    if r is not None and row.status == "done":
        if getattr(r, "kind", None) == "video":
            parts.append(_timeline_svg(r))
        parts.append(_faces_html(r))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)
