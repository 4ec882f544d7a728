"""The command line's `batch INPUT... --style STYLE -o OUTDIR`: every picture in the given files and folders rendered
with the same settings into OUTDIR/<name>.png, one after another through the same RunDriver as `render`, with the
network loaded once. One bar counts the pictures, one follows the picture being rendered. A picture that cannot
be read or rendered is one `error:` line and the batch goes on (exit status 1 at the end); a picture whose result
is already in OUTDIR is skipped without being touched, so the same command run again goes on where a stopped
batch was. A picture is written only when its run has finished: a stopped or failed one leaves no file behind to
be mistaken for a result."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli import EXIT_INTERRUPTED, EXIT_RUN_FAILED, ProgressBar, settings_from_args
from engine.batch import BatchItem, plan_batch
from engine.errors import ExportError, FudeError
from engine.settings import RenderSettings

if TYPE_CHECKING:  # torch loads when the first picture is rendered, not for a bad option
    import numpy as np
    from tqdm import tqdm

    from engine.driver import BackendCache


def batch(args: argparse.Namespace) -> int:
    """Run the batch `args` describes; the exit status (0: every picture is done; 1: some failed; 130: stopped).
    A FudeError raised here (a style picture or OUTDIR that cannot be used) stops the batch before it starts."""
    from engine.driver import BackendCache
    from engine.images import load_image

    outdir = Path(args.outdir)
    settings = settings_from_args(args)
    styles = tuple(load_image(path) for path in args.style)  # every picture needs them: a broken one stops all
    style_names = tuple(os.path.basename(path) for path in args.style)
    _make_folder(outdir)
    plan = plan_batch(args.inputs, outdir)
    failed = 0
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
            if os.path.lexists(item.output):
                skipped += 1  # a result from a run before: left as it is
                overall.update(1)
                continue
            try:
                _render_one(item, styles, style_names, settings, backends, args.quiet, first=done == 0, bar=overall)
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
    if not args.quiet or failed:
        print(f"batch: {done} written to {outdir}, {skipped} already there (skipped), {failed} failed",
              file=sys.stderr)
    return EXIT_RUN_FAILED if failed else 0


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
                settings: RenderSettings, backends: BackendCache, quiet: bool, first: bool, bar: tqdm) -> None:
    """Render one picture of the batch and write it; a FudeError says why it could not be (nothing is written)."""
    from engine.driver import RenderJob, RunDriver, RunRecord
    from engine.export import save_png
    from engine.images import load_picture
    from engine.settings import png_text_chunks

    content, alpha = load_picture(item.source)
    name = os.path.basename(item.source)
    job = RenderJob(content, styles, settings, name, style_names, content_alpha=alpha)
    record = RunRecord(job, max_frames=0)
    listener = ProgressBar(quiet=quiet, style_names=style_names, label=name, position=1, header=first)
    try:
        outcome = RunDriver(job, record, backends, listener=listener).drive()
    finally:
        listener.close()
    if outcome.cancelled:
        raise KeyboardInterrupt
    result = record.presented(outcome.image, settings.keep_colours)
    save_png(item.output, result, png_text_chunks(record.final_settings, name, style_names))
    if not quiet:
        height, width = outcome.image.shape[:2]
        bar.write(f"wrote {item.output} ({width}x{height}, {outcome.index} iterations in {outcome.elapsed:.1f} s)",
                  file=sys.stderr)

