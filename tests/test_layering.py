"""The engine runs headless: nothing in engine/ imports Qt or the app, directly or through its imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_engine_module_names_qt_or_the_app():
    for path in (ROOT / "engine").glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("PySide6", "PyQt5", "PyQt6", "app"), f"{path.name} imports {name}"


def test_importing_the_engine_and_cli_loads_no_qt():
    code = ("import sys, engine.run, engine.export, engine.images, engine.settings, cli; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'app'))]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
