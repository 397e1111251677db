"""Each member of a bundle on its own over an external run: ROC-AUC (bootstrap 95% CI), log
loss and reals called fake at 0.5 per kind and source, from the run's ``per_file.csv`` (its
``p_<member>`` columns, each member's calibrated score) — so a pretrained or fresh-fake member
is compared with the others on media none of them saw, without running the models again.

    python -m dfd.external.members reports/dfd-default/external/crossdomain_dev [--n-boot 1000]

writes ``members.md`` and ``members.csv`` beside the run's report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dfd.external.recalibration import rescored_rows
from dfd.external.report import write_table


def member_columns(per_file: pd.DataFrame) -> list[str]:
    return [c[2:] for c in per_file.columns if c.startswith("p_") and c != "p_fake"]


def member_table(per_file: pd.DataFrame, members=None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (member or ``ensemble``, kind, group): n scored, AUC and CI, log loss, and
    the share of real files whose member score is >= 0.5."""
    members = list(members or member_columns(per_file))
    rows = []
    for name in [*members, "ensemble"]:
        p = per_file["p_fake" if name == "ensemble" else f"p_{name}"].to_numpy(np.float64)
        for r in rescored_rows(per_file, p, n_boot=n_boot, seed=seed):
            auc, loss = r["metrics"]["roc_auc"], r["metrics"]["log_loss"]
            own = per_file[(per_file["kind"] == r["kind"])
                           & ((per_file["source"] == r["group"]) if r["group"] != "pooled" else True)]
            real = own[own["label"].isin([0, "real"])]
            pr = real["p_fake" if name == "ensemble" else f"p_{name}"].to_numpy(np.float64)
            pr = pr[np.isfinite(pr)]
            rows.append({"model": name, "kind": r["kind"], "group": r["group"], "scored_real": r["scored_real"],
                         "scored_fake": r["scored_fake"], "auc": auc["value"], "auc_low": auc["ci_low"],
                         "auc_high": auc["ci_high"], "log_loss": loss["value"],
                         "reals_over_half": float((pr >= 0.5).mean()) if len(pr) else None})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """ROC-AUC [95% CI] per model (columns) and kind / group (rows)."""
    def cell(r):
        if r.auc is None or not np.isfinite(r.auc):
            return "-"
        ci = f" [{r.auc_low:.2f}, {r.auc_high:.2f}]" if r.auc_low is not None and np.isfinite(r.auc_low) else ""
        return f"{r.auc:.3f}{ci}"

    models = list(dict.fromkeys(table["model"]))
    lines = ["| kind | group | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for (kind, group), g in table.groupby(["kind", "group"], sort=False):
        by = {r.model: cell(r) for r in g.itertuples()}
        lines.append(f"| {kind} | {group} | " + " | ".join(by.get(m, "-") for m in models) + " |")
    reals = table[table.group == "pooled"].pivot_table(index="kind", columns="model", values="reals_over_half",
                                                       sort=False)
    lines += ["", "Share of real files with a member score >= 0.5 (pooled):", "",
              "| kind | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for kind, r in reals.iterrows():
        lines.append(f"| {kind} | " + " | ".join("-" if pd.isna(r.get(m)) else f"{r[m]:.2f}" for m in models) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Each bundle member on its own over an external run.")
    ap.add_argument("report", help="an external run's folder (holding per_file.csv)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    folder = Path(args.report)
    per_file = pd.read_csv(folder / "per_file.csv")
    table = member_table(per_file, n_boot=args.n_boot, seed=args.seed)
    write_table(table, folder, "members", markdown(table))  # prints it too
    return 0


if __name__ == "__main__":
    sys.exit(main())
