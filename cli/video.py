"""The command line's `video CLIP --style STYLE -o OUT.mp4`: a clip repainted frame by frame, steady from frame to
frame (engine.video), with a bar for the clip (frames done, seconds per frame, time left) and one for the frame
being rendered. The finished frames are kept in OUT.parts/ as they finish, so the same command after a stop, a
crash or a full disk goes on from the last finished frame; a clip that breaks part-way is rendered as far as it
decodes, written, and then said in one `error:` line."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cli.options import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    DefaultsHelp,
    add_settings_options,
    number,
    settings_from_args,
)
from cli.progress import ProgressBar
from engine.errors import FudeError
from engine.schedule import describe_seconds
from engine.settings import RenderSettings
from engine.video import ClipListener
from engine.video_settings import FPS_MAX, FPS_MIN, MAX_CLIP_SECONDS, STEADINESS_MAX, VideoSettings

if TYPE_CHECKING:  # torch loads when the first frame is rendered, not for --help or a bad option
    import numpy as np
    from tqdm import tqdm

    from engine.memory import MemoryCheck
    from engine.run import Frame, StyleRun
    from engine.video import ClipPlan, ClipProgress

LONG_CLIP_S = 3600.0  # an estimate longer than this says how to render a part
AGAIN = "Run the same command again to go on."


def add_command(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """The `video` command and its options, added by `add_parser` (the commands' add_parser)."""
    video = add_parser(
        "video",
        help="repaint a video clip in the style of STYLE, steady from frame to frame",
        description="Repaint every frame of CLIP in the style of STYLE (or a blend of several), each frame going on "
        "from the one before along the optical flow so the texture stays in place (Ruder et al. 2016), and write "
        "OUT: an MP4 (H.264) with the clip's sound, or an animated WebP or GIF for a short clip, by its suffix. "
        "The finished frames are kept in OUT.parts/ as they finish: the same command run again goes on from the "
        "last finished frame (a finished clip is only encoded again); other settings are refused.",
        formatter_class=DefaultsHelp,
    )
    video.add_argument("clip", metavar="CLIP", help="the video to repaint (MP4, MOV, MKV, WebM, AVI, ...)")
    video.add_argument("--style", action="append", required=True, metavar="STYLE",
                       help="the painting whose style to take; give --style again to blend several")
    video.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="where to write the clip (.mp4, .webp or .gif); a file of that name is replaced")
    defaults = VideoSettings()
    video.add_argument("--steadiness", type=number(float, 0, STEADINESS_MAX), default=defaults.steadiness,
                       help="how firmly each frame is held to the one before where the motion is known: more is "
                       "steadier, less lets the texture move more freely; 0 renders each frame on its own (still "
                       "starting from the frame before)")
    video.add_argument("--fps", type=number(float, FPS_MIN, FPS_MAX), default=None,
                       help="frames a second to render (default: the clip's own)")
    video.add_argument("--start", type=number(float, 0, MAX_CLIP_SECONDS), default=defaults.start, metavar="SECONDS",
                       help="where in the clip to start")
    video.add_argument("--duration", type=number(float, 0, MAX_CLIP_SECONDS, low_open=True), default=None,
                       metavar="SECONDS", help="how much of the clip to render (default: to its end)")
    video.add_argument("--remove-frames", action="store_true",
                       help="delete OUT.parts/ once OUT is written (by default it is kept, so that running the same "
                       "command again only encodes the clip)")
    add_settings_options(video, RenderSettings())


