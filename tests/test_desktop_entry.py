"""The applications-menu entry (engine/desktop_entry.py): what `fude --install-desktop-entry` writes on Linux, checked
by hand (the keys the freedesktop spec requires, Exec, MimeType, the icons) and by desktop-file-validate where it
is installed; its quoting; and that uninstalling takes out what it wrote and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import desktop_entry
from engine.untrusted import RASTER_FORMATS
from resources import ICON_SIZES

ROOT = Path(__file__).resolve().parent.parent


def read_entry(path: Path) -> dict[str, str]:
    """The [Desktop Entry] group of a .desktop file, as key -> value."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]", lines[0]
    entry = {}
    for line in lines[1:]:
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in entry, f"{key} twice"
            entry[key] = value
    return entry


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_DATA_DIRS": str(tmp_path / "system")}


def test_the_entry_has_what_a_menu_needs_and_desktop_file_validate_passes_it(environ, tmp_path):
    command = [str(tmp_path / "my venv" / "bin" / "fude")]  # a space, as in many a home folder
    done = desktop_entry.install(environ, "linux", command)
    entry_path = tmp_path / "data" / "applications" / "fude.desktop"
    assert entry_path in done.files and entry_path.is_file()
    entry = read_entry(entry_path)
    for key, value in {"Type": "Application", "Name": "Fude", "Icon": "fude", "Terminal": "false",
                       "StartupWMClass": "Fude"}.items():
        assert entry.get(key) == value, key
    # Exec: this installation's fude, absolute and quoted, then the files opened
    assert entry["Exec"] == f'"{command[0]}" %F'
    mime = entry["MimeType"].rstrip(";").split(";")
    assert entry["MimeType"].endswith(";") and entry["Categories"].endswith(";")
    assert {"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"} <= set(mime)
    assert len(RASTER_FORMATS) == 6  # a format Fude learns to read needs its MIME type here too
    for size in ICON_SIZES:
        icon = tmp_path / "data" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "fude.png"
        assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", icon
    assert (tmp_path / "data" / "icons" / "hicolor" / "scalable" / "apps" / "fude.svg").is_file()
    assert not [p for p in (tmp_path / "data").rglob("*") if p.name.endswith(".part")]  # atomic: nothing left over
    assert desktop_entry.is_installed(environ, "linux")

    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate is not installed (Debian: apt install desktop-file-utils); the keys "
                    "above were checked by hand")
    result = subprocess.run([validate, str(entry_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_exec_arguments_are_quoted_and_escaped_as_the_spec_says():
    assert desktop_entry.exec_argument("/usr/bin/fude") == "/usr/bin/fude"
    assert desktop_entry.exec_argument("/home/a b/fude") == '"/home/a b/fude"'
    # inside quotes " ` $ \ take a backslash; then the value's own escaping doubles every backslash
    assert desktop_entry.exec_argument('/x/"$HOME"/f') == '"/x/\\\\"\\\\$HOME\\\\"/f"'
    assert desktop_entry.exec_argument("/x/100%/fude") == "/x/100%%/fude"  # not a field code
    with pytest.raises(desktop_entry.FudeError):
        desktop_entry.desktop_entry_text(["/x/a\nb"])


def test_the_entry_starts_this_installation(environ):
    command = desktop_entry.launcher_command()
    assert all(os.path.isabs(part) for part in command)
    script = Path(sys.executable).parent / "fude"
    assert command == [str(script)] if script.is_file() else command[1].endswith("main.py")


def test_uninstall_takes_out_what_install_wrote_and_nothing_else(environ, tmp_path):
    desktop_entry.install(environ, "linux", ["/usr/bin/fude"])
    theirs = tmp_path / "data" / "applications" / "gimp.desktop"
    theirs.write_text("[Desktop Entry]\n")
    other_icon = tmp_path / "data" / "icons" / "hicolor" / "48x48" / "apps" / "gimp.png"
    other_icon.write_bytes(b"png")
    done = desktop_entry.uninstall(environ, "linux")
    assert len(done.files) == len(ICON_SIZES) + 2 and "removed" in done.summary
    assert theirs.is_file() and other_icon.is_file()
    assert not desktop_entry.is_installed(environ, "linux")
    assert desktop_entry.uninstall(environ, "linux").files == ()


def test_a_system_wide_entry_counts_as_installed(environ, tmp_path):
    system = tmp_path / "system" / "applications"
    system.mkdir(parents=True)
    assert not desktop_entry.is_installed(environ, "linux")
    (system / "fude.desktop").write_text("[Desktop Entry]\n")
    assert desktop_entry.is_installed(environ, "linux")


def test_the_command_line_installs_and_removes_the_entry(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)  # needs no display: nothing of Qt is started
    run = [sys.executable, str(ROOT / "main.py")]
    installed = subprocess.run([*run, "--install-desktop-entry"], capture_output=True, text=True, env=env,
                               cwd=tmp_path, timeout=60)
    assert installed.returncode == 0, installed.stderr
    entry = tmp_path / "data" / "applications" / "fude.desktop"
    assert str(entry) in installed.stdout and entry.is_file()
    exec_line = read_entry(entry)["Exec"]
    assert exec_line.endswith(" %F") and os.path.isabs(exec_line.strip('"').split(" ")[0].strip('"'))
    removed = subprocess.run([*run, "--uninstall-desktop-entry"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=60)
    assert removed.returncode == 0 and not entry.exists(), removed.stderr
