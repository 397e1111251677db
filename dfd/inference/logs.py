"""Quiet start-up for the CLI and the app: TensorFlow's notices are noise to a user and hide
real warnings."""

from __future__ import annotations

import logging
import os
import warnings

NOISY_LIBRARIES = ("tensorflow", "absl", "keras", "h5py")


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


def preload_model_code() -> None:
    """Import the model code :meth:`Detector.from_dir` needs (Keras and dfd's registered layers,
    seconds on a CPU) now, e.g. on a thread while a window is built."""
    import dfd.models  # noqa: F401
