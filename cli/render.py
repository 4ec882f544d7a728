"""The command line's `render CONTENT STYLE [STYLE ...]`: one picture with a progress bar, written as a PNG (with the
settings it was finished with stored in it) and optionally an animation of its evolution (GIF, WebP or MP4). A
name given with -o may be replaced; the default name never replaces a file (a free numbered one is taken). A run
that fails part-way (out of memory, a loss that stays NaN) still writes the picture it had, and exits with 1."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    DefaultsHelp,
    add_settings_options,
    number,
    settings_from_args,
)
from cli.progress import ProgressBar
from engine.driver import REFINE_ITERATIONS
from engine.errors import ExportError, FudeError, SettingsError
from engine.export import AnimationOptions
from engine.names import render_file_stem
from engine.regions import Regions, regions_from_pictures
from engine.settings import MAX_SIZE, MIN_SIZE, RenderSettings

if TYPE_CHECKING:  # for the type checker only: torch loads when a render starts, not for --help or a bad option
    import numpy as np

    from engine.driver import RunRecord

# The evolution keeps up to twice the frames asked for (FrameRecorder halves its sample when full, so it holds
# between N and 2N), then picks exactly N of them evenly.
RECORDED_PER_FRAME = 2


def add_command(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """The `render` command and its options, added by `add_parser` (the commands' add_parser)."""
    render = add_parser(
        "render",
        help="render CONTENT in the style of STYLE without the window",
        description="Render CONTENT in the style of STYLE (or a blend of several), showing progress, and write "
        "a PNG (with the settings stored in it) and optionally an animation of the picture growing (GIF, WebP or MP4).",
        formatter_class=DefaultsHelp,
    )
    render.add_argument("content", metavar="CONTENT", help="the picture to repaint (the creature)")
    render.add_argument("style", nargs="+", metavar="STYLE",
                        help="the painting whose style to take; give several to blend their styles "
                        "(equally, or as --style-weights says)")
    render.add_argument("-o", "--output", metavar="PNG",
                        help="where to write the result; a file of that name is replaced (default: "
                        "CONTENT_in_STYLE.png in the current folder, which never replaces a file: when the name is "
                        "taken, the first free 'CONTENT_in_STYLE 2.png', '... 3.png' is written, and said)")
    animation = AnimationOptions()
    render.add_argument("--evolution", "--gif", dest="evolution", metavar="PATH",
                        help="also write the evolution (the picture growing) here: an animated GIF or WebP, or an "
                        "MP4 video, by the file's suffix (.gif, .webp or .mp4)")
    render.add_argument("--frames", "--gif-frames", dest="frames", type=number(int, 2, 1000),
                        default=animation.frame_count, metavar="N",
                        help="frames in the evolution, evenly spread over the run, ending with the result")
    render.add_argument("--frame-ms", type=number(int, 10, 60_000), default=animation.frame_ms, metavar="MS",
                        help=f"how long each frame of the evolution is shown; the result is held for "
                        f"{animation.last_frame_ms / 1000:g} s before it loops")
    render.add_argument("--evolution-size", type=number(int, 16, MAX_SIZE), default=None, metavar="PX",
                        help="longest side of the evolution in pixels (default: the result's size)")
    render.add_argument("--refine", metavar="PNG",
                        help="refine a finished picture instead of starting from noise: go on from PNG (a result "
                        "made from CONTENT and STYLE) at its full size, for less grain when printing, with "
                        f"--iterations more iterations (default {REFINE_ITERATIONS}). The settings stored in PNG "
                        "are used (lam, --tv-weight, --style-weights and --mask given here still count); the "
                        "result goes to -o, by default PNG's name with _refined (a free one)")
    render.add_argument("--mask", action="append", default=[], metavar="MASK",
                        help="where a STYLE goes: one black-and-white picture per STYLE, in the same order (white: "
                        "that style goes there; black: it does not; grey blends); where no mask is white the "
                        "content stays as it is. A mask of another size is scaled to the content")
    add_settings_options(render, RenderSettings())


def render(args: argparse.Namespace) -> int:
    """Run the render `args` describes; the exit status (0: written; 1: the run failed part-way and the picture it
    had is written; 130: interrupted, the picture so far is written). A FudeError: nothing could be rendered."""
    from engine.export import animation_format, check_writable
    from engine.images import load_image, load_picture

    typed = bool(args.output)  # a name the user typed may be replaced; one Fude made up never replaces a file
    if args.output:
        output = Path(args.output)
    elif args.refine:
        refined = Path(args.refine)
        output = refined.with_name(f"{refined.stem}_refined.png")
    else:
        output = default_output(args.content, args.style)
    evolution = Path(args.evolution) if args.evolution else None
    if evolution is not None:
        animation_format(evolution)  # a suffix that is not .gif, .webp or .mp4 is refused now, not after the run
        animation_options(args)
    check_writable(output, replace=typed)
    if evolution is not None:
        check_writable(evolution)
    settings = settings_from_args(args)
    start = None
    if args.refine:
        start, settings = refine_start(args, settings)
    if args.mask and len(args.mask) != len(args.style):
        raise SettingsError("--mask", f"{len(args.mask)} mask{'s' if len(args.mask) != 1 else ''} for "
                            f"{len(args.style)} style picture{'s' if len(args.style) != 1 else ''}; give one --mask "
                            "per STYLE, in the same order")
    content, alpha = load_picture(args.content)  # a transparent background is set aside, and given back
    if start is not None:
        check_refines(args.refine, start, content, settings)
    styles = [load_image(path) for path in args.style]
    if args.mask:
        settings = settings.replaced(regions=load_regions(args.mask, content))
        try:
            settings.regions_for(len(styles))  # masks that leave no place for a style are refused before the run
        except SettingsError as exc:
            raise SettingsError("--mask", exc.reason) from None
    style_names = [os.path.basename(path) for path in args.style]

    from engine.driver import BackendCache, RenderJob, RunDriver, RunRecord
    from engine.errors import DivergenceError, OutOfMemory
    from engine.recovery import RecoveryStore

    refine = (args.iterations or REFINE_ITERATIONS) if start is not None else 0
    job = RenderJob(content, tuple(styles), settings, os.path.basename(args.content), tuple(style_names),
                    start_image=start, tile=args.tile, content_alpha=alpha, refine=refine)
    record = RunRecord(job, max_frames=RECORDED_PER_FRAME * args.frames if evolution else 0)
    # a copy of the picture so far, kept every few seconds, for the window to offer back if this process is killed
    recovery = RecoveryStore().begin(content, styles, job.content_name, style_names, content_alpha=alpha)
    bar = ProgressBar(quiet=args.quiet, style_names=style_names)
    driver = RunDriver(job, record, BackendCache(), listener=bar, recovery=recovery)
    interrupted = False
    failure: FudeError | None = None
    try:
        driver.drive()  # torch loads here, after the inputs are known to be good
    except KeyboardInterrupt:
        if driver.outcome is None:  # interrupted before the run existed: nothing to write
            recovery.discard()
            raise
        interrupted = True
    except (OutOfMemory, DivergenceError) as exc:
        failure = exc
    finally:
        bar.close()
    outcome = driver.outcome
    if failure is not None and (outcome is None or outcome.index == 0):  # no picture to write
        recovery.discard()
        raise failure
    assert outcome is not None  # drive() returned, or was interrupted once the run existed
    record.set_latest(outcome.image)  # the evolution ends with the picture written
    # the run's pictures are kept as it made them (the recovery copy too); the files get the content's colours
    # (with Keep colours) and its transparency
    written = save_picture(record, outcome.image, output, settings.keep_colours, replace=typed)
    if evolution is not None:
        from engine.export import save_animation

        save_animation(evolution, record.gif_images(keep_colours=settings.keep_colours), animation_options(args))
    recovery.discard()  # the picture is in its file now
    done = f"{outcome.index} of {outcome.total} iterations in {outcome.elapsed:.1f} s"
    if written != output:  # the name Fude made up was taken: say which file this is, even with -q
        print(f"note: {output} exists and is left as it is; the picture is written to {written}", file=sys.stderr)
    if failure is not None:
        print(f"error: {failure}; the picture after {done} is saved to {written}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if interrupted:
        print(f"interrupted after {done}; the picture so far is saved to {written}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        height, width = outcome.image.shape[:2]
        print(f"wrote {written}" + (f" and {evolution}" if evolution else "") + f" ({width}x{height}, {done})")
    return 0


def save_picture(record: RunRecord, image: np.ndarray, output: Path, keep_colours: bool, replace: bool) -> Path:
    """Write the run's picture to `output` (engine.saving.save_result, with the settings the picture was finished
    with); if it cannot be written after all, keep it under a free name in the temp folder and say so in the
    ExportError. The path written."""
    from engine.saving import save_result

    try:
        return save_result(output, record, image, keep_colours=keep_colours, replace=replace)
    except ExportError as exc:
        fallback = Path(tempfile.gettempdir()) / f"fude-{int(time.time())}-{output.name}"
        kept = save_result(fallback, record, image, keep_colours=keep_colours, replace=False)
        raise ExportError(output, f"{exc.reason}; the picture was saved to {kept} instead") from None


def refine_start(args: argparse.Namespace, settings: RenderSettings) -> tuple[np.ndarray, RenderSettings]:
    """The picture `render --refine PNG` goes on from, and the settings it was made with: those stored in PNG
    (with this command's device and precision, and lam, tv weight and style weights when given here), or the
    command line's when PNG has none; at PNG's size either way."""
    from engine.export import read_png_render
    from engine.images import load_picture

    start, _ = load_picture(args.refine)  # the alpha comes back from CONTENT, as in every run
    stored = read_png_render(args.refine)
    if stored is not None:
        given = {option: getattr(args, option) for option in ("lam", "tv_weight") if hasattr(args, option)}
        if hasattr(args, "style_weights"):
            given["style_weights"] = settings.style_weights
        settings = stored.settings.replaced(device=settings.device, precision=settings.precision, **given)
    height, width = start.shape[:2]
    if min(width, height) < MIN_SIZE or max(width, height) > MAX_SIZE:
        raise SettingsError(args.refine, f"is {width}x{height} px; a picture to refine is {MIN_SIZE} to {MAX_SIZE} px")
    return start, settings.replaced(size=max(width, height))


def check_refines(path: str, start: np.ndarray, content: np.ndarray, settings: RenderSettings) -> None:
    """A picture to refine must be CONTENT's shape at its size: made from that content."""
    from engine.images import fit_size

    height, width = start.shape[:2]
    expected = fit_size(content.shape[1], content.shape[0], settings.size)
    if expected != (width, height):
        raise SettingsError(path, f"is {width}x{height} px, but the content at that size is {expected[0]}x"
                            f"{expected[1]}: refine a picture with the content it was made from")


def animation_options(args: argparse.Namespace) -> AnimationOptions:
    """How the evolution is animated, from --frames, --frame-ms and --evolution-size."""
    return AnimationOptions(frame_count=args.frames, frame_ms=args.frame_ms, longest_side=args.evolution_size)


def default_output(content: str, style: str | Sequence[str]) -> Path:
    """CONTENT_in_STYLE.png in the current folder, made safe as a file name."""
    return Path(render_file_stem(content, style) + ".png")


def load_regions(paths: Sequence[str], content: np.ndarray) -> Regions:
    """The regions of --mask pictures (one per style), each scaled to the content's shape."""
    from engine.images import load_image

    return regions_from_pictures([load_image(path) for path in paths], content.shape[1], content.shape[0])


