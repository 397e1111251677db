"""The app on a real desktop: the check for the X11 libraries Qt's xcb plugin needs (with a
fake library lookup, so it runs everywhere, and for real), and the real app started under
Xvfb, analysing a photo and saving a screenshot that shows the verdict (skipped without an
``Xvfb`` binary). ``make screenshot`` takes the same path (``python -m gui --screenshot``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui import platform_check as pc

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = "NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\n"
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'
X11_DESKTOP = {"DISPLAY": ":0"}


def lookup_without(*missing):
    return lambda soname: soname not in missing


def test_missing_libraries_give_one_line_with_the_apt_command():
    report = pc.check_platform(lookup_without("libxcb-cursor.so.0", "libxcb-icccm.so.4"), X11_DESKTOP,
                               "linux", DEBIAN, load_plugin=lambda: "")
    assert not report.ok and report.missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    line = report.message()
    assert "\n" not in line
    assert line.endswith("install them with: sudo apt-get install -y libxcb-cursor0 libxcb-icccm4")
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in line


def test_install_command_per_distribution():
    missing = ["libxcb-cursor.so.0", "libxcb-randr.so.0", "libxcb-shm.so.0", "libxkbcommon-x11.so.0"]
    lookup = lookup_without(*missing)
    ubuntu = pc.check_platform(lookup, X11_DESKTOP, "linux", UBUNTU, load_plugin=lambda: "")
    assert ubuntu.install_command == ("sudo apt-get install -y libxcb-cursor0 libxcb-randr0 libxcb-shm0 "
                                      "libxkbcommon-x11-0")
    fedora = pc.check_platform(lookup, X11_DESKTOP, "linux", FEDORA, load_plugin=lambda: "")
    assert fedora.install_command == "sudo dnf install -y xcb-util-cursor libxcb libxkbcommon-x11"  # one libxcb
    other = pc.check_platform(lookup, X11_DESKTOP, "linux", "ID=gentoo\n", load_plugin=lambda: "")
    assert other.install_command == "" and "package manager" in other.message()


def test_nothing_missing_or_no_xcb_means_nothing_to_say():
    everything = pc.check_platform(lambda s: True, X11_DESKTOP, "linux", DEBIAN, load_plugin=lambda: "")
    assert everything.ok and everything.message() == ""
    nothing = lambda s: False  # noqa: E731
    for env, platform in (({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
                          ({"QT_QPA_PLATFORM": "wayland"}, "linux"),
                          ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux"),
                          ({}, "darwin"), ({}, "win32")):
        report = pc.check_platform(nothing, env, platform, DEBIAN, load_plugin=lambda: "boom")
        assert report.ok and not report.uses_xcb, (env, platform)
    asked = pc.check_platform(nothing, {"QT_QPA_PLATFORM": "xcb"}, "linux", DEBIAN, load_plugin=lambda: "")
    assert not asked.ok and len(asked.missing) == len(pc.XCB_LIBRARIES)


def test_a_plugin_that_fails_for_another_reason_is_named():
    report = pc.check_platform(lambda s: True, X11_DESKTOP, "linux", DEBIAN,
                               load_plugin=lambda: "libfoo.so.3: cannot open shared object file")
    assert not report.ok and report.message() == (
        "The desktop app cannot load Qt's X11 platform plugin: libfoo.so.3: cannot open shared object file")


def test_app_prints_the_line_instead_of_starting_qt(monkeypatch, capsys):
    from gui import app

    broken = pc.PlatformReport(True, ["libxcb-cursor.so.0"], "sudo apt-get install -y libxcb-cursor0")
    monkeypatch.setattr(pc, "check_platform", lambda: broken)
    monkeypatch.setattr("gui.app.ensure_app", lambda *a: pytest.fail("Qt must not start"))
    assert app.main(["some.jpg"]) == 1
    assert app.main(["--check-platform"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [broken.message()] * 2
    monkeypatch.setattr(pc, "check_platform", lambda: pc.PlatformReport(False, []))
    assert app.main(["--check-platform"]) == 0


def test_readme_lists_the_packages_the_check_asks_for():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    apt = re.search(r"sudo apt-get install -y ((?:\\\n|[^`\n])+)", text)  # lines end in a backslash
    dnf = re.search(r"sudo dnf install -y ([^`]+)`", text)
    assert apt and dnf
    assert set(apt.group(1).replace("\\", " ").split()) == {deb for deb, _ in pc.XCB_LIBRARIES.values()}
    assert set(dnf.group(1).split()) == {rpm for _, rpm in pc.XCB_LIBRARIES.values()}


def _x11_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "TF_CPP_MIN_LOG_LEVEL")}
    env.setdefault("DISPLAY", ":0")
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux") or pc.xcb_plugin_path() is None,
                    reason="PySide6's xcb plugin exists on Linux only")
def test_real_check_agrees_with_the_dynamic_loader():
    """``python -m gui --check-platform`` (what ``make gui`` runs first) passes exactly when
    the xcb plugin and everything it links to can be loaded."""
    check = subprocess.run([sys.executable, "-m", "gui", "--check-platform"], cwd=ROOT, env=_x11_env(),
                           capture_output=True, text=True, timeout=120)
    loads = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(pc.xcb_plugin_path())!r})"],
                           capture_output=True, text=True, timeout=120)
    assert (check.returncode == 0) == (loads.returncode == 0), (check.stderr, loads.stderr)
    if check.returncode:
        assert check.returncode == 1 and len(check.stderr.strip().splitlines()) == 1
        assert "install them with" in check.stderr or "cannot load" in check.stderr
    else:
        assert check.stderr.strip() == ""


XVFB = shutil.which("Xvfb")
VERDICT_RGB = {"fake": (0xC6, 0x28, 0x28), "real": (0x2E, 0x7D, 0x32), "uncertain": (0xD9, 0x82, 0x00)}
TF_NOISE = re.compile(r"tensorflow|retracing|absl|cpu_feature_guard|oneDNN", re.I)


@pytest.fixture
def xvfb_display():
    """A fresh X server (``Xvfb -displayfd``: it picks a free display number)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.skipif(XVFB is None, reason="no Xvfb binary (apt-get install xvfb)")
def test_real_app_under_xvfb_shows_a_verdict(xvfb_display, tmp_path, feat_data):
    from PySide6.QtGui import QImage

    from gui.qimages import qimage_to_rgb
    from tests.corpus import make_tiny_bundle

    env = _x11_env(DISPLAY=xvfb_display)
    report = pc.check_platform(environ=env)
    if not report.ok:
        pytest.skip(report.message())
    models = make_tiny_bundle(tmp_path / "models")
    photo, out = feat_data / "single_face.jpg", tmp_path / "screenshot.png"
    proc = subprocess.run([sys.executable, "-m", "gui", "--models", str(models), "--frames", "4", "--size", "1280x800",
                           "--screenshot", str(out), str(photo)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r"single_face\.jpg -> (\w+) \(P\(fake\) ([\d.]+)%\), 1280x800", proc.stdout)
    assert m, proc.stdout
    verdict = m.group(1)
    assert verdict in VERDICT_RGB  # a face was found and judged
    assert not TF_NOISE.search(proc.stderr), proc.stderr  # quiet start-up, no retracing warnings
    assert "qt.qpa" not in proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)
    rgb = qimage_to_rgb(img).astype(int)
    assert rgb.std() > 20  # not blank
    # the verdict badge (top right) is painted in the verdict's colour
    badge = rgb[:140, 800:]
    hits = np.all(np.abs(badge - np.array(VERDICT_RGB[verdict])) <= 2, axis=-1).sum()
    assert hits > 1500, hits
