"""What the study writes to ``reports/<dataset>/``: figures, ``metrics.json`` (every number a
report shows, machine-readable) and ``results.md`` (every table, generated from metrics.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dfd.evaluation.corruptions import MARGIN_TOLERANCE
from dfd.metrics import format_metric
from dfd.paths import reports_dir

# a sweep level whose best member's AUC shuffled labels reach more often than this is at chance
CHANCE_P = 0.05


def figure_path(dataset: str, name: str) -> Path:
    path = reports_dir(dataset) / "figures" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, dataset: str, name: str) -> Path:
    path = figure_path(dataset, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def update_metrics(dataset: str, section: str, payload: dict) -> Path:
    """Merge ``payload`` under ``section`` in ``reports/<dataset>/metrics.json``."""
    path = reports_dir(dataset) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = _jsonable(payload)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def read_metrics(dataset: str) -> dict:
    path = reports_dir(dataset) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def crop_grid(manifest, n_per_class: int = 8, seed: int = 0, title: str = ""):
    """A figure with a row of real and rows of fake crops (one row per manipulation method)."""
    import matplotlib.pyplot as plt

    from dfd.io.images import load_image

    rng = np.random.default_rng(seed)
    rows = [("real", manifest[manifest.label == 0])]
    rows += [(m, manifest[(manifest.label == 1) & (manifest.method == m)]) for m in sorted(manifest[manifest.label == 1].method.unique())]
    rows = [(name, df) for name, df in rows if len(df)]
    fig, axes = plt.subplots(len(rows), n_per_class, figsize=(1.6 * n_per_class, 1.75 * len(rows)), squeeze=False)
    for r, (name, df) in enumerate(rows):
        picks = df.iloc[rng.choice(len(df), size=min(n_per_class, len(df)), replace=False)]
        for c in range(n_per_class):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(picks):
                ax.imshow(load_image(picks.iloc[c].path))
            if c == 0:
                ax.set_title(name, loc="left", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def headline_rows(dataset: str) -> list[dict]:
    """The README's headline numbers for one dataset: each model and the chosen ensemble on test."""
    m = read_metrics(dataset)
    ev = m.get("evaluation", {})
    floors = ev.get("ece_if_perfectly_calibrated", {})
    rows = []
    for name in ("cnn", "cnn_lstm", "resnext"):
        t = m.get(f"train_{name}")
        if t:
            rows.append({"dataset": dataset, "model": name, "auc": t["test"].get("roc_auc"), "acc": t["test"].get("accuracy"),
                         "log_loss": t["test"].get("log_loss"), "ece": t["test"].get("ece"),
                         "ece_floor": floors.get(f"{name} (raw)"), "minutes": t.get("seconds", 0) / 60})
    if ev:
        best = ev["chosen_ensemble"]
        key = best if best in ev["test"] else f"{best} (calibrated)"
        t = ev["test"][key]
        rows.append({"dataset": dataset, "model": f"ensemble ({best}, calibrated)", "auc": t.get("roc_auc"),
                     "acc": t.get("accuracy"), "log_loss": t.get("log_loss"), "ece": t.get("ece"),
                     "ece_floor": floors.get(key), "minutes": None})
    return rows


def markdown_table(rows: list[dict]) -> str:
    out = ["| dataset | model | test ROC-AUC [95% CI] | accuracy | log loss | ECE | ECE if perfectly calibrated | train min |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        minutes = f"{r['minutes']:.1f}" if r.get("minutes") else ""
        floor = f"{r['ece_floor']['mean']:.3f}" if r.get("ece_floor") else "n/a"
        cells = " | ".join(format_metric(r[k]) for k in ("auc", "acc", "log_loss", "ece"))
        out.append(f"| {r['dataset']} | {r['model']} | {cells} | {floor} | {minutes} |")
    return "\n".join(out)


def robustness_table(rob: list[dict], margins: list[dict]) -> list[str]:
    """Markdown lines of the robustness sweep (test ROC-AUC per level and model) and, where
    notebook 05 measured them, each combination's margin over the best member at that level
    with its 95% interval."""
    models = list(dict.fromkeys(r["model"] for r in rob))
    margin_of = {(r["corruption"], r["level"], r["model"]): r for r in margins}
    with_margin = [mo for mo in models if any(k[2] == mo for k in margin_of)]
    # shuffled-label p of the best member's AUC (notebook 05 since session 20; older reports: none)
    with_chance = any(r.get("best_member_p_chance") is not None for r in margins)
    head = models + [f"{mo} - best member [95% CI]" for mo in with_margin] + (
        ["best member's AUC by chance (p)"] if with_chance else [])
    lines = ["## Robustness (test ROC-AUC)", "", "| corruption | level | " + " | ".join(head) + " |",
             "|---|---|" + "---|" * len(head)]
    for key in dict.fromkeys((r["corruption"], r["level"]) for r in rob):
        cells = {r["model"]: r["auc"] for r in rob if (r["corruption"], r["level"]) == key}
        row = [f"{cells[mo]:.3f}" if cells.get(mo) is not None else "n/a" for mo in models]
        for mo in with_margin:
            m = margin_of.get((*key, mo))
            ci = f" [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]" if m and m.get("ci_low") is not None else ""
            row.append(f"{m['margin']:+.3f} ({m['best_member']}){ci}" if m else "n/a")
        if with_chance:
            m = next((margin_of[k] for k in margin_of if k[:2] == key), None)
            row.append(f"{m['best_member_p_chance']:.3f}" if m and m.get("best_member_p_chance") is not None else "n/a")
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(row) + " |")
    for mo in with_margin:
        lines += ["", margin_summary(margins, mo)]
    return lines + [""]


