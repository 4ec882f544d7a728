"""Fude in the desktop's applications menu: on Linux a freedesktop .desktop file (Exec: this installation's `fude`
with %F, the picture types Fude reads as MimeType, so file managers offer "Open with Fude") and the icon in the
user's hicolor theme, all under $XDG_DATA_HOME and written atomically; on Windows a Start-menu shortcut; and their
removal. Needs no Qt: `fude --install-desktop-entry` and the window both call it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from engine import __version__
from engine.errors import FudeError
from engine.export import write_atomically
from engine.untrusted import is_plain_file
from resources import ICON_NAME, ICON_SIZES, ICON_SVG, icon_png

DESKTOP_FILE = f"{ICON_NAME}.desktop"  # the app id is its name without .desktop (QGuiApplication.setDesktopFileName)
APP_ID = ICON_NAME
# The picture types Fude reads (engine.untrusted.RASTER_FORMATS), as file managers name them
MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/x-bmp", "image/tiff")
WINDOWS_SHORTCUT = "Fude.lnk"
TOOL_TIMEOUT_S = 20.0
EXEC_RESERVED = frozenset(' \t\n"\'\\><~|&;$*?#()`')  # an argument holding one of these is quoted


@dataclass(frozen=True)
class Installed:
    """What an install or uninstall did: the files written (or removed), and a line to show."""

    files: tuple[Path, ...]
    summary: str


def data_home(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not an absolute path (as the spec says)."""
    value = environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def data_dirs(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """$XDG_DATA_DIRS (default /usr/local/share:/usr/share): where a system-wide package puts its entry."""
    value = environ.get("XDG_DATA_DIRS", "") or "/usr/local/share:/usr/share"
    return [Path(part) for part in value.split(os.pathsep) if part and os.path.isabs(part)]


def launcher_command() -> list[str]:
    """How this installation starts Fude: the `fude` script beside this Python (an installed Fude), else this
    Python running the checkout's main.py. Absolute paths, so the menu never finds another Fude on PATH."""
    script = Path(sys.executable).parent / ("fude.exe" if os.name == "nt" else "fude")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    main = Path(__file__).resolve().parent.parent / "main.py"
    return [str(Path(sys.executable).absolute()), str(main)]


def exec_argument(argument: str) -> str:
    """One argument of an Exec line: a literal % doubled (a single one starts a field code such as %F); quoted,
    with the characters the spec reserves inside quotes escaped, when it holds a reserved character; then every
    backslash escaped once more, as in any .desktop string value."""
    argument = argument.replace("%", "%%")
    if argument and not any(ch in EXEC_RESERVED for ch in argument):
        return argument
    inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in argument)
    return ('"' + inner + '"').replace("\\", "\\\\")


def desktop_entry_text(command: Sequence[str]) -> str:
    """The .desktop file that starts `command` with the files opened (%F)."""
    if any(ch in part for part in command for ch in "\n\r\0"):
        raise FudeError(" ".join(command), "cannot go in a menu entry (a line break or NUL in the path)")
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",  # the spec version it follows (1.5 only adds keys not used here)
        "Name=Fude",
        "GenericName=Style transfer",
        "Comment=Repaint one picture in the style of another",
        f"Exec={' '.join(exec_argument(part) for part in command)} %F",
        f"Icon={ICON_NAME}",
        "Terminal=false",
        "StartupNotify=true",
        "StartupWMClass=Fude",  # Qt's window class is the application name
        "Categories=Graphics;2DGraphics;RasterGraphics;",
        "Keywords=style transfer;painting;neural;brush;",
        f"MimeType={';'.join(MIME_TYPES)};",
        f"X-Fude-Version={__version__}",
    ]
    return "\n".join(lines) + "\n"


def desktop_file(environ: Mapping[str, str] = os.environ) -> Path:
    return data_home(environ) / "applications" / DESKTOP_FILE


