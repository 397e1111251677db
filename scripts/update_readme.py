"""Regenerate the README's results block from reports/*/metrics.json (run by `make readme`,
at the end of `make reproduce`) and its external-evaluation block from
reports/*/external/*/metrics.json (`--external-only`: that block alone, as `make
evaluate-external` does). Only the text between each block's two markers is replaced."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dfd.evaluation.report import band_sentence, headline_rows, markdown_table, read_metrics  # noqa: E402
from dfd.external import markdown_header, markdown_rows  # noqa: E402

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
EXTERNAL_BEGIN, EXTERNAL_END = "<!-- external:begin -->", "<!-- external:end -->"


def results_block() -> str:
    reports = ROOT / "reports"
    datasets = sorted(p.parent.name for p in reports.glob("*/metrics.json")) if reports.exists() else []
    rows = [r for d in datasets for r in headline_rows(d)]
    if not rows:
        return "_No results yet: run `make reproduce`._"
    lines = [markdown_table(rows), ""]
    for d in datasets:
        m = read_metrics(d)
        if m.get("data", {}).get("smoke"):
            lines.append(f"_{d}: smoke run (tiny subset) — not a real result._")
        if "operating_point" in m.get("evaluation", {}):
            lines.append(f"\n{d}: {band_sentence(m['evaluation'])}")
        # reports/ is not committed: the README's figures are copied next to it, in docs/figures/
        figs = [f for f in ("05_roc.png", "05_reliability.png", "05_robustness.png")
                if (reports / d / "figures" / f).exists()]
        (ROOT / "docs" / "figures").mkdir(parents=True, exist_ok=True)
        for f in figs:
            shutil.copyfile(reports / d / "figures" / f, ROOT / "docs" / "figures" / f"{d}_{f}")
        if figs:
            lines.append("")
            lines.append(" ".join(f"![{d} {f[3:-4]}](docs/figures/{d}_{f})" for f in figs))
            lines.append(f"\nAll tables of a run: `reports/{d}/results.md`; machine-readable: `reports/{d}/metrics.json`.")
    return "\n".join(lines)


def _shown(folder: str) -> str:
    """A models folder as the README shows it: relative to the checkout, else its last two parts
    (an absolute path of someone's machine says nothing to a reader)."""
    path = Path(folder)
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return "…/" + "/".join(path.parts[-2:])


def external_block() -> str:
    """Pooled and per-source rows of every external evaluation in reports/<dataset>/external/<name>/."""
    reports = ROOT / "reports"
    found = sorted(reports.glob("*/external/*/metrics.json")) if reports.exists() else []
    if not found:
        return "_No external evaluation yet: run `make evaluate-external EXTERNAL=<folder>`._"
    prefix = ("dataset", "folder", "kind")
    lines, notes = markdown_header(prefix), []
    for path in found:
        m = json.loads(path.read_text(encoding="utf-8"))
        dataset, name = path.parents[2].name, path.parent.name
        for kind in dict.fromkeys(g["kind"] for g in m["groups"]):
            lines += markdown_rows(m["groups"], kind, prefix=(dataset, name, kind))
        if m.get("limit"):
            notes.append(f"_{dataset} / {name}: at most {m['limit']} files per source — a quick look, not a result._")
        notes.append(f"All tables of {dataset} / {name}: `reports/{dataset}/external/{name}/results.md`; per file: "
                     f"`per_file.csv`; bundle `{_shown(m['models_dir'])}` ({', '.join(m.get('models', []))}), "
                     f"{m['frames']} frames per video.")
    return "\n".join(lines + [""] + notes)


def _replace(text: str, begin: str, end: str, block: str) -> str:
    return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: begin + "\n" + block + "\n" + end,
                  text, flags=re.S)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--external-only", action="store_true", help="rewrite the external-evaluation block only")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if not args.external_only:
        if BEGIN not in text or END not in text:
            print("README.md has no results markers; nothing to do")
            return 1
        text = _replace(text, BEGIN, END, results_block())
        print("README.md results table updated")
    if EXTERNAL_BEGIN in text and EXTERNAL_END in text:
        text = _replace(text, EXTERNAL_BEGIN, EXTERNAL_END, external_block())
        print("README.md external-evaluation block updated")
    else:
        print("README.md has no external-evaluation markers; that block is left out")
    readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
