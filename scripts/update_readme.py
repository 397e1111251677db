"""Regenerate the README's results block from reports/*/metrics.json (run by `make readme`,
at the end of `make reproduce`). Only the text between the two markers is replaced."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dfd.evaluation.report import headline_rows, markdown_table, read_metrics  # noqa: E402

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


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


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print("README.md has no results markers; nothing to do")
        return 1
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), BEGIN + "\n" + results_block() + "\n" + END,
                 text, flags=re.S)
    readme.write_text(new, encoding="utf-8")
    print("README.md results table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
