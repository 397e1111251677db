"""Before Qt starts on Linux: are the system libraries of Qt's X11 (xcb) platform plugin
installed? Qt's own message when they are not ("From 6.5.0, xcb-cursor0 or libxcb-cursor0
is needed ...", then an abort) names one library at best; this names every missing one and
the command that installs them, in one line. ``python -m gui --check-platform`` (run by
``make gui``) and the app's start both use it. Imports nothing from Qt."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# What PySide6 6.12's libqxcb.so loads from the system (``ldd`` on the plugin, minus libc,
# glib and the Qt libraries PySide6 ships), with the package that holds each on
# Debian/Ubuntu and on Fedora.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}

INSTALLERS = {"debian": "sudo apt-get install -y", "fedora": "sudo dnf install -y"}


@dataclass
class PlatformReport:
    """Whether the xcb plugin can start; if not, what is missing and how to install it."""

    uses_xcb: bool
    missing: list[str]
    install_command: str = ""
    plugin_error: str = ""  # the loader's words when the plugin fails for another reason

    @property
    def ok(self) -> bool:
        return not (self.uses_xcb and (self.missing or self.plugin_error))

    def message(self) -> str:
        """One line for the terminal ('' when nothing is missing)."""
        if self.ok:
            return ""
        if not self.missing:
            return f"The desktop app cannot load Qt's X11 platform plugin: {self.plugin_error}"
        libs = ", ".join(self.missing)
        how = (f"install them with: {self.install_command}" if self.install_command
               else "install them with your system's package manager")
        return f"The desktop app needs X11 libraries that are missing ({libs}); {how}"


def library_present(soname: str) -> bool:
    """True if the dynamic loader finds ``soname`` (what Qt's plugin loader will ask)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def plugin_load_error() -> str:
    """Why PySide6's libqxcb.so does not load ('' if it does, or if it is not there)."""
    plugin = xcb_plugin_path()
    if plugin is None:
        return ""
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return str(exc)
    return ""


def uses_xcb(environ=None, platform: str | None = None) -> bool:
    """Would Qt pick its xcb plugin? On Linux when QT_QPA_PLATFORM asks for it or is unset
    outside a Wayland session (a Wayland session tries Wayland first)."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0] == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def distro_family(os_release: str | None = None) -> str | None:
    """'debian' or 'fedora' from /etc/os-release (ID and ID_LIKE), else None."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    ids: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip('"').lower().split()
    if any(i in ("debian", "ubuntu") for i in ids):
        return "debian"
    if any(i in ("fedora", "rhel", "centos") for i in ids):
        return "fedora"
    return None


def install_command(missing: list[str], family: str | None) -> str:
    """The command that installs the packages holding ``missing`` ('' for an unknown distro)."""
    if family not in INSTALLERS:
        return ""
    column = 0 if family == "debian" else 1
    packages = list(dict.fromkeys(XCB_LIBRARIES[s][column] for s in missing if s in XCB_LIBRARIES))
    return f"{INSTALLERS[family]} {' '.join(packages)}" if packages else ""


def xcb_plugin_path() -> Path | None:
    """PySide6's libqxcb.so, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def check_platform(present: Callable[[str], bool] = library_present, environ=None,
                   platform: str | None = None, os_release: str | None = None,
                   load_plugin: Callable[[], str] = plugin_load_error) -> PlatformReport:
    """Which of the xcb plugin's libraries are missing (none checked when Qt will not use
    xcb); ``present`` is the library lookup and ``load_plugin`` the plugin loader's error,
    asked only when every listed library is there (both replaced in tests)."""
    if not uses_xcb(environ, platform):
        return PlatformReport(uses_xcb=False, missing=[])
    missing = [soname for soname in XCB_LIBRARIES if not present(soname)]
    if missing:
        return PlatformReport(True, missing, install_command(missing, distro_family(os_release)))
    return PlatformReport(True, [], plugin_error=load_plugin())


def main() -> int:
    """``python -m gui --check-platform``: 0 when the app can start, else 1 with one line."""
    report = check_platform()
    if not report.ok:
        print(report.message(), file=sys.stderr)
        return 1
    return 0
