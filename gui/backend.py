"""The app's only door to the detector: thin wrappers over :mod:`dfd.inference`.

``dfd.inference.engine`` (TensorFlow underneath) is imported lazily, inside worker threads, so
the window appears at once and never waits for an import. Nothing here touches Qt."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAKE_HINT = "Run `make reproduce` in the project folder to train the models."
BUNDLE_FILE = "bundle.json"  # what Detector.from_dir reads (dfd.evaluation.ensemble.BUNDLE_FILE)


@dataclass
class LoadOutcome:
    """What loading a models folder gave: a detector, or why not in plain words."""

    models_dir: Path | None
    detector: Any = None
    info: dict = field(default_factory=dict)
    message: str = ""
    missing: bool = False  # no models there at all (vs. models that failed to load)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.detector is not None


_preload_thread = None

# Keras imports these at start-up only for optional helpers the app never calls (its
# scikit-learn wrappers, its matplotlib image-gallery plots): ~1.4 s of a ~6 s start here.
KERAS_OPTIONAL_IMPORTS = ("sklearn", "matplotlib")


class _DeclineImports:
    """A ``sys.meta_path`` finder that makes ``import <name>`` raise ImportError, which
    Keras treats as "optional package not installed". Installed only while Keras itself
    is imported; afterwards those packages import normally again."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ImportError(f"{fullname} is not imported while the app starts")
        return None


def quiet_tensorflow() -> None:
    """TensorFlow's notices out of the app's output (the engine's rule; before TF is imported)."""
    from dfd.inference.logs import quiet_tensorflow_logs

    quiet_tensorflow_logs()


def import_keras_lean() -> None:
    """Import Keras (and TensorFlow under it) without its optional scikit-learn and
    matplotlib integrations. A no-op if Keras is already imported."""
    import sys

    quiet_tensorflow()
    if "keras" in sys.modules:
        return
    already = [n for n in KERAS_OPTIONAL_IMPORTS if n in sys.modules]
    finder = _DeclineImports(n for n in KERAS_OPTIONAL_IMPORTS if n not in already)
    sys.meta_path.insert(0, finder)
    try:
        from dfd.inference.logs import import_quietly

        import_quietly("keras")  # and TensorFlow under it, their C++ start-up notices held back
    finally:
        sys.meta_path.remove(finder)


def start_preload() -> None:
    """Import the detector's stack (TensorFlow, Keras, the model code: ~4-6 s here) on a
    daemon thread right at process start, so it overlaps Qt's start-up and the window
    build; the loader thread's own import then finds the modules ready. Safe to call twice."""
    global _preload_thread
    if _preload_thread is not None:
        return
    import threading

    def _import() -> None:
        try:
            import_keras_lean()
            from dfd.inference import preload_model_code

            preload_model_code()
        except Exception:  # the loader reports any real problem in plain words
            pass

    _preload_thread = threading.Thread(target=_import, name="dfd-preload", daemon=True)
    _preload_thread.start()


def default_models_dir() -> Path:
    """The models the study writes by default (``models/dfd-default``); computed without
    importing TensorFlow."""
    from dfd.paths import models_dir

    return models_dir("dfd-default")


def resolve_default_models_dir() -> Path:
    """:func:`dfd.inference.default_models_dir` (worker threads only: imports TF)."""
    try:
        from dfd.inference import default_models_dir as api_default
    except ImportError:
        return default_models_dir()
    return Path(api_default())


def missing_models_message(folder: Path) -> str:
    """What a script says when ``folder`` holds no ``bundle.json`` ('' when it does)."""
    if (Path(folder) / BUNDLE_FILE).is_file():
        return ""
    return (f"No trained models in {folder} ({BUNDLE_FILE} is missing).\n"
            f"{MAKE_HINT.rstrip('.')}, or pass --models DIR.")


def plain_error(exc: BaseException) -> str:
    """An exception as a sentence for people: dfd's own errors already are; anything else
    gets its type named so a bug report is still useful."""
    try:
        from dfd.errors import DfdError
    except ImportError:  # pragma: no cover - dfd always importable in this repository
        DfdError = ()  # noqa: N806
    text = str(exc).strip()
    if isinstance(exc, DfdError) and text:
        return text
    if isinstance(exc, MemoryError):
        return "Not enough memory to analyse this file."
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or text}"
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename or text}"
    what = f"Unexpected problem ({type(exc).__name__})"
    return f"{what}: {text}" if text else what


def load_detector(models_dir: str | os.PathLike | None) -> LoadOutcome:
    """Load the ensemble in ``models_dir`` (the default folder when None). Never raises."""
    import time

    t0 = time.perf_counter()
    folder: Path | None = None
    quiet_tensorflow()
    try:
        folder = Path(models_dir) if models_dir else resolve_default_models_dir()
        folder = folder.expanduser()
        from dfd.inference import Detector

        detector = Detector.from_dir(folder, verify=True)
        try:
            info = dict(detector.info or {})
        except Exception as exc:  # a card that cannot be read must not stop the app
            info = {"error": plain_error(exc)}
        return LoadOutcome(folder, detector, info, seconds=time.perf_counter() - t0)
    except Exception as exc:
        missing = folder is None or not (folder / BUNDLE_FILE).is_file()
        if missing:
            where = f" in {folder}" if folder is not None else ""
            message = f"No trained models found{where}."
        else:
            message = f"The models in {folder} could not be loaded: {plain_error(exc)}"
        return LoadOutcome(folder, message=message, missing=missing, seconds=time.perf_counter() - t0)


@dataclass
class Expansion:
    """What opening some paths gave: the files to queue, the files a folder walk left out
    (:class:`dfd.inference.SkippedFile`: path and reason) and problems in plain sentences
    (a missing path, an empty folder)."""

    files: list[Path] = field(default_factory=list)
    skipped: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def expand_paths(paths, max_bytes: int | None = None) -> Expansion:
    """Files as given (the detector explains any it cannot read); folders walked by
    :func:`dfd.inference.scan_paths`, which also names every file it leaves out and why
    (with ``max_bytes``, files over that size too)."""
    out = Expansion()
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_dir():
            if path.exists():
                out.files.append(path)
            else:
                out.problems.append(f"{path} does not exist")
            continue
        try:
            from dfd.inference import scan_paths

            scan = scan_paths([path], max_bytes=max_bytes)
        except Exception as exc:
            out.problems.append(f"Could not read the folder {path}: {plain_error(exc)}")
            continue
        if not scan.files:
            out.problems.append(f"No images or videos in {path}")
        out.files.extend(Path(f) for f in scan.files)
        out.skipped.extend(scan.skipped)
    return out
