"""Whether the window can open, found out before Qt starts (cli/display.py): the one line that names the missing
X11 libraries and their packages, when it is said, and that its table of libraries is the real list Qt's xcb
platform plugin needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cli.display import XCB_LIBRARIES, missing_libraries, uses_xcb, window_problem

BASE_LIBRARIES = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libdl.so.2", "libpthread.so.0",
                  "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def test_the_missing_libraries_are_named_with_their_packages_in_one_line():
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"}
    problem = window_problem({"DISPLAY": ":0"}, "linux", loads=lambda soname: soname not in absent)
    assert problem is not None and "\n" not in problem
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1;" in problem
    assert "sudo dnf install xcb-util-cursor xcb-util-keysyms xcb-util-wm" in problem
    assert all(soname in problem for soname in absent) and "fude render CONTENT STYLE" in problem
    assert window_problem({"DISPLAY": ":0"}, "linux", loads=lambda soname: True) is None


def test_the_libraries_are_checked_only_where_qt_will_use_x11():
    never = {"DISPLAY": ":0"}
    assert uses_xcb(never, "linux")
    assert uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux")
    assert not uses_xcb(never, "darwin") and not uses_xcb({}, "linux")
    # no display at all: that is the line, whatever is installed
    assert "no display" in (window_problem({}, "linux", loads=lambda soname: False) or "")


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is not installed")
def test_what_is_found_missing_is_what_the_loader_cannot_find():
    """The check agrees with the system's own loader about the xcb plugin's libraries, whatever is installed."""
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip(f"no xcb platform plugin in this PySide6 ({plugin})")
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    resolved = {line.split()[0]: "not found" not in line for line in out.splitlines() if "=>" in line}
    listed = set(resolved) & set(XCB_LIBRARIES)
    assert len(listed) > 15
    assert {soname for soname in listed if not resolved[soname]} == set(missing_libraries()) & listed


def _needed(library: Path) -> set[str]:
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, timeout=30, check=True)
    return {line.split("[", 1)[1].split("]", 1)[0] for line in out.stdout.splitlines() if "(NEEDED)" in line}


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) is not installed")
def test_the_table_is_what_the_xcb_plugin_and_qt_gui_really_need():
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip(f"no xcb platform plugin in this PySide6 ({plugin})")
    shipped = {path.name for path in (qt / "lib").iterdir()}
    needed = set()
    for library in (plugin, qt / "lib" / "libQt6XcbQpa.so.6", qt / "lib" / "libQt6Gui.so.6",
                    qt / "lib" / "libQt6Widgets.so.6", qt / "lib" / "libQt6Core.so.6", qt / "lib" / "libQt6DBus.so.6"):
        needed |= _needed(library)
    system = needed - shipped - BASE_LIBRARIES
    assert system - set(XCB_LIBRARIES) == set(), "libraries Qt needs that cli/display.py does not check"
    assert {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"} <= system
