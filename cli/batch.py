"""The command line's `batch INPUT... --style STYLE -o OUTDIR`: every picture in the given files and folders rendered
with the same settings into OUTDIR/<name>.png, one after another through the same RunDriver as `render`, with the
network loaded once. One bar counts the pictures, one follows the picture being rendered. A picture that cannot
be read or rendered is one `error:` line and the batch goes on (exit status 1 at the end). A file already at a
picture's output is checked (engine.batch.check_existing): this batch's result is skipped without being touched,
so the same command run again goes on where a stopped batch was; a result made otherwise (other settings, another
picture or style) is one `error:` line saying what differs, left as it is, and the exit status is 1, unless
--replace-different renders it again and replaces it. A picture is written only when its run has finished: a
stopped or failed one leaves no file behind to be mistaken for a result."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import EXIT_INTERRUPTED, EXIT_RUN_FAILED, DefaultsHelp, add_settings_options, settings_from_args
from cli.progress import ProgressBar
from engine.batch import BatchItem, check_existing, plan_batch
from engine.errors import ExportError, FudeError
from engine.settings import RenderSettings

if TYPE_CHECKING:  # torch loads when the first picture is rendered, not for a bad option
    import numpy as np
    from tqdm import tqdm

    from engine.driver import BackendCache


def add_command(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """The `batch` command and its options, added by `add_parser` (the commands' add_parser). Every option of
    `render` that sets how a picture is rendered is `batch`'s too (--tile included); the options about one
    picture's files (-o PNG, --evolution, --refine, --mask) are not, and the parser refuses them."""
    batch = add_parser(
        "batch",
        help="render every picture in files and folders in the same style, into one folder",
        description="Render every picture in the given files and folders in the style of STYLE, with the same "
        "settings, into OUTDIR/<name>.png (each with its settings stored in it; <name> is the picture's file name "
        "without its suffix). A picture that cannot be read is one error line and the batch goes on; the exit "
        "status is 1 if any failed. A picture whose result is already in OUTDIR, made from the same picture and "
        "styles with the same settings (as stored in it), is skipped and left untouched, so running the same "
        "command again after a stop goes on where it was. A result in OUTDIR made otherwise is one error line "
        "saying what differs and is left as it is (exit status 1), unless --replace-different is given. The "
        "network is loaded once for the whole batch.",
        formatter_class=DefaultsHelp,
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="a picture, or a folder whose pictures (directly in it) are all rendered")
    batch.add_argument("--style", action="append", required=True, metavar="STYLE",
                       help="the painting whose style to take; give --style again to blend several")
    batch.add_argument("-o", "--output", dest="outdir", required=True, metavar="OUTDIR",
                       help="the folder the results go to (made if missing)")
    batch.add_argument("--replace-different", action="store_true",
                       help="render again each picture whose result in OUTDIR was made with other settings, from "
                       "another picture of that name or with other styles, and replace it (atomically); a file in "
                       "OUTDIR that is not a result Fude made is never replaced")
    add_settings_options(batch, RenderSettings())


def batch(args: argparse.Namespace) -> int:
    """Run the batch `args` describes; the exit status (0: every picture is done; 1: some failed or have a result
    made otherwise; 130: stopped). A FudeError raised here (a style picture or OUTDIR that cannot be used) stops
    the batch before it starts."""
    from engine.driver import BackendCache
    from engine.images import load_image

    outdir = Path(args.outdir)
    settings = settings_from_args(args)
    styles = tuple(load_image(path) for path in args.style)  # every picture needs them: a broken one stops all
    style_names = tuple(os.path.basename(path) for path in args.style)
    _make_folder(outdir)
    plan = plan_batch(args.inputs, outdir)
    failed = different = 0
    for problem in plan.problems:
        print(f"error: {problem}", file=sys.stderr)
        failed += 1
    done = skipped = 0
    backends = BackendCache()  # the network is loaded for the first picture and reused by every other
    from tqdm import tqdm

    overall = tqdm(total=len(plan.items), unit="picture", desc="batch", disable=args.quiet, dynamic_ncols=True,
                   file=sys.stderr, position=0)
    try:
        for item in plan.items:
            try:
                replace = False
                if os.path.lexists(item.output):
                    existing = check_existing(item, style_names, settings)
                    if existing.matches:
                        skipped += 1  # this batch's result, from a run before: left as it is
                        overall.update(1)
                        continue
                    if not (existing.replaceable and args.replace_different):
                        again = ("--replace-different renders it again" if existing.replaceable
                                 else "move it away to render it again")
                        tqdm.write(f"error: {item.output}: not this batch's result of {item.source}: "
                                   f"{existing.difference}; left as it is ({again})", file=sys.stderr)
                        different += 1
                        overall.update(1)
                        continue
                    replace = True  # a result Fude made otherwise, to be replaced as the user asked
                _render_one(item, styles, style_names, settings, backends, args, first=done == 0, bar=overall,
                            replace=replace)
            except KeyboardInterrupt:
                tqdm.write(f"interrupted at {item.source}: it is not written; {done} written now, "
                           f"{skipped} were there already. Run the same command again to go on.", file=sys.stderr)
                return EXIT_INTERRUPTED
            except FudeError as exc:
                tqdm.write(f"error: {exc}", file=sys.stderr)
                failed += 1
            except Exception as exc:  # noqa: BLE001 - one picture's fault must not end an unattended batch
                tqdm.write(f"error: {FudeError(item.source, f'could not be rendered ({type(exc).__name__}: {exc})')}",
                           file=sys.stderr)
                failed += 1
            else:
                done += 1
            overall.update(1)
    finally:
        overall.close()
    if not args.quiet or failed or different:
        others = (f", {different} made otherwise (left as they are; --replace-different renders them again)"
                  if different else "")
        print(f"batch: {done} written to {outdir}, {skipped} already there (skipped){others}, {failed} failed",
              file=sys.stderr)
    return EXIT_RUN_FAILED if failed or different else 0


def _make_folder(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ExportError(outdir, "is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(outdir, f"cannot be made ({exc.strerror or exc})") from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise ExportError(outdir, "cannot be written to (no permission)")


def _render_one(item: BatchItem, styles: tuple[np.ndarray, ...], style_names: tuple[str, ...],
                settings: RenderSettings, backends: BackendCache, args: argparse.Namespace, first: bool, bar: tqdm,
                replace: bool) -> None:
    """Render one picture of the batch and write it (engine.saving.save_result: `replace` only a result Fude made
    otherwise, as --replace-different asks; a new one never replaces a file that appeared meanwhile); a FudeError
    says why it could not be (nothing is written)."""
    from engine.driver import RenderJob, RunDriver, RunRecord
    from engine.images import load_picture
    from engine.saving import save_result

    content, alpha = load_picture(item.source)
    name = os.path.basename(item.source)
    job = RenderJob(content, styles, settings, name, style_names, content_alpha=alpha, tile=args.tile)
    record = RunRecord(job, max_frames=0)
    listener = ProgressBar(quiet=args.quiet, style_names=style_names, label=name, position=1, header=first)
    try:
        outcome = RunDriver(job, record, backends, listener=listener).drive()
    finally:
        listener.close()
    if outcome.cancelled:
        raise KeyboardInterrupt
    written = save_result(item.output, record, outcome.image, keep_colours=settings.keep_colours, replace=replace)
    if written != item.output:
        bar.write(f"note: {item.output} appeared while {name} was rendered and is left as it is; "
                  f"the result is written to {written}", file=sys.stderr)
    if not args.quiet:
        height, width = outcome.image.shape[:2]
        bar.write(f"wrote {written} ({width}x{height}, {outcome.index} iterations in {outcome.elapsed:.1f} s)",
                  file=sys.stderr)
