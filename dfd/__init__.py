"""dfd — a reproducible deepfake-detection study and its offline inference engine.

Layers flow one way: ``dfd.data`` → ``dfd.models`` → ``dfd.training.train`` → ``dfd.evaluation.study``
(metrics, ensemble, calibration) → ``dfd.inference.engine``.
"""

__version__ = "0.1.0"

LABEL_NAMES = {0: "real", 1: "fake"}  # the positive class is "fake" everywhere in dfd
