"""Desktop app (PySide6) to check local images, videos and folders offline.

    python -m gui [--models DIR] [FILES...]      # or: make gui

The app talks to the detector only through :mod:`dfd.inference` (imported lazily in worker
threads, so the window appears at once); it never opens a network connection.

Modules: ``main_window`` (window, actions, batch control), ``results_model`` (table model
+ sort/filter proxy), ``result_view`` / ``canvas`` / ``charts`` / ``timeline`` (painted
result widgets), ``models_panel`` (loaded models and their cards), ``workers`` (thread
pools, analysis batches with progress and cancel), ``export`` (JSON, CSV, HTML),
``backend`` (the calls into dfd), ``imaging`` and ``theme`` (display helpers)."""

from .app import main

__all__ = ["main"]
