"""The offline inference engine (the API the CLI and the desktop app use)."""

from dfd.inference.engine import (
    AnalysisResult,
    Detector,
    FaceResult,
    FrameScore,
    Limits,
    TrackResult,
    bundle_summary,
    default_models_dir,
    display_path,
    file_kind,
    iter_media,
    sniff_kind,
)
from dfd.inference.deciding import ENGINE_RULES_VERSION
from dfd.inference.logs import preload_model_code, quiet_tensorflow_logs
from dfd.io.media import MediaScan, SkippedFile, scan_paths

__all__ = ["AnalysisResult", "Detector", "FaceResult", "FrameScore", "Limits", "TrackResult", "bundle_summary", "default_models_dir",
           "display_path", "file_kind", "iter_media", "sniff_kind", "MediaScan", "SkippedFile", "scan_paths",
           "preload_model_code", "quiet_tensorflow_logs", "ENGINE_RULES_VERSION"]
