#!/usr/bin/env python
"""Training / inference throughput of the dfd image detectors on this machine.

Random data, batch 32 by default: a few warm-up steps (graph tracing, oneDNN kernel
selection), then timed ``model.train_on_batch`` and ``model.predict_on_batch`` steps.
The timed steps run in ``--repeats`` blocks and the fastest block is reported (as
``timeit`` does): other processes on a shared machine only ever make a block slower. The
load average is printed before and after so a contended run can be spotted, and the
``train img/CPU-s`` column (images per second of this process's CPU time, all threads
summed) stays comparable between models even when the machine is shared.
Prints a table of images/s; this is a benchmark, not a test.

    python scripts/bench_models.py                       # cnn, cnn_lstm, resnext at 64/96/128
    python scripts/bench_models.py --models cnn --sizes 128 --steps 20
    python scripts/bench_models.py --models resnext --sizes 128 --grouped-impls masked split native
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of the table
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _list(values: list[str]) -> list[str]:
    """Accept both ``--sizes 64 96`` and ``--sizes 64,96``."""
    return [v for value in values for v in value.split(",") if v]


def _rates(step, batch: int, steps: int, repeats: int) -> tuple[float, float]:
    """(best wall-clock images/s over the blocks, images per CPU-second over all blocks)."""
    best, cpu = 0.0, 0.0
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        best = max(best, batch * steps / (time.perf_counter() - start))
        cpu += time.process_time() - cpu_start
    return best, batch * steps * repeats / cpu


def measure(
    model, input_size: int, batch: int, steps: int, warmup: int, repeats: int = 1, seed: int = 0
) -> dict:
    import keras

    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 255.0, (batch, input_size, input_size, 3)).astype("float32")
    y = rng.integers(0, 2, (batch, 1)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")

    for _ in range(warmup):
        model.train_on_batch(x, y)
    train, train_cpu = _rates(lambda: model.train_on_batch(x, y), batch, steps, repeats)
    for _ in range(warmup):
        model.predict_on_batch(x)
    infer, _ = _rates(lambda: model.predict_on_batch(x), batch, steps, repeats)
    return {"train_img_s": train, "infer_img_s": infer, "train_img_cpu_s": train_cpu}


def _load() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="*", default=["cnn", "cnn_lstm", "resnext"],
        help="image models to time (give none to time only --grouped-impls)",
    )
    parser.add_argument("--sizes", nargs="+", default=["64", "96", "128"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per block")
    parser.add_argument("--repeats", type=int, default=2, help="timed blocks; the fastest counts")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--grouped-impls", nargs="+", default=[],
        help="also time resnext with these GroupedConv2D impls (masked split patches native)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from dfd.models import available_models, build_model, model_config
    from dfd.models.layers import GROUPED_IMPLS

    sizes = [int(s) for s in _list(args.sizes)]
    runs = [(name, {}) for name in _list(args.models)]
    for name, _ in runs:
        if name not in available_models() or model_config(name)["model"] == "temporal":
            image = [m for m in available_models() if model_config(m)["model"] != "temporal"]
            parser.error(f"unknown image model {name!r}; choose from {', '.join(image)}")
    for impl in _list(args.grouped_impls):
        if impl not in GROUPED_IMPLS:
            parser.error(f"unknown grouped impl {impl!r}; choose from {GROUPED_IMPLS}")
        runs.append((f"resnext[{impl}]", {"grouped_impl": impl}))

    print(f"batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps, "
          f"x {args.repeats} (best block), {os.cpu_count()} CPU(s), "
          f"keras {keras.__version__} ({keras.backend.backend()}), load avg {_load()}")
    header = (f"{'model':<18} {'size':>4} {'params':>9} {'train img/s':>12} {'infer img/s':>12} "
              f"{'train img/CPU-s':>16}")
    print(header)
    print("-" * len(header))
    results = []
    for label, overrides in runs:
        name = label.split("[")[0]
        for size in sizes:
            keras.backend.clear_session()
            model = build_model(name, size, **overrides)
            row = {"model": label, "size": size, "params": model.count_params()}
            row.update(measure(model, size, args.batch, args.steps, args.warmup, args.repeats))
            results.append(row)
            print(f"{label:<18} {size:>4} {row['params']:>9,} {row['train_img_s']:>12.1f} "
                  f"{row['infer_img_s']:>12.1f} {row['train_img_cpu_s']:>16.1f}", flush=True)
    print(f"load avg {_load()} (1/5/15 min; above {os.cpu_count()} means the CPU was shared)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
