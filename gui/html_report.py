"""The self-contained HTML report of an export.

It embeds every picture (thumbnails with face boxes, face crops, Grad-CAM overlays) as
``data:image/png;base64`` URIs and draws timelines as inline SVG: it opens offline anywhere
and references nothing outside itself. Safe to run in a worker thread (QImage/QPainter
only, no widgets). Face and frame colours follow the verdict rule of the detector that
analysed the file (:attr:`gui.report_rows.Row.verdict_rule`)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from . import theme
from .formatting import (
    count,
    left_out_text,
    no_face_text,
    out_of_domain_text,
    percent,
    seconds,
    threshold_text,
    timings_text,
    verdict_counts,
    verdict_label,
)
from .heatmaps import blend_heatmap
from .previews import load_image, read_video_frames
from .qimages import png_data_uri, rgb_to_qimage
from .report_rows import Row
from .results_model import most_suspicious_frame

THUMB_SIDE = 360
CROP_SIDE = 112
MAX_FACES_IN_REPORT = 6
APP_NAME = "dfd desktop app"


def _draw_boxes(image: QImage, full_size, faces, verdict_of: Callable[[float | None], str]) -> QImage:
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    sw, sh = full_size if full_size and full_size[0] > 0 else (img.width(), img.height())
    sx, sy = img.width() / sw, img.height() / sh
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    lw = max(2.0, img.width() / 200)
    for f in faces:
        x, y, w, h = f.box
        colour = QColor(theme.verdict_hex(verdict_of(f.p_fake)))
        p.setPen(QPen(colour, lw))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(x * sx, y * sy, w * sx, h * sy))
    p.end()
    return img


def _thumbnail(row: Row) -> tuple[str | None, str]:
    """(data URI, caption) of the file's picture with face boxes."""
    r = row.result
    faces = list(getattr(r, "faces", None) or []) if r is not None else []
    caption = ""
    try:
        if row.kind == "video":
            frames = list(getattr(r, "frames", None) or []) if r is not None else []
            scored = [f for f in frames if f.p_fake is not None]
            idx = most_suspicious_frame(r)
            idx = 0 if idx is None else idx
            imgs, full = read_video_frames(row.path, [idx], max_side=THUMB_SIDE)
            img = imgs.get(idx)
            if img is None:
                return None, ""
            faces = [f for f in faces if getattr(f, "frame_index", None) == idx]
            fr = next((f for f in frames if f.index == idx), None)
            caption = f"frame {idx}" + (f" ({seconds(fr.time_s, 2)})" if fr is not None and fr.time_s is not None
                                        else "")
            if scored:
                caption = "most suspicious " + caption
        else:
            img, full = load_image(row.path, max_side=THUMB_SIDE)
            if img.isNull():
                return None, ""
            full = getattr(r, "image_size", None) or full
        if faces:
            img = _draw_boxes(img, full, faces, row.score_verdict)
        return png_data_uri(img), caption
    except Exception:  # a picture that cannot be made must not stop the report
        return None, ""


def _gauge_svg(p, thr, band, verdict: str) -> str:
    """The file's P(fake) on a 0-100% track, the marker in the colour of its verdict."""
    w, h = 260, 26
    lo, hi = band

    def x(v):
        return 4 + (w - 8) * min(1.0, max(0.0, v))

    parts = [f'<svg class="gauge" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="P(fake) {percent(p)}">',
             f'<rect x="4" y="9" width="{w - 8}" height="8" rx="4" class="track"/>']
    if hi > lo:
        parts.append(f'<rect x="{x(lo):.1f}" y="6" width="{x(hi) - x(lo):.1f}" height="14" rx="2" class="band"/>')
    parts.append(f'<line x1="{x(thr):.1f}" x2="{x(thr):.1f}" y1="3" y2="23" class="thr"/>')
    if p is not None:
        colour = theme.verdict_hex(verdict)
        parts.append(f'<circle cx="{x(p):.1f}" cy="13" r="6" fill="{colour}" class="marker"/>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline_svg(result, verdict_of: Callable[[float | None], str]) -> str:
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
        colour = theme.verdict_hex(verdict_of(f.p_fake))
        r = 4.5 if f.index in sus else 3
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r}" fill="{colour}">'
                   f'<title>frame {f.index} · {seconds(t, 2)} · {percent(f.p_fake)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _faces_html(result, verdict_of: Callable[[float | None], str]) -> str:
    faces = [f for f in (getattr(result, "faces", None) or []) if getattr(f, "crop", None) is not None]
    if not faces:
        return ""
    if getattr(result, "kind", None) == "video":
        sus = list(getattr(result, "suspicious_frames", None) or [])
        order = {idx: k for k, idx in enumerate(sus)}
        faces = sorted(faces, key=lambda f: (order.get(f.frame_index, len(order)), -(f.p_fake or 0)))
    else:
        faces = sorted(faces, key=lambda f: -(f.p_fake or 0))
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
        v = verdict_of(f.p_fake)
        cells.append(f'<div class="face"><div class="imgs">{"".join(imgs)}</div>'
                     f'<div class="small">{where}P(fake) <b style="color:{theme.verdict_hex(v)}">'
                     f"{percent(f.p_fake)}</b></div></div>")
    more = len(faces) - MAX_FACES_IN_REPORT
    extra = f'<p class="small">… and {count(more, "more face crop")}</p>' if more > 0 else ""
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


