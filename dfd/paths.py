"""Where things live. Every run writes to ``data/<dataset>/``, ``models/<dataset>/`` and
``reports/<dataset>/`` under the project root, so runs on different datasets sit side by side.

``DFD_HOME`` overrides the root (tests use a temporary one)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    env = os.environ.get("DFD_HOME")
    return Path(env).resolve() if env else PACKAGE_DIR.parent


def data_dir(dataset: str) -> Path:
    return project_root() / "data" / dataset


def models_dir(dataset: str) -> Path:
    return project_root() / "models" / dataset


def reports_dir(dataset: str) -> Path:
    return project_root() / "reports" / dataset


def cache_dir() -> Path:
    """Downloads and detections shared by every run (``DFD_CACHE`` overrides it, so tests
    in a temporary ``DFD_HOME`` still reuse the fetched wheels)."""
    env = os.environ.get("DFD_CACHE")
    return Path(env).resolve() if env else PACKAGE_DIR.parent / "data" / ".cache"