def icon_files(environ: Mapping[str, str] = os.environ) -> dict[Path, Path]:
    """Where each shipped icon goes in the user's hicolor theme: {target: source}."""
    theme = data_home(environ) / "icons" / "hicolor"
    targets = {theme / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png": icon_png(size) for size in ICON_SIZES}
    targets[theme / "scalable" / "apps" / f"{ICON_NAME}.svg"] = ICON_SVG
    return targets


def is_installed(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether a menu entry for Fude is there (the user's own, a system-wide one, or the Start-menu shortcut)."""
    if platform.startswith("win"):
        return windows_shortcut(environ).is_file()
    folders = [data_home(environ), *data_dirs(environ)]
    return any((folder / "applications" / DESKTOP_FILE).is_file() for folder in folders)


def install(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
            command: Sequence[str] | None = None) -> Installed:
    """Put Fude in the applications menu, starting `command` (default: this installation's); FudeError when a file
    cannot be written (those written before it stay, and a second install replaces them)."""
    command = list(command) if command is not None else launcher_command()
    if platform.startswith("win"):
        return _install_windows(environ, command)
    if platform == "darwin":
        raise FudeError("fude", "a menu entry is made on Linux and Windows; on macOS start Fude with `fude`")
    files = {target: source.read_bytes() for target, source in icon_files(environ).items()}
    entry = desktop_file(environ)
    files[entry] = desktop_entry_text(command).encode()  # last: the menu shows it once its icon is there
    written = []
    for target, data in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_atomically(target, partial(_write, data)))
    _refresh_caches(environ)
    return Installed(tuple(written), f"Fude is in the applications menu ({entry}), and offered to open pictures")


def _write(data: bytes, handle: BinaryIO) -> None:
    handle.write(data)


def uninstall(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Installed:
    """Take out what `install` put in (only those files, and only plain files); what was removed."""
    if platform.startswith("win"):
        targets = [windows_shortcut(environ)]
    else:
        targets = [desktop_file(environ), *icon_files(environ)]
    removed = []
    for target in targets:
        if is_plain_file(target):
            target.unlink()
            removed.append(target)
    if not platform.startswith("win"):
        _refresh_caches(environ)
    summary = f"removed {len(removed)} file{'s' if len(removed) != 1 else ''}" if removed else "nothing to remove"
    return Installed(tuple(removed), f"Fude's menu entry: {summary}")


def _refresh_caches(environ: Mapping[str, str]) -> None:
    """Tell the desktop about the new entry and icons where its tools are installed (they are optional: a menu
    picks new entries up by itself, only later)."""
    home = data_home(environ)
    for tool, folder in (("update-desktop-database", home / "applications"),
                         ("gtk-update-icon-cache", home / "icons" / "hicolor")):
        path = shutil.which(tool)
        if path is None or not folder.is_dir():
            continue
        arguments = [path, "-q", str(folder)] if tool.startswith("update") else [path, "-q", "-t", str(folder)]
        try:
            subprocess.run(arguments, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            pass  # the entry is written; the menu will find it at its next scan


# ---- Windows (written from Microsoft's documentation; not run on this project's test machines) ----

def windows_shortcut(environ: Mapping[str, str] = os.environ) -> Path:
    """The shortcut in the user's Start menu (%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs)."""
    appdata = environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
    return Path(appdata) / "Microsoft" / "Windows" / "Start Menu" / "Programs" / WINDOWS_SHORTCUT


def _powershell_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _install_windows(environ: Mapping[str, str], command: Sequence[str]) -> Installed:
    """A Start-menu shortcut made by PowerShell's WScript.Shell (the usual way without extra packages) that starts
    `command` (fude.exe, whose console window starts minimised); it shows fude.exe's own icon."""
    shortcut = windows_shortcut(environ)
    shortcut.parent.mkdir(parents=True, exist_ok=True)
    target, arguments = command[0], subprocess.list2cmdline(list(command[1:]))
    script = "; ".join([
        "$s = (New-Object -ComObject WScript.Shell).CreateShortcut(" + _powershell_string(str(shortcut)) + ")",
        "$s.TargetPath = " + _powershell_string(target),
        "$s.Arguments = " + _powershell_string(arguments),
        "$s.WorkingDirectory = " + _powershell_string(str(Path.home())),
        "$s.Description = 'Repaint one picture in the style of another'",
        "$s.WindowStyle = 7",
        "$s.Save()",
    ])
    try:
        done = subprocess.run(["powershell", "-NoProfile", "-NonInteractive", "-Command", script],
                              capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FudeError(shortcut, f"PowerShell could not be run to make the shortcut ({exc})") from None
    if done.returncode != 0 or not shortcut.is_file():
        raise FudeError(shortcut, "PowerShell could not make the shortcut: " + (done.stderr.strip() or "no reason"))
    return Installed((shortcut,), f"Fude is in the Start menu ({shortcut})")
