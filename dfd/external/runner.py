"""Run the bundle over labelled files through the app's engine, one cached result per file.

Each analysed file becomes one line of ``results.jsonl``: its key (path relative to the
folder, size, modification time, the bundle's member ids ``name@sha256[:12]``, frames per
video) and its flat result. A rerun reuses every line whose key still matches, so an
interrupted evaluation resumes where it stopped, and a changed file or a retrained bundle
is analysed again.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from dfd.external.labels import LabelledSet, collect_labels

CACHE_FILE = "results.jsonl"
# the engine's result, flattened: one column per field (member scores as p_<member>)
RESULT_COLUMNS = ["verdict", "p_fake", "n_faces", "n_frames_scored", "seconds", "error", "members"]


def file_key(root: Path, path: str, models: list[str], frames: int, bundle: str | None = None) -> dict:
    try:
        st = os.stat(path)
        size, mtime = int(st.st_size), int(st.st_mtime_ns)
    except OSError:
        size = mtime = None
    from dfd.inference import ENGINE_RULES_VERSION

    return {"path": Path(os.path.relpath(path, root)).as_posix(), "size": size, "mtime_ns": mtime,
            "models": list(models), "bundle": bundle, "frames": int(frames), "engine_rules": ENGINE_RULES_VERSION}


def flat_result(result) -> dict:
    """The per-file fields the external report uses, from an :class:`AnalysisResult`."""
    return {
        "verdict": result.verdict,
        "p_fake": None if result.p_fake is None else float(result.p_fake),
        "n_faces": len(result.faces),
        "n_frames_scored": sum(1 for f in result.frames if f.p_fake is not None),
        "seconds": float(result.timings.get("total", 0.0)),
        "error": result.error,
        "members": {k: float(v) for k, v in result.member_scores.items()},
        "faces": face_records(result) if result.kind == "video" else None,
    }


def face_records(result) -> list[dict]:
    """A video's scored faces as the records the video rules read
    (:mod:`dfd.evaluation.video_rules`): frame, track, P(fake), whether it may decide."""
    return [{"frame": f.frame_index, "track": f.track_id, "p": round(float(f.p_fake), 6),
             "decides": bool(f.decides)} for f in result.faces]


def read_cache(path: Path) -> dict[str, dict]:
    """``rel path -> {"key", "result"}`` from a cache file; a line cut short by an
    interruption (or otherwise unreadable) is ignored, a later line for a file wins."""
    out: dict[str, dict] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
                out[entry["key"]["path"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return out


def _end_last_line(path: Path) -> None:
    """A line cut short by an interruption must not swallow the next one appended."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            fh.write(b"\n")


def analyse(labelled: LabelledSet, detector, cache_dir, frames: int = 32, progress: bool = True) -> pd.DataFrame:
    """Analyse every file of ``labelled`` with ``detector.analyze(path, frames=frames)``,
    reusing the cached results in ``cache_dir/results.jsonl`` and appending new ones as
    they come. Returns the labelled table joined with each file's result (one row per
    file, :data:`RESULT_COLUMNS` added, and ``cached``: whether it came from the cache)."""
    from tqdm import tqdm

    cache_path = Path(cache_dir) / CACHE_FILE
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cached = read_cache(cache_path)
    models = list(detector.model_ids)
    bundle = getattr(detector, "bundle_id", None)  # stand-ins in tests have none
    records, todo = {}, []
    for path in labelled.files["path"]:
        key = file_key(labelled.root, path, models, frames, bundle)
        entry = cached.get(key["path"])
        if entry is not None and entry["key"] == key:
            records[path] = dict(entry["result"], cached=True)
        else:
            todo.append((path, key))
    _end_last_line(cache_path)
    with open(cache_path, "a", encoding="utf-8") as fh:
        bar = tqdm(todo, desc=f"analysing {labelled.name}", unit="file", file=sys.stderr, disable=not progress,
                   initial=0, total=len(todo), mininterval=2.0, dynamic_ncols=True)
        for path, key in bar:
            flat = flat_result(detector.analyze(path, frames=frames))
            fh.write(json.dumps({"key": key, "result": flat}, ensure_ascii=False, allow_nan=False) + "\n")
            fh.flush()
            records[path] = dict(flat, cached=False)
        bar.close()
    results = pd.DataFrame([records[p] for p in labelled.files["path"]],
                           columns=RESULT_COLUMNS + ["cached"])
    return pd.concat([labelled.files.reset_index(drop=True), results], axis=1)


def folder_arguments(description: str):
    """An ``argparse`` parser with the arguments every tool over a labelled folder takes:
    the folder, ``--dataset``, ``--models``, ``--name``, ``--frames`` and ``--n-boot``."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("folder", help="labelled folder (manifest.csv or real/ fake/ folders)")
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--models", default=None, help="bundle folder (default models/<dataset>)")
    ap.add_argument("--name", default=None, help="external report name (default: the folder's name)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--n-boot", type=int, default=1000)
    return ap


def folder_engine(args) -> tuple[LabelledSet, Path, object]:
    """For :func:`folder_arguments`' ``args``: the labelled folder, its external report folder
    and the engine over the bundle, warmed up."""
    from dfd.external.evaluate import external_dir
    from dfd.inference import Detector, default_models_dir, quiet_tensorflow_logs

    quiet_tensorflow_logs()
    labelled = collect_labels(args.folder)
    detector = Detector.from_dir(args.models or default_models_dir(args.dataset))
    detector.warmup()
    return labelled, external_dir(args.dataset, args.name or labelled.name), detector
