"""The window's small dialogs and their texts: file filters of the open and export
pickers, the keyboard shortcuts, the about box."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

APP_TITLE = "Deepfake Checker"
# the extensions a folder scan keeps (dfd.io.images; tests/test_gui_formatting.py checks they match)
IMAGE_PATTERNS = "*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.gif *.heic *.heif *.hif *.avif"
VIDEO_PATTERNS = ("*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv *.ts *.m2t *.mts *.m2ts *.3gp *.3g2 "
                  "*.flv *.f4v *.ogv *.vob *.mod *.m2v *.asf *.divx *.mxf")
OPEN_FILTERS = (f"Images and videos ({IMAGE_PATTERNS} {VIDEO_PATTERNS});;Images ({IMAGE_PATTERNS});;"
                f"Videos ({VIDEO_PATTERNS});;All files (*)")
EXPORT_FILTERS = "HTML report (*.html);;JSON (*.json);;CSV (*.csv)"
EXPORT_SUFFIXES = {"JSON": ".json", "CSV": ".csv"}  # by the first word of the chosen filter; else .html

SHORTCUTS = (
    ("Ctrl+O", "Open images or videos"), ("Ctrl+Shift+O", "Open a folder"), ("Ctrl+R, F5", "Analyse"),
    ("Esc", "Cancel the analysis"), ("Ctrl+E", "Export (HTML, JSON, CSV)"), ("Ctrl+H", "Grad-CAM heatmap"),
    ("Ctrl+M", "Choose models folder"), ("Del", "Remove from list"),
    ("←/→", "Step through video frames (timeline)"),
)


def show_shortcuts(parent) -> None:
    QMessageBox.information(parent, "Keyboard shortcuts", "\n".join(f"{k}\t{what}" for k, what in SHORTCUTS))


def show_about(parent) -> None:
    QMessageBox.about(parent, f"About {APP_TITLE}",
                      "Checks local photos and videos for face manipulation with the models trained by "
                      "this project. Everything runs on this computer; nothing is uploaded.")
