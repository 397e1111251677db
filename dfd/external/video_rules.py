"""The video rules of :mod:`dfd.evaluation.video_rules` compared on a labelled folder's videos.

The engine's analyses are the external evaluation's (:func:`dfd.external.runner.analyse`,
cached in ``results.jsonl`` with each video's scored faces), so the comparison costs nothing
once the folder was evaluated; ``python -m dfd.external.video_rules FOLDER`` analyses what
is not cached yet and writes ``video_rules.csv`` / ``video_rules.md`` beside the external
report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dfd.evaluation.video_rules import VIDEO_RULES, compare_rules, rule_scores
from dfd.external.labels import LabelledSet
from dfd.external.runner import CACHE_FILE, read_cache


def labelled_videos(labelled: LabelledSet, cache_dir) -> list[dict]:
    """The labelled set's videos whose cached analysis holds scored faces:
    ``{"path", "label", "group", "faces"}`` each (``group``: the file's source)."""
    cached = read_cache(Path(cache_dir) / CACHE_FILE)
    out = []
    for row in labelled.files.itertuples():
        if row.kind != "video":
            continue
        entry = cached.get(Path(os.path.relpath(row.path, labelled.root)).as_posix())
        faces = (entry or {}).get("result", {}).get("faces")
        if faces:
            out.append({"path": row.path, "label": int(row.label), "group": row.source, "faces": faces})
    return out


def temporal_scores(paths, model_path, cache_dir=None) -> dict[str, float]:
    """The temporal video model's P(fake) of each video (notebook 06's model: clip crops of
    :func:`dfd.data.video_crops.crop_clip` with its frame count and face size); videos
    without a face are left out."""
    import numpy as np

    from dfd.data.video_crops import crop_clip, temporal_input
    from dfd.models import load_model

    model, _card = load_model(model_path)
    T, size = int(model.input_shape[1]), int(model.input_shape[2])
    out = {}
    for path in paths:
        clip = crop_clip(path, T, size, cache_dir=cache_dir)
        if clip.ok and any(clip.detected):
            x = temporal_input(clip, T)[None].astype(np.float32)
            out[path] = float(np.asarray(model.predict_on_batch(x)).reshape(-1)[0])
    return out


def rule_table(videos: list[dict], n_boot: int = 1000, seed: int = 0, threshold: float = 0.5,
               extra: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """Every rule on all videos (group ``pooled``) and on each fake source against all the
    real videos (as the external report compares them). ``extra``: more scores per video
    (name -> path -> score, e.g. the temporal model's), compared on the videos they cover."""
    scores = rule_scores(videos)
    if scores.empty:
        raise ValueError("no analysed video with a scored face")
    rules = None
    if extra:
        for name, by_path in extra.items():
            scores[name] = scores.path.map(by_path)
        rules = [*[r for r in scores.columns if r in VIDEO_RULES], *extra]
    tables = [compare_rules(scores, rules, n_boot=n_boot, seed=seed, threshold=threshold).assign(group="pooled")]
    reals = scores[scores.label == 0]
    for group in sorted(scores[scores.label == 1].group.unique()):
        part = pd.concat([reals, scores[(scores.label == 1) & (scores.group == group)]])
        tables.append(compare_rules(part, rules, n_boot=n_boot, seed=seed, threshold=threshold).assign(group=group))
    return pd.concat(tables, ignore_index=True)


def frames_table(labelled: LabelledSet, detector, ns, out_dir, rule: str | None = None, n_boot: int = 500,
                 seed: int = 0) -> pd.DataFrame:
    """The engine's video rule (default :data:`dfd.inference.deciding.VIDEO_RULE`) against
    the number of sampled frames: for each N the videos analysed with ``frames=N`` (cached in
    ``out_dir/frames_<N>/``), ROC-AUC [95% CI], log loss and seconds per video."""
    import numpy as np

    from dfd.external.runner import analyse
    from dfd.inference.deciding import VIDEO_RULE

    rule = rule or VIDEO_RULE
    rows = []
    for n in ns:
        cache = Path(out_dir) / f"frames_{int(n)}"
        table = analyse(labelled, detector, cache, frames=int(n))
        videos = labelled_videos(labelled, cache)
        scores = rule_scores(videos)
        row = compare_rules(scores, [rule], n_boot=n_boot, seed=seed).iloc[0].to_dict()
        row.update({"frames": int(n), "no_face": int((table.verdict == "no_face").sum()),
                    "seconds_per_video": float(np.mean(table.seconds))})
        rows.append(row)
    return pd.DataFrame(rows)


def with_share_rule(faces: list[dict], min_share: float, n_frames: int) -> list[dict]:
    """The video's face records with ``decides`` set by the track-share rule alone: a track
    seen in under ``min_share`` of the ``n_frames`` sampled frames may not decide, unless no
    track is seen that often (then all may, as in the engine)."""
    counts: dict[int, int] = {}
    for f in faces:
        counts[int(f["track"])] = counts.get(int(f["track"]), 0) + 1
    keep = {t for t, c in counts.items() if c / max(1, n_frames) >= min_share} or set(counts)
    return [{**f, "decides": int(f["track"]) in keep} for f in faces]


def share_table(videos: list[dict], shares, n_frames: int, rule: str | None = None, n_boot: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The engine's video rule under each minimum track share (what
    :data:`dfd.inference.deciding.MIN_TRACK_SHARE` is): ROC-AUC [95% CI], log loss, reals
    called fake, and how many videos had a track the share left out."""
    from dfd.inference.deciding import VIDEO_RULE

    rule = rule or VIDEO_RULE
    rows = []
    for share in shares:
        redone = [{**v, "faces": with_share_rule(v["faces"], float(share), n_frames)} for v in videos]
        scores = rule_scores(redone)
        row = compare_rules(scores, [rule], n_boot=n_boot, seed=seed).iloc[0].to_dict()
        row.update({"min_share": float(share),
                    "videos_with_a_track_left_out": sum(not all(f["decides"] for f in v["faces"]) for v in redone)})
        rows.append(row)
    return pd.DataFrame(rows)


def _sweep_markdown(table: pd.DataFrame, first: tuple[str, str, str], extra: list[tuple[str, str, str]]) -> str:
    """A sweep's table (one row per setting): ``first`` and ``extra`` are (header, column,
    format) triples around the AUC [95% CI], log loss and reals-called-fake columns."""
    cols = [first, ("videos", "videos", "d")]
    head = [c[0] for c in cols] + ["ROC-AUC [95% CI]", "log loss", "reals called fake"] + [c[0] for c in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.to_dict(orient="records"):
        lo, hi = r["roc_auc_ci"]
        ci = "" if lo is None else f" [{lo:.3f}, {hi:.3f}]"
        cells = [format(r[c], f) for _h, c, f in cols]
        cells += [f"{r['roc_auc']:.3f}{ci}", f"{r['log_loss']:.3f}", str(r["reals_called_fake"])]
        cells += [format(r[c], f) for _h, c, f in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def share_markdown(table: pd.DataFrame) -> str:
    return _sweep_markdown(table, ("min track share", "min_share", ".2f"),
                           [("videos with a track left out", "videos_with_a_track_left_out", "d")])


def markdown(table: pd.DataFrame) -> str:
    def ci(v):
        return "" if v is None or v[0] is None else f" [{v[0]:.3f}, {v[1]:.3f}]"

    lines = ["| group | rule | videos | ROC-AUC [95% CI] | log loss [95% CI] | accuracy | reals called fake |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.group} | {r.rule} | {r.videos} | {r.roc_auc:.3f}{ci(r.roc_auc_ci)} | "
                     f"{r.log_loss:.3f}{ci(r.log_loss_ci)} | {r.accuracy:.3f} | {r.reals_called_fake} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from dfd.external.runner import analyse, folder_arguments, folder_engine

    ap = folder_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--temporal", default=None, help="also compare this temporal model (.h5, notebook 06)")
    ap.add_argument("--frames-list", default="", help="e.g. 8,16,32,64: also the engine's rule against frames per video")
    ap.add_argument("--limit", type=int, default=0, help="at most this many videos per label and source")
    ap.add_argument("--shares", default="", help="e.g. 0,0.1,0.25,0.5: also the rule under each minimum track share")
    args = ap.parse_args(argv)

    from dfd.external.report import write_table

    labelled, out, detector = folder_engine(args)
    videos_only = LabelledSet(labelled.root, labelled.files[labelled.files.kind == "video"].reset_index(drop=True),
                              labelled.origin).limited(args.limit)
    analyse(videos_only, detector, out, frames=args.frames)
    videos = labelled_videos(videos_only, out)
    extra = {"temporal": temporal_scores([v["path"] for v in videos], args.temporal)} if args.temporal else None
    table = rule_table(videos, n_boot=args.n_boot, extra=extra)
    write_table(table, out, "video_rules", markdown(table))
    if args.shares:
        shares = share_table(videos, [float(v) for v in args.shares.split(",") if v.strip()], args.frames,
                             n_boot=args.n_boot)
        write_table(shares, out, "track_share", share_markdown(shares))
    if args.frames_list:
        ns = [int(v) for v in args.frames_list.split(",") if v.strip()]
        fpv = frames_table(videos_only, detector, ns, out, n_boot=args.n_boot)
        write_table(fpv, out, "frames_per_video", frames_markdown(fpv))
    return 0


def frames_markdown(table: pd.DataFrame) -> str:
    return _sweep_markdown(table, ("frames", "frames", "d"),
                           [("no_face", "no_face", "d"), ("s/video", "seconds_per_video", ".2f")])


if __name__ == "__main__":
    raise SystemExit(main())
