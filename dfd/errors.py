"""Exceptions with messages meant for people."""


class DfdError(Exception):
    """Base class for every error dfd raises on purpose."""


class BadInputError(DfdError):
    """A single input file cannot be used; ``str(err)`` is the per-file reason."""

    def __init__(self, reason: str, path: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path


class NoFaceError(BadInputError):
    """The file is readable but no face was found in it."""
