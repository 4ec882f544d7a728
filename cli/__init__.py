"""Fude's command line: `render CONTENT STYLE [STYLE ...]` (cli.render) with a progress bar (cli.progress), a PNG
and an optional animation of its evolution; `batch` (cli.batch) renders many pictures alike; the options they
share and the settings those give are in cli.options. No command (or `window`) opens the window. Every bad input
is one line on stderr, `error: PATH: what is wrong`, and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from cli import batch, render
from cli.options import EXIT_BAD_INPUT, settings_from_args
from engine import __version__
from engine.errors import FudeError

__all__ = ["build_parser", "display_problem", "main", "open_window", "settings_from_args"]


def build_parser() -> argparse.ArgumentParser:
    """The `fude` command line: its commands, each with its own options."""
    parser = argparse.ArgumentParser(
        prog="fude",
        description="Fude (筆) repaints one picture in the style of another (Gatys et al.'s neural algorithm of "
        "artistic style). With no command it opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"Fude {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("window", help="open the window (the same as giving no command)")
    render.add_command(commands.add_parser)
    batch.add_command(commands.add_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` (default: the process's arguments) names; its exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command in (None, "window"):
        return open_window()
    try:
        if args.command == "batch":
            return batch.batch(args)
        return render.render(args)
    except FudeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def open_window() -> int:
    problem = display_problem(os.environ, sys.platform)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from app.window import run_window

    return run_window()


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why the window cannot open here (Linux with no display and no offscreen Qt platform), or None."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("there is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "run it on a desktop, or render without the window: python main.py render CONTENT STYLE")
