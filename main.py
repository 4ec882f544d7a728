"""Fude's entry point: no arguments opens the window; `render CONTENT STYLE ...` and `batch` render from the command
line (the cli package)."""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