def margin_summary(margins: list[dict], model: str = "ensemble") -> str:
    """One sentence on ``model``'s margins over the best member (records of
    :func:`~dfd.evaluation.corruptions.robustness_sweep_with_margins`): at how many levels it
    falls more than the tolerance under, and at how many of those the interval cannot tell."""
    rows = [r for r in margins if r["model"] == model]
    under = [r for r in rows if r["margin"] < -MARGIN_TOLERANCE]
    unresolved = [r for r in under if r.get("ci_high") is not None and r["ci_high"] >= -MARGIN_TOLERANCE]
    chance = [r for r in under if (r.get("best_member_p_chance") or 0.0) > CHANCE_P]
    text = (f"{model}: more than {MARGIN_TOLERANCE} under the best member at {len(under)} of {len(rows)} levels"
            + (f" (at {len(unresolved)} of them the 95% interval reaches -{MARGIN_TOLERANCE}: within the test "
               "split's noise)" if unresolved else ""))
    if chance:
        rates = [r["passes_without_signal"] for r in chance]
        text += (f"; at {len(chance)} of them no member is shown above chance (shuffled labels reach the best "
                 f"member's AUC with p > {CHANCE_P}), where with no signal at all the {model} meets the tolerance in "
                 f"only {min(rates):.0%}-{max(rates):.0%} of shuffles")
    return text + "."


def decided_counts(decided: dict | None) -> str:
    """" (36/39, 95% interval [0.797, 0.973])" for a band's decided faces
    (:func:`dfd.metrics.accuracy_interval`; older reports: "")."""
    if not decided or not decided.get("n"):
        return ""
    return f" ({decided['correct']}/{decided['n']}, 95% interval [{decided['ci_low']:.3f}, {decided['ci_high']:.3f}])"


def band_sentence(ev: dict) -> str:
    """The chosen ensemble, its uncertain band and what the band and the engine decide on test,
    from notebook 05's ``evaluation`` section of metrics.json (results.md and the README)."""
    op = ev["operating_point"]
    return (f"Chosen ensemble: **{ev['chosen_ensemble']}**; threshold {op['threshold']:.2f}, uncertain band "
            f"[{op['band'][0]:.2f}, {op['band'][1]:.2f}], chosen on validation to decide the most faces at "
            f"accuracy {op['target_accuracy']:.0%} (rule `{op.get('band_rule', 'max_coverage')}`); on test "
            f"{ev['test_decided_share']:.0%} decided with accuracy {ev['test_accuracy_outside_band']:.3f}"
            f"{decided_counts(ev.get('test_decided'))} (risk-coverage curve: `figures/05_risk_coverage.png`)"
            + (f"; with the out-of-domain rule too, as the engine decides, {ev['test_engine_decided_share']:.1%} "
               f"at accuracy {ev['test_engine_accuracy_decided']:.3f}{decided_counts(ev.get('test_engine_decided'))}"
               if "test_engine_decided_share" in ev else "")
            + ".")


def soft_verdicts_table(rows: list[dict], check: dict | None) -> list[str]:
    """results.md's section on faces softer than validation (:func:`dfd.evaluation.sharpness.soft_verdicts`
    and the bundle's check, from metrics.json)."""
    parts = ["## Verdicts on blurred and downscaled test faces (sharpness check)", ""]
    if check:
        acc = check.get("soft_accuracy") or {}
        measured = (f"decided {acc['n']} of its soft copies at accuracy {acc['value']:.3f}{decided_counts(acc)}"
                    if acc.get("n") else "decided none of its soft copies")
        parts += [f"Threshold {check['threshold']:.3f} (fine detail at {check['size']} px, split-conformal "
                  f"{1 - check['quantile']:.0%} lower tail of {check['n_threshold']} clean validation faces). Without "
                  f"the check the bundle {measured} (blurred or downscaled validation faces), so the check is "
                  f"**{'active' if check['active'] else 'inactive'}**: a face under the threshold is "
                  f"{'`uncertain`' if check['active'] else 'flagged, its verdict kept'}.", ""]
    return parts + check_verdicts_rows(rows, "flagged_soft", "flagged soft")


def check_verdicts_rows(rows: list[dict], flagged_key: str, flagged_title: str) -> list[str]:
    """The table of :func:`dfd.evaluation.check_verdicts.verdicts_with_and_without`'s rows."""
    parts = [f"| input | rule | {flagged_title} | decided | accuracy of the decided [95% CI] | real faces called fake |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        acc = (f"{r['accuracy_decided']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] ({r['n_decided']})"
               if r["n_decided"] else "none decided")
        flagged = "" if r[flagged_key] is None else f"{r[flagged_key]:.0%}"
        parts.append(f"| {r['input']} | {r['rule']} | {flagged} | {r['decided']:.1%} | {acc} | "
                     f"{r['real_called_fake']}/{r['n_real']} |")
    return parts + [""]