def video(args: argparse.Namespace) -> int:
    """Render the clip `args` describes; the exit status (0: written; 1: a frame failed, or the clip broke part-way
    and what was decoded is written; 130: interrupted, the finished frames are kept). A FudeError: nothing could
    be started."""
    from engine.clip_folder import ClipFolder
    from engine.driver import BackendCache
    from engine.errors import DivergenceError, OutOfMemory
    from engine.images import load_image
    from engine.video import VideoJob, VideoRun

    settings = settings_from_args(args)
    clip_settings = VideoSettings(steadiness=args.steadiness, fps=args.fps, start=args.start, duration=args.duration)
    styles = tuple(load_image(path) for path in args.style)
    style_names = tuple(os.path.basename(path) for path in args.style)
    output = Path(args.output)
    job = VideoJob(Path(args.clip), styles, style_names, settings, output, clip_settings, tile=args.tile)
    bars = ClipBars(quiet=args.quiet, style_names=style_names, clip_name=os.path.basename(args.clip))
    runner = VideoRun(job, BackendCache(), bars)
    try:
        outcome = runner.run()
    except KeyboardInterrupt:
        bars.close()
        print(f"interrupted; {_kept(output, settings.keep_colours)}. {AGAIN}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OutOfMemory, DivergenceError) as exc:
        bars.close()
        print(f"error: {exc}; {_kept(output, settings.keep_colours)}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except FudeError as exc:
        bars.close()
        if bars.rendered:  # it failed part-way (a full disk): what is done is kept
            print(f"error: {exc}; {_kept(output, settings.keep_colours)}. {AGAIN}", file=sys.stderr)
            return EXIT_RUN_FAILED
        raise
    finally:
        bars.close()
    if outcome.cancelled:
        print(f"stopped; {_kept(output, settings.keep_colours)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.remove_frames:
        ClipFolder(output).remove()
    if outcome.problem is not None:
        print(f"error: {outcome.problem}; the {outcome.frames} frames decoded are written to {outcome.output}",
              file=sys.stderr)
        return EXIT_RUN_FAILED
    if not args.quiet:
        kept = "" if args.remove_frames else f"; its frames are kept in {outcome.work_folder}"
        again = "" if outcome.rendered else " (every frame was done: only encoded)"
        print(f"wrote {outcome.output} ({outcome.frames} frames{again}{kept})")
    return 0


def _kept(output: Path, keep_colours: bool) -> str:
    """Where the finished frames of the render to `output` are kept, and how many there are."""
    from engine.clip_folder import ClipFolder

    folder = ClipFolder(output, keep_colours)
    count = folder.finished() if folder.path.is_dir() else 0
    return f"the {count} finished frame{'s are' if count != 1 else ' is'} kept in {folder.path}"


class ClipBars(ClipListener):
    """The command line's view of a clip: a line with the plan and the time estimate, a bar for the clip (frames,
    seconds per frame, time left) and under it a picture's progress bar (cli.progress) for the frame being
    rendered; notes and warnings above them."""

    def __init__(self, quiet: bool, style_names: Sequence[str], clip_name: str) -> None:
        self.quiet = quiet
        self.style_names = list(style_names)
        self.clip_name = clip_name
        self.clip_bar: tqdm[NoReturn] | None = None
        self.frame_bar: ProgressBar | None = None
        self.rendered = 0
        self._header = True

    def on_plan(self, plan: ClipPlan) -> None:
        from tqdm import tqdm

        frames = f"{plan.frames} frames" if plan.frames is not None else "frames"
        seconds = plan.seconds
        each = f"{describe_seconds(plan.later_seconds)} a frame"
        if plan.done == 0:
            each = f"the first frame {describe_seconds(plan.first_seconds)}, then {each}"
        estimate = f"; {describe_seconds(seconds)} here ({each})" if seconds else ""
        if seconds is not None and seconds > LONG_CLIP_S:
            estimate += "; --start and --duration render a part"
        self._write(f"{self.clip_name}: {frames} at {plan.width}x{plan.height}, {float(plan.fps):.4g} fps{estimate}")
        if plan.done:
            self._write(f"going on from frame {plan.done + 1}: {plan.done} are done in {plan.work_folder}")
        # tqdm's own rate and time left would count the first frame (from noise, several times a later one's) in
        # with the rest: the bar shows the clip's own figures, from the later frames, in its postfix instead
        self.clip_bar = tqdm(total=plan.frames, initial=plan.done, unit="frame", desc="clip", disable=self.quiet,
                             dynamic_ncols=True, file=sys.stderr, position=0,
                             bar_format=("{desc}: {n_fmt} [{elapsed}{postfix}]" if plan.frames is None else
                                         "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"))

    def on_frame_started(self, index: int, frames: int | None, fresh: bool) -> None:
        label = f"frame {index}" + (" (afresh)" if fresh and index > 1 else "")
        self.frame_bar = ProgressBar(self.quiet, self.style_names, label=label, position=1, header=self._header)
        self._header = False

    def on_started(self, run: StyleRun) -> None:
        if self.frame_bar is not None:
            self.frame_bar.on_started(run)

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        if self.frame_bar is not None:
            self.frame_bar.on_frame(run, frame, image)

    def on_frame_done(self, progress: ClipProgress, image: np.ndarray) -> None:
        self.rendered += 1
        if self.frame_bar is not None:
            self.frame_bar.close()
            self.frame_bar = None
        if self.clip_bar is not None:
            left = progress.seconds_left
            said = f"{progress.seconds_per_frame:.1f} s/frame"
            if left is not None and math.isfinite(left) and left > 0:
                said += f", {describe_seconds(left)} left"
            self.clip_bar.set_postfix_str(said, refresh=False)
            self.clip_bar.n = progress.index
            self.clip_bar.refresh()

    def on_memory_warning(self, check: MemoryCheck) -> None:
        hint = f" (--size {check.fits})" if check.fits is not None else ""
        self._write(f"warning: {check.warning()}{hint}; trying anyway")

    def on_notice(self, text: str) -> None:
        self._write(f"note: {text}")

    def on_encoding(self, output: Path, frames: int) -> None:
        if not self.quiet:
            self._write(f"encoding {frames} frames into {output}")

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.frame_bar is not None:
            self.frame_bar.close()
            self.frame_bar = None
        if self.clip_bar is not None:
            self.clip_bar.close()
            self.clip_bar = None
