"""The offline inference engine (the API the CLI and the desktop app use)."""

from dfd.inference.engine import (
    AnalysisResult,
    Detector,
    FaceResult,
    FrameScore,
    Limits,
    default_models_dir,
    display_path,
    file_kind,
    iter_media,
    sniff_kind,
)

__all__ = ["AnalysisResult", "Detector", "FaceResult", "FrameScore", "Limits", "default_models_dir",
           "display_path", "file_kind", "iter_media", "sniff_kind"]
