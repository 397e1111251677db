"""Compare two runs' ``metrics.json`` number by number: are they the same to N decimals?

    python scripts/compare_runs.py reports/dfd-default/metrics.json /tmp/run2/reports/dfd-default/metrics.json

Timings (any key with "seconds" or "time" in it) and absolute paths are skipped: they
differ between runs by nature. Entries only one run has (e.g. the cross-dataset rows of a
dataset the other run never trained) are listed, not compared. Exit status 0 when every
shared number agrees, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SKIP_WORDS = ("seconds", "time", "source_root", "path", "created", "device")


def flatten(node, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b[0]": 1, "a.b[1]": 2}``; list rows that carry
    ``trained_on``/``tested_on`` (or ``name``/``model``) are keyed by them, not by position."""
    out: dict[str, object] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            tag = str(i)
            if isinstance(v, dict):
                keys = [v[k] for k in ("trained_on", "tested_on", "name", "model", "ensemble", "condition")
                        if k in v and isinstance(v[k], str)]
                tag = "/".join(keys) or tag
            out.update(flatten(v, f"{prefix}[{tag}]"))
    else:
        out[prefix] = node
    return out


def compare(a: dict, b: dict, decimals: int = 3) -> tuple[list[str], list[str], int]:
    fa, fb = flatten(a), flatten(b)
    skip = lambda key: any(w in key.lower() for w in SKIP_WORDS)  # noqa: E731
    only = sorted(k for k in set(fa) ^ set(fb) if not skip(k))
    differ, compared = [], 0
    for key in sorted(set(fa) & set(fb)):
        if skip(key):
            continue
        x, y = fa[key], fb[key]
        compared += 1
        if isinstance(x, float) or isinstance(y, float):
            same = x is not None and y is not None and round(float(x), decimals) == round(float(y), decimals)
        else:
            same = x == y
        if not same:
            differ.append(f"{key}: {x!r} vs {y!r}")
    return differ, only, compared


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--decimals", type=int, default=3)
    args = ap.parse_args(argv)
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (args.first, args.second))
    differ, only, compared = compare(a, b, args.decimals)
    for line in differ:
        print("DIFFERS", line)
    if only:
        print(f"{len(only)} entries only in one run (not compared), e.g. {only[:3]}")
    print(f"{compared} values compared, {len(differ)} differ at {args.decimals} decimals")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
