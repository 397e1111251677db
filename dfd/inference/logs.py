"""Quiet start-up for the CLI and the app: TensorFlow's notices are noise to a user and hide
real warnings."""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import warnings

NOISY_LIBRARIES = ("tensorflow", "absl", "keras", "h5py")
# TensorFlow's C++ start-up notices that TF_CPP_MIN_LOG_LEVEL does not reach: TF 2.21 logs them
# through absl before absl's log is initialised, e.g. "oneDNN custom operations are on" on CPUs
# where oneDNN's operations are on by default (Intel AVX-512: two lines per notice).
STARTUP_NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|\] oneDNN custom operations are on"
    r"|cpu_feature_guard"
    r"|To enable the following instructions: .*rebuild TensorFlow")


def quiet_tensorflow_logs() -> None:
    """Silence TensorFlow's C++ start-up notices (unless the user set ``TF_CPP_MIN_LOG_LEVEL``),
    the Python-side log lines of TensorFlow, absl, Keras and h5py below ERROR (a level someone
    chose on purpose is kept) and library warnings raised inside them. dfd's own warnings stay
    visible. Call before TensorFlow is imported (the C++ level is read at import); safe to call again."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in NOISY_LIBRARIES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl|h5py)(\.|$)")


def without_startup_notices(text: str) -> str:
    """``text`` (what went to stderr) less the lines of :data:`STARTUP_NOTICES`."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_NOTICES.search(line))


def import_quietly(module: str = "tensorflow") -> None:
    """Import ``module`` (TensorFlow by default) with what it writes to stderr (file
    descriptor 2, where C++ logs go) held back, then write that back less TensorFlow's start-up
    notices: a real warning or error of the import still shows, after it. A no-op once the
    module is imported, and when ``TF_CPP_MIN_LOG_LEVEL`` is 0 (the user asked for the notices)."""
    import threading

    # only on the main thread: fd 2 is the whole process's, so another thread's messages would be
    # held meanwhile (the app's preload thread imports plainly)
    if (module in sys.modules or threading.current_thread() is not threading.main_thread()
            or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("", "0")):
        importlib.import_module(module)
        return
    from dfd.lite import held_stderr

    with held_stderr(keep=without_startup_notices):
        importlib.import_module(module)


def preload_model_code() -> None:
    """Import the model code :meth:`Detector.from_dir` needs (Keras and dfd's registered layers,
    seconds on a CPU) now, e.g. on a thread while a window is built."""
    import dfd.models  # noqa: F401
