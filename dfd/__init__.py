"""dfd — a reproducible deepfake-detection study and its offline inference engine.

Layers flow one way (each imports only from those before it; tests/test_layers.py checks):
``dfd.io`` → ``dfd.faces`` → ``dfd.data`` → ``dfd.models`` → ``dfd.training`` →
``dfd.evaluation`` → ``dfd.inference`` → ``dfd.external`` / ``dfd.cli`` (and the ``gui`` package).
``dfd.errors``, ``dfd.paths`` and ``dfd.metrics`` serve every layer.
"""

__version__ = "0.1.0"

LABEL_NAMES = {0: "real", 1: "fake"}  # the positive class is "fake" everywhere in dfd
