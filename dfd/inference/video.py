"""End-to-end analysis of one video with raw frame models (and the temporal model)."""

from __future__ import annotations

import os
import time

import numpy as np

from dfd.data.video_crops import MARGIN, align_roi, track_main_face
from dfd.evaluation.aggregation import aggregate
from dfd.faces.tracking import video_detector
from dfd.io.video import VideoLimits, sample_video
from dfd.training.temporal import predict_frames


def score_video(path: str | os.PathLike, frame_models: dict, temporal_model=None, n_frames: int = 32,
                detector=None, method: str = "mean", limits: VideoLimits | None = None) -> dict:
    """End-to-end analysis of one video: sample ``n_frames``, detect and track faces, align
    the main face, score every frame with each image model in ``frame_models`` ({name:
    model}), run the temporal model on its T frames and aggregate. Returns scores, the
    tracking summary and the seconds each stage took. No face → ``status`` "no_face" and
    no score; an unreadable file raises BadInputError."""
    detector = detector or video_detector()
    timings = {}
    t = time.perf_counter()
    sample = sample_video(path, n=n_frames, limits=limits)
    timings["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    tracks = track_main_face(sample.frames, detector)
    timings["detect_track"] = time.perf_counter() - t
    result = {"path": str(path), "info": sample.info.to_dict(), "notes": sample.notes,
              "frames": len(sample.frames), "tracking": tracks.summary(), "timings": timings}
    main = tracks.main()
    if main is None:
        result.update(status="no_face", reason="no face found")
        return result
    t = time.perf_counter()
    sizes = {int(m.input_shape[1]) for m in frame_models.values()}
    if temporal_model is not None:
        sizes.add(int(temporal_model.input_shape[2]))
    positions = main.positions
    crops = {s: np.stack([align_roi(sample.frames[p].rgb, main.at(p).face.landmarks, s, MARGIN) for p in positions])
             for s in sizes}
    timings["align"] = time.perf_counter() - t
    scores, per_frame = {}, {}
    for name, model in frame_models.items():
        t = time.perf_counter()
        p = predict_frames(model, crops[int(model.input_shape[1])])
        timings[f"model:{name}"] = time.perf_counter() - t
        per_frame[name] = p.round(4).tolist()
        scores[name] = aggregate(p, method)
    if temporal_model is not None:
        t = time.perf_counter()
        T = int(temporal_model.input_shape[1])
        c = crops[int(temporal_model.input_shape[2])]
        x = c[np.round(np.linspace(0, len(c) - 1, T)).astype(int)][None].astype(np.float32)
        scores["temporal"] = float(np.asarray(temporal_model.predict_on_batch(x)).reshape(-1)[0])
        timings["model:temporal"] = time.perf_counter() - t
    result.update(status="ok", scores=scores, per_frame=per_frame,
                  frame_indices=[sample.frames[p].index for p in positions],
                  frame_times=[round(sample.frames[p].time_s, 3) for p in positions],
                  main_track=main.to_dict())
    return result
