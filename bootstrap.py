"""Set Fude up in a local virtual environment (.venv) and run it: `python3 bootstrap.py run` opens the app,
`python3 bootstrap.py test` checks the code with ruff and mypy (lint, then types) and runs the test suite. Needs
only Python 3.11+ and access to PyPI; re-installs only when pyproject.toml has changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".fude-installed"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be started by an older python3
        sys.exit(f"Fude needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("installing Fude and its dependencies (the first time takes a few minutes) ...", flush=True)
        subprocess.run([python, "-m", "pip", "install", "--upgrade", "pip"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-e", f"{ROOT}[test]"], check=True)
        STAMP.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print("usage: python3 bootstrap.py run [ARGS...]   set up and open Fude (ARGS go to main.py)\n"
              "       python3 bootstrap.py test [ARGS...]  set up, lint (ruff), type-check (mypy) and run the tests "
              "(ARGS go to pytest, and skip lint and type check)")
        return 2
    try:
        python = ensure_environment()
    except subprocess.CalledProcessError as exc:
        print(f"error: setting up {VENV} failed ({exc})", file=sys.stderr)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "run":
        return subprocess.call([python, str(ROOT / "main.py"), *rest], cwd=ROOT)
    if not rest:  # the whole check: lint, then types (seconds each), then the tests; with pytest arguments, only those
        print("ruff check .", flush=True)
        if subprocess.call([python, "-m", "ruff", "check", "."], cwd=ROOT) != 0:
            print("error: ruff found problems (above); fix them, or run `ruff check --fix .`", file=sys.stderr)
            return 1
        print("mypy", flush=True)  # what it checks, and how: [tool.mypy] in pyproject.toml
        if subprocess.call([python, "-m", "mypy"], cwd=ROOT) != 0:
            print("error: mypy found type errors (above); fix them (a `# type: ignore[code]` only with a reason)",
                  file=sys.stderr)
            return 1
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")  # the Qt tests need no display
    code = subprocess.call([python, "-m", "pytest", *rest], cwd=ROOT, env=env)
    if code == 5:
        print("error: pytest collected no tests: that is a failure, not a pass", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
