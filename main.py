"""Fude's entry point: no arguments opens the window; `render CONTENT STYLE ...` renders from the command line."""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
