"""The `window` command, which is also what `fude` with no command, or with pictures, runs: `fude [PICTURE ...]
[--style PAINTING ...]` opens the window with those pictures (or hands them to the window already open), after
checking that a window can open here at all (cli/display.py); and `--install-desktop-entry` /
`--uninstall-desktop-entry` put Fude in the desktop's applications menu or take it out (engine/desktop_entry.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cli.display import window_problem
from cli.options import EXIT_BAD_INPUT
from engine.errors import FudeError

if TYPE_CHECKING:  # the app's, though it needs no Qt: loaded when a window is asked for, not for `render`
    from app.open_request import OpenRequest

COMMAND = "window"


def add_command(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """The `window` command and its options, added by `add_parser` (the commands' add_parser)."""
    window = add_parser(
        COMMAND,
        help="open the window (the same as giving no command, or only pictures)",
        description="Open Fude's window; with pictures, the first goes to the Content pane and the others to the "
        "Style pane (or say which are paintings with --style). A PNG that Fude made offers the settings stored in "
        "it. When Fude is already open, the pictures go to its window instead.",
    )
    window.add_argument("pictures", nargs="*", metavar="PICTURE",
                        help="a picture to open: the first is the content, any others the paintings")
    window.add_argument("--style", action="append", default=[], metavar="PAINTING",
                        help="a painting for the Style pane (again for several); the other picture is then the "
                        "content")
    entry = window.add_mutually_exclusive_group()
    entry.add_argument("--install-desktop-entry", action="store_true",
                       help="add Fude to the desktop's applications menu (Linux: a .desktop entry offered for "
                       "opening pictures, and the icon; Windows: a Start-menu shortcut) and exit")
    entry.add_argument("--uninstall-desktop-entry", action="store_true",
                       help="take Fude's entry out of the applications menu and exit")


def run(args: argparse.Namespace) -> int:
    """Run the `window` command: install or remove the menu entry, or open the window; the exit status."""
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        return desktop_entry(install=args.install_desktop_entry)
    from app.open_request import OpenRequest, RequestError

    try:
        request = OpenRequest.of_pictures(args.pictures, args.style)
    except RequestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return open_window(request)


def open_window(request: OpenRequest | None = None) -> int:
    """Open the window (with the pictures `request` names), once nothing stands in the way; the exit status."""
    problem = window_problem(os.environ, sys.platform)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from app.window import run_window

    return run_window(request=request)


def desktop_entry(install: bool) -> int:
    """Add Fude to the applications menu (or take it out), saying what was done in one line; the exit status."""
    from engine import desktop_entry as entry

    try:
        done = entry.install() if install else entry.uninstall()
    except (FudeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(done.summary)
    return 0
