"""What one file may cost, and the per-file clock that enforces the time budget and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dfd.io.images import DEFAULT_MAX_PIXELS


@dataclass
class Limits:
    """What one file may cost. Sizes are checked before decoding; the time budget between
    stages (a single decode or model call is not interrupted)."""

    max_bytes: int = 2 * 1024**3  # per file (videos included)
    max_pixels: int = DEFAULT_MAX_PIXELS  # one image, from its header (decompression bombs)
    max_frames: int = 50_000  # video frames decoded for one file (skipped frames count too)
    max_duration_s: float = 2 * 3600.0  # video length
    time_budget_s: float = 300.0  # per file, end to end
    max_frame_pixels: int = 3840 * 2160  # one video frame (32 sampled 8K frames would need GBs)


class _Abort(Exception):
    """Stops one file's analysis: cancelled or over the time budget."""


class _Clock:
    def __init__(self, limits: Limits, cancel: threading.Event | None, progress: Callable | None):
        self.start = time.perf_counter()
        self.limits = limits
        self.cancel = cancel
        self.progress = progress
        self.timings: dict[str, float] = {"decode": 0.0, "faces": 0.0, "models": 0.0, "explain": 0.0}

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise _Abort("cancelled")
        elapsed = time.perf_counter() - self.start
        if elapsed > self.limits.time_budget_s:
            raise _Abort(
                f"analysis stopped: it took longer than the {self.limits.time_budget_s:g} s time budget per file"
            )

    def add(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(float(min(1.0, max(0.0, fraction))))
