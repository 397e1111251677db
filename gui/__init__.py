"""Desktop app (PySide6) to check local images, videos and folders offline.

    python -m gui [--models DIR] [FILES...]      # or: make gui

The app talks to the detector only through :mod:`dfd.inference` (imported lazily in worker
threads, so the window appears at once); it never opens a network connection. One widget
per module, as in the Qt for Python examples:

- start: ``app`` (command line, QApplication), ``platform_check`` (the X11 libraries Qt
  needs on Linux), ``snapshot`` (``--screenshot``: save the window once every file is done);
- window: ``main_window`` (MainWindow: docks, opening files, models, export),
  ``main_actions`` (its actions, menus, toolbar, status bar controls), ``dialogs``
  (file filters, shortcuts, about), ``banner`` (Banner);
- queue: ``results_model`` (Entry, table model, sort/filter proxy), ``results_table``
  (ResultsTable), ``skipped_files`` (SkippedFiles: what a folder scan left out and why),
  ``files_panel`` (FilesPanel: filter, table, skipped files), ``batch_runner``
  (BatchRunner: runs the queue through the detector);
- result: ``result_view`` (ResultView) built from ``result_header`` (ResultHeader),
  ``canvas`` (ImageCanvas), ``video_panel`` (VideoPanel), ``timeline`` (TimelineWidget),
  ``frame_strip`` (FrameStrip), ``probability_gauge`` (ProbabilityGauge), ``member_bars``
  (MemberBars), ``face_panel`` (FacePanel); ``models_panel`` (ModelsPanel);
- work: ``workers`` (thread pools, the job thread, analysis batches with progress and
  cancel), ``backend`` (the calls into :mod:`dfd.inference`), ``export`` (JSON, CSV),
  ``html_report`` (HTML), ``report_rows`` (what an export writes);
- display helpers: ``formatting`` (numbers, counts and verdict words for people),
  ``previews`` (pictures and video frames decoded for display), ``qimages`` (numpy <->
  QImage, PNG data URIs), ``heatmaps`` (Grad-CAM colours), ``theme`` (light/dark colours),
  ``builders`` (layouts, muted labels, trees, painters the widgets share)."""

from .app import main

__all__ = ["main"]