def to_html(rows: list[Row], models_info: dict | None = None, progress: Callable[[float], None] | None = None,
            skipped=()) -> str:
    esc = html.escape
    created = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    summary = verdict_counts(row.verdict for row in rows)
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
        f'<p class="muted">{count(len(rows), "file")} · {esc(summary)} · {esc(created)}</p>',
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
            f'<td><span class="badge" style="background:{colour}">{esc(verdict_label(row.verdict))}'
            f'</span></td><td class="num">{percent(row.p_fake)}</td>'
            f'<td class="num">{"" if row.n_faces is None else row.n_faces}</td>'
            f'<td class="num">{"" if row.elapsed is None else seconds(row.elapsed)}</td></tr>')
    table.append("</tbody></table>")
    table.append(_skipped_html(skipped))
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
    label = verdict_label(row.verdict)
    parts = [f'<section class="card" id="f{i}">',
             f'<h2>{esc(row.path.name)} <span class="badge" style="background:{colour}">{esc(label)}'
             f"{'' if row.p_fake is None else ' · ' + percent(row.p_fake)}</span></h2>",
             f'<div class="small">{esc(str(row.path))}</div>']
    if row.message:
        parts.append(f'<p class="error">{esc(row.message)}</p>')
    uri, caption = _thumbnail(row) if row.path.exists() else (None, "")
    body = ['<div class="row">']
    if uri:
        body.append(f'<figure class="thumb"><img src="{uri}" alt="{esc(row.path.name)}">'
                    f"<figcaption>{esc(caption)}</figcaption></figure>")
    if row.verdict == "no_face":
        body.append(f'<p class="small">{esc(no_face_text(getattr(r, "no_face_reason", None)))}</p>')
    if out_of_domain_text(r):
        body.append(f'<p class="small ood">{esc(out_of_domain_text(r))}</p>')
    if left_out_text(r):
        body.append(f'<p class="small ood">{esc(left_out_text(r))}</p>')
    if r is not None and row.status == "done" and getattr(r, "p_fake", None) is not None:
        thr = float(getattr(r, "threshold", 0.5) or 0.5)
        band = tuple(getattr(r, "uncertain_band", None) or (thr, thr))
        info = [f"<div>{_gauge_svg(r.p_fake, thr, band, row.verdict)}</div>",
                f'<div class="small">{esc(threshold_text(thr, band))}</div>']
        scores = getattr(r, "member_scores", None) or {}
        if scores:
            info.append("<table><thead><tr><th>Model</th><th class=\"num\">P(fake)</th></tr></thead><tbody>")
            for name, v in scores.items():
                info.append(f'<tr><td>{esc(str(name))}</td><td class="num">{percent(v)}</td></tr>')
            info.append("</tbody></table>")
        timings = getattr(r, "timings", None) or {}
        if timings:
            info.append(f'<div class="small">{esc(timings_text(timings))}</div>')
        body.append(f'<div class="info">{"".join(info)}</div>')
    body.append("</div>")
    parts.extend(body)
    if r is not None and row.status == "done":
        if getattr(r, "kind", None) == "video":
            parts.append(_timeline_svg(r, row.score_verdict))
        parts.append(_faces_html(r, row.score_verdict))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _skipped_html(skipped) -> str:
    """The files a folder scan left out, with the reason for each."""
    if not skipped:
        return ""
    esc = html.escape
    items = "".join(f"<li>{esc(str(s.path))} <span class=\"muted\">({esc(s.reason)})</span></li>" for s in skipped)
    return f'<h3>{count(len(skipped), "file")} left out</h3><ul class="small skipped">{items}</ul>'