def compressed_verdicts_table(rows: list[dict], check: dict | None) -> list[str]:
    """results.md's section on heavily compressed faces (:func:`dfd.evaluation.compression.compressed_verdicts`
    and the bundle's check, from metrics.json)."""
    parts = ["## Verdicts on JPEG-compressed test faces (compression check)", ""]
    if check:
        levels = []
        for q, acc in check["level_accuracy"].items():
            levels.append(f"{q}: {acc['value']:.3f}{decided_counts(acc)}" if acc.get("n") else f"{q}: none decided")
        ref = check.get("reference_range")
        own = (f"the validation photos' own qualities, 1% tails of {check['n_reference']}: {ref[0]:.0f}-{ref[1]:.0f}"
               if ref else "the validation photos' own qualities unknown")
        state = (f"**active**: a photo read nearest JPEG quality {', '.join(map(str, check['failing_levels']))} is "
                 f"`uncertain`, unless within 2 of {own}" if check["failing_levels"] else
                 "**inactive**: no level missed it credibly, so no verdict changes")
        parts += [f"Without the check, the bundle's decided verdicts on the validation faces saved at each JPEG quality "
                  f"were right (accuracy, decided): {'; '.join(levels)}. Target {check['target']:.0%}; the check is "
                  f"{state}.", ""]
    return parts + check_verdicts_rows(rows, "flagged", "flagged")


def write_results_md(dataset: str) -> Path:
    """``reports/<dataset>/results.md``: every table of the study, from metrics.json."""
    m = read_metrics(dataset)
    parts = [f"# Results: {dataset}", "", "Generated from `metrics.json` by `dfd.evaluation.report.write_results_md`; "
             "do not edit by hand.", ""]
    data = m.get("data")
    if data:
        parts += ["## Data", "", "| split | real crops | fake crops |", "|---|---|---|"]
        for s, c in data.get("crops", {}).items():
            parts.append(f"| {s} | {c.get('real', 0)} | {c.get('fake', 0)} |")
        fs = data.get("face_stage", {})
        parts += ["", f"Face stage: {fs.get('faces_ok')} crops from {fs.get('files')} files "
                  f"(no face: {fs.get('no_face')}, unreadable: {fs.get('errors')}).", ""]
    parts += ["## Headline", "", markdown_table(headline_rows(dataset)), ""]
    ev = m.get("evaluation")
    if ev:
        parts += ["## Every model and ensemble (test, bootstrap 95% CI)", "",
                  "| model | ROC-AUC | AP | accuracy | EER | log loss | Brier | ECE | ECE if perfectly calibrated | MCE |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        floors = ev.get("ece_if_perfectly_calibrated", {})
        for name, t in ev["test"].items():
            fl = floors.get(name)
            floor = f"{fl['mean']:.3f} (p95 {fl['p95']:.3f})" if fl else "n/a"
            parts.append(f"| {name} | " + " | ".join(format_metric(t.get(k)) for k in
                         ("roc_auc", "average_precision", "accuracy", "eer", "log_loss", "brier", "ece"))
                         + f" | {floor} | {format_metric(t.get('mce'))} |")
        parts += ["", "ECE if perfectly calibrated: the ECE (15 bins) a model whose scores are exactly right would "
                  "still show on this test set, labels drawn from its own scores 2000 times; ECE is biased upwards on "
                  "small sets, so a measured ECE near this figure is as calibrated as this test set can tell."]
        parts += ["", band_sentence(ev), ""]
        if ev.get("cross_dataset"):
            parts += ["## Cross-dataset ROC-AUC (rows: trained on, columns: tested on)", ""]
            cols = sorted({r["tested_on"] for r in ev["cross_dataset"]})
            parts += ["| trained on | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            for tr in sorted({r["trained_on"] for r in ev["cross_dataset"]}):
                cells = {r["tested_on"]: r["auc"] for r in ev["cross_dataset"] if r["trained_on"] == tr}
                parts.append(f"| {tr} | " + " | ".join(f"{cells[c]:.3f}" if c in cells else "" for c in cols) + " |")
            parts.append("")
        if ev.get("robustness"):
            parts += robustness_table(ev["robustness"], ev.get("robustness_margins") or [])
        if ev.get("soft_verdicts"):
            parts += soft_verdicts_table(ev["soft_verdicts"], ev.get("sharpness_check"))
        if ev.get("compressed_verdicts"):
            parts += compressed_verdicts_table(ev["compressed_verdicts"], ev.get("compression_check"))
    video = m.get("video")
    if video and video.get("frames_table"):
        parts += ["## Video: frames per video", ""]
        rows = video["frames_table"]
        keys = list(rows[0].keys())
        parts += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for r in rows:
            parts.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
        parts.append("")
    path = reports_dir(dataset) / "results.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
