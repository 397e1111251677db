"""Colours that follow the system light/dark theme.

Everything neutral (backgrounds, text, grid lines) comes from the widget's palette; only
the four verdict colours are chosen here, with one shade for light and one for dark
backgrounds so they keep their contrast in both."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

# (light theme, dark theme)
_VERDICT_COLOURS = {
    "fake": ("#c62828", "#ef5350"),
    "real": ("#2e7d32", "#66bb6a"),
    "uncertain": ("#d98200", "#ffb74d"),
    "error": ("#8e24aa", "#ce93d8"),
}


def is_dark(palette: QPalette | None = None) -> bool:
    """True under a dark colour scheme: the platform's answer when it gives one, else the
    lightness of the window background."""
    app = QGuiApplication.instance()
    if palette is None and app is not None:
        scheme = QGuiApplication.styleHints().colorScheme()
        if scheme == Qt.ColorScheme.Dark:
            return True
        if scheme == Qt.ColorScheme.Light:
            return False
    if palette is None:
        palette = QGuiApplication.palette() if app is not None else QPalette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def verdict_colour(verdict: str | None, palette: QPalette | None = None) -> QColor:
    """The colour for a verdict; neutral verdicts (no face, queued...) use the palette's
    placeholder-text grey."""
    pair = _VERDICT_COLOURS.get(verdict or "")
    if pair is None:
        pal = palette if palette is not None else QGuiApplication.palette()
        return pal.color(QPalette.ColorRole.PlaceholderText)
    return QColor(pair[1] if is_dark(palette) else pair[0])


def verdict_hex(verdict: str | None, dark: bool = False) -> str:
    """Hex colour for exports (HTML); neutral verdicts are grey."""
    pair = _VERDICT_COLOURS.get(verdict or "")
    if pair is None:
        return "#9e9e9e" if dark else "#757575"
    return pair[1] if dark else pair[0]


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` blended towards ``b`` by ``t`` (0 = a, 1 = b)."""
    t = min(1.0, max(0.0, t))
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
        round(a.alpha() + (b.alpha() - a.alpha()) * t),
    )


def with_alpha(colour: QColor, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def dark_palette() -> QPalette:
    """A Fusion-style dark palette, for platforms that report a dark colour scheme but
    leave the widget palette light (e.g. Fusion without a platform theme)."""
    p = QPalette()
    window, base, text = QColor("#2b2b2e"), QColor("#1f1f22"), QColor("#e8e8ec")
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, QColor("#27272a"))
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, QColor("#36363a"))
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor("#3a3a3e"))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor("#9a9aa2"))
        p.setColor(group, QPalette.ColorRole.Highlight, QColor("#3d6fb6"))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        p.setColor(group, QPalette.ColorRole.Link, QColor("#8ab4f8"))
        p.setColor(group, QPalette.ColorRole.Light, QColor("#505055"))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor("#424246"))
        p.setColor(group, QPalette.ColorRole.Mid, QColor("#5a5a60"))
        p.setColor(group, QPalette.ColorRole.Dark, QColor("#18181a"))
        p.setColor(group, QPalette.ColorRole.Shadow, QColor("#000000"))
    muted = QColor("#7a7a80")
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, muted)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#36363a"))
    return p


def follow_system_scheme(app) -> None:
    """Keep the palette in step with the system colour scheme. Where the platform theme
    already switches palettes (Windows, macOS, GNOME/KDE themes) nothing is changed; only a
    dark scheme with a light palette gets :func:`dark_palette`, and back."""
    state = {"ours": False}
    default = QPalette(app.palette())

    def sync(*_args) -> None:
        scheme = QGuiApplication.styleHints().colorScheme()
        light_palette = app.palette().color(QPalette.ColorRole.Window).lightness() >= 128
        if scheme == Qt.ColorScheme.Dark and light_palette:
            app.setPalette(dark_palette())
            state["ours"] = True
        elif scheme != Qt.ColorScheme.Dark and state["ours"]:
            app.setPalette(default)
            state["ours"] = False

    QGuiApplication.styleHints().colorSchemeChanged.connect(sync)
    sync()
