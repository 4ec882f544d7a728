"""Fude as a user installs it: the wheel holds every package and sub-package and the shipped files (icons,
samples), and installed into a fresh environment (`--no-deps`; it borrows this environment's torch and Qt rather
than downloading them) its `fude --version` works and its window opens, from a folder that is not the checkout."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "main.py", "app", "cli", "engine", "resources")

OPEN_THE_WINDOW = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app, cli, resources
from app.window import MainWindow

def close_it():
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    for w in windows:
        w.example_action.trigger()  # the sample pair, from the installed resources
        print("shown:", w.windowTitle(), "example:", w.content_pane.image is not None, w.style_pane.image is not None)
        print("icon:", not QApplication.windowIcon().isNull())
        w.close()

print("from:", Path(app.__file__).parent, Path(resources.__file__).parent)
QTimer.singleShot(0, close_it)
sys.exit(cli.main([]))
"""


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources (the checkout gets no build folders)."""
    source = tmp_path / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("fude-*.whl")
    return wheel


def _fresh_environment(folder: Path) -> Path:
    """A virtual environment without pip whose site-packages also sees this one's (torch, Qt, Pillow...): a .pth
    line, so nothing of this environment's own Fude (its editable install's finder) is loaded there."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "borrowed_from_tests.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return python


@pytest.mark.packaging
def test_the_wheel_installs_and_opens_the_window_outside_the_checkout(tmp_path: Path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(path.parent.relative_to(ROOT) for path in ROOT.glob("*/**/__init__.py")
                      if path.parent.relative_to(ROOT).parts[0] in ("app", "cli", "engine", "resources"))
    assert {"app/panels", "app/widgets"} <= {str(p) for p in packages}
    for package in packages:
        for module in (ROOT / package).glob("*.py"):
            assert f"{package.as_posix()}/{module.name}" in names, f"{module} is not in the wheel"
    for shipped in ("resources/icons/fude.svg", "resources/icons/fude-512.png", "resources/icons/fude-16.png",
                    "resources/samples/chelsea.png", "resources/samples/wave.jpg", "main.py"):
        assert shipped in names
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "fude = cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    environment = tmp_path / "env"
    python = _fresh_environment(environment)
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    fude = environment / ("Scripts/fude.exe" if os.name == "nt" else "bin/fude")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(elsewhere), XDG_CONFIG_HOME=str(elsewhere / "config"))
    version = subprocess.run([str(fude), "--version"], cwd=elsewhere, env=env, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == "Fude 0.1.0", version.stderr
    opened = subprocess.run([str(python), "-c", OPEN_THE_WINDOW], cwd=elsewhere, env=env, capture_output=True,
                            text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    assert "Traceback" not in opened.stderr
    site = str(environment.resolve())
    source_line = next(line for line in opened.stdout.splitlines() if line.startswith("from:"))
    assert source_line.count(site) == 2 and str(ROOT) not in source_line  # the installed Fude, not the checkout
    assert "shown: Fude example: True True" in opened.stdout and "icon: True" in opened.stdout


def test_the_version_needs_neither_torch_nor_qt():
    code = ("import sys; from cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PySide6', 'app'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Fude 0.1.0", "[]"]
