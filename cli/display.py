"""Whether the window can open here, found out before Qt starts (Qt would abort with its own words): on Linux, is
there a display at all, and are the system libraries Qt's X11 (xcb) platform needs installed? Each problem is
one line that says what to install (Debian/Ubuntu and Fedora package names) and that `render` works without a
window."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping

WITHOUT_WINDOW = "or render without the window: fude render CONTENT STYLE"

# Every system library PySide6's Qt needs to open a window on X11, with the package that has it on Debian/Ubuntu
# (apt) and on Fedora (dnf): what libqxcb.so and libQt6XcbQpa need (readelf -d, PySide6 6.12), and what QtGui,
# QtWidgets and QtDBus need on any platform. The libraries PySide6 ships itself (Qt's own, ICU) and the C and C++
# runtimes are not listed. tests/test_display.py checks this table against the plugin's real list.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libz.so.1": ("zlib1g", "zlib"),
    "libzstd.so.1": ("libzstd1", "libzstd"),
}


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why the window cannot open here (Linux with no display and no offscreen Qt platform), or None."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("there is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "run it on a desktop, or render without the window: python main.py render CONTENT STYLE")


def uses_xcb(environ: Mapping[str, str], platform: str) -> bool:
    """Whether Qt will open the window through X11 here: Linux with an X display, and neither another platform
    asked for (QT_QPA_PLATFORM) nor a Wayland session that Qt prefers."""
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "")
    if asked:
        return asked.split(":")[0] == "xcb"
    wayland = bool(environ.get("WAYLAND_DISPLAY")) and environ.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(loads: Callable[[str], bool] = _loads) -> list[str]:
    """The libraries of XCB_LIBRARIES the dynamic loader cannot find here (tried by their exact soname, as Qt's
    loader will look for them)."""
    return [soname for soname in XCB_LIBRARIES if not loads(soname)]


def missing_libraries_problem(missing: list[str]) -> str | None:
    """The one line that says what to install for `missing` libraries, or None when nothing is missing."""
    if not missing:
        return None
    apt = sorted({XCB_LIBRARIES[soname][0] for soname in missing})
    dnf = sorted({XCB_LIBRARIES[soname][1] for soname in missing})
    return (f"the window cannot open: Qt's X11 platform needs {', '.join(missing)}, missing here; install "
            f"{'it' if len(missing) == 1 else 'them'} (Debian/Ubuntu: sudo apt install {' '.join(apt)}; Fedora: "
            f"sudo dnf install {' '.join(dnf)}), {WITHOUT_WINDOW}")


def window_problem(environ: Mapping[str, str], platform: str,
                   loads: Callable[[str], bool] = _loads) -> str | None:
    """Why the window cannot open here, in one line (no display, or X11 libraries missing), or None."""
    problem = display_problem(environ, platform)
    if problem is None and uses_xcb(environ, platform):
        problem = missing_libraries_problem(missing_libraries(loads))
    return problem
