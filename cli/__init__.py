"""Fude's command line: `render CONTENT STYLE [STYLE ...]` (cli.render) with a progress bar (cli.progress), a PNG
and an optional animation of its evolution; `batch` (cli.batch) renders many pictures alike; `video` (cli.video)
repaints a clip frame by frame; the options they share and the settings those give are in cli.options. No command
(or `window`, or only pictures: `fude PICTURE ...`) opens the window (cli.window). Every bad input is one line on
stderr, `error: PATH: what is wrong`, and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import batch, render, video, window
from cli.display import display_problem
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
        epilog="fude PICTURE [PICTURE ...] [--style PAINTING] opens the window with those pictures (the first is "
        "the content); fude --install-desktop-entry adds Fude to the applications menu (fude window --help).",
    )
    parser.add_argument("--version", action="version", version=f"Fude {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    window.add_command(commands.add_parser)
    render.add_command(commands.add_parser)
    batch.add_command(commands.add_parser)
    video.add_command(commands.add_parser)
    # keep last: a first argument that is none of the commands above is a picture for the window
    parser.set_defaults(commands=tuple(commands.choices))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` (default: the process's arguments) names; its exit status."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] not in (*parser.get_default("commands"), "-h", "--help", "--version"):
        arguments.insert(0, window.COMMAND)  # `fude PICTURE ...`, `fude --style ...`, `fude --install-...`
    args = parser.parse_args(arguments)
    if args.command is None:
        return open_window()
    if args.command == window.COMMAND:
        return window.run(args)
    try:
        if args.command == "batch":
            return batch.batch(args)
        if args.command == "video":
            return video.video(args)
        return render.render(args)
    except FudeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def open_window() -> int:
    """Open the window with no pictures (what `fude` alone does); the exit status."""
    return window.open_window()
