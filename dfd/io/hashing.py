"""The one hash helper: SHA-256 of a file's bytes, read in blocks (media files can be GBs), or of a text."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8 (e.g. a canonical JSON dump)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_arrays(arrays) -> str:
    """Hex SHA-256 of the bytes of ``arrays`` in order (e.g. a model's weights)."""
    import numpy as np

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()
