"""What a batch renders and where: the pictures in the files and folders a person named, each with the one output
file it is written to (OUTDIR/<name>.png, from that picture's name alone), and whether a file already there is this
batch's result: the content name and size, the style names and the settings that define a picture (all but the
device and the precision, which compute the same picture to float rounding) stored in it must be this batch's, so
that a batch that was stopped and run again goes on with the rest, and a folder of results made otherwise is
never taken for done. Planning reads no picture: a broken one is found when it is checked or rendered."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import FudeError, ImageError, SettingsError
from engine.export import read_png_render
from engine.names import PICTURE_SUFFIXES, clean_name, render_file_stem
from engine.settings import RenderSettings, describe_changes, join_style_names

# PICTURE_SUFFIXES: the suffixes a folder's pictures are found by (a file named on its own is tried whatever its
# suffix).


@dataclass(frozen=True)
class BatchItem:
    """One picture of a batch and the file its result goes to."""

    source: Path
    output: Path


@dataclass(frozen=True)
class BatchPlan:
    """A batch's pictures, in order, and the inputs that name none (each a problem to report, not a stop)."""

    items: tuple[BatchItem, ...]
    problems: tuple[FudeError, ...]


def folder_pictures(folder: Path) -> list[Path]:
    """The pictures directly in `folder` (by suffix; no hidden files, no sub-folders), sorted by name."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(PICTURE_SUFFIXES):
                continue
            if entry.is_file():  # follows a link to a file; a folder named like a picture is left out
                found.append(Path(entry.path))
    return sorted(found, key=lambda path: path.name)


def plan_batch(inputs: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str]) -> BatchPlan:
    """Every picture in `inputs` (files, and the pictures in folders), each once, with its output in `outdir`:
    output_name(picture), which depends on that picture's own file name alone, never on the other inputs or
    their order, so a rerun finds the results it wrote whatever else it is given. Two pictures whose results would
    share a name (cat.png and cat.jpg, or two folders' cat.png; letter case aside, as macOS and Windows see it):
    the first, in input order, keeps it; each other one is a problem naming the picture it clashes with. An input
    that does not exist, or is the output folder itself (its results would become inputs of the next run), is a
    problem and is left out."""
    out = Path(outdir)
    sources: list[Path] = []
    seen: set[Path] = set()
    problems: list[FudeError] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            if _same_folder(path, out):
                problems.append(FudeError(path, "is the output folder: its results would be read as pictures to "
                                                "render on the next run; give another folder to -o"))
                continue
            try:
                found = folder_pictures(path)
            except OSError as exc:
                problems.append(FudeError(path, f"cannot be read ({exc.strerror or exc})"))
                continue
            if not found:
                problems.append(FudeError(path, "holds no pictures (" + ", ".join(PICTURE_SUFFIXES) + ")"))
        elif path.exists() or path.is_symlink():
            found = [path]
        else:
            problems.append(FudeError(path, "no such file or folder"))
            continue
        for source in found:
            key = Path(os.path.abspath(source))
            if key not in seen:
                seen.add(key)
                sources.append(source)
    items = []
    taken: dict[str, Path] = {}  # an output name, in lower case, and the picture it is for
    for source in sources:
        name = output_name(source)
        first = taken.setdefault(name.lower(), source)
        if first is not source:
            problems.append(FudeError(source, f"its result would be {out / name}, as {first}'s is: rename one of "
                                              "them, or render them in two batches"))
            continue
        items.append(BatchItem(source, out / name))
    return BatchPlan(tuple(items), tuple(problems))


def output_name(source: str | os.PathLike[str]) -> str:
    """The name of a picture's result: its file name with a picture's suffix cut once and made safe for any file
    system (engine.names.render_file_stem), then ".png": photo.v2.jpg gives photo.v2.png."""
    return render_file_stem(Path(source).name, ()) + ".png"


# The settings that do not define a result: the device and the precision compute the same picture to float rounding
# (and "auto" picks by the machine), so a result made on the GPU in fp16 is this batch's on the CPU too.
NOT_DEFINING = ("device", "precision")


@dataclass(frozen=True)
class ExistingResult:
    """What a file already at an item's output is, against what the batch would write there: `difference` says
    what differs, in words ("" when it is this batch's result); `replaceable` when it is a result Fude made (with
    other settings, or from another picture) that may be rendered again over it. A file that is not a readable
    Fude result is never replaced: what cannot be read is not deleted."""

    difference: str = ""
    replaceable: bool = False

    @property
    def matches(self) -> bool:
        return not self.difference


def check_existing(item: BatchItem, style_names: Sequence[str], settings: RenderSettings) -> ExistingResult:
    """Whether `item.output` holds the result this batch (styles `style_names`, `settings`) makes of
    `item.source`: the content's name, the style pictures' names and the settings that define a picture, as its
    PNG text chunks store them, and its size, which the content's shape at settings.size gives. The content is
    read only when all the rest agrees; an ImageError when it cannot be (it could not be rendered either)."""
    from engine.images import fit_size, load_picture, load_rgba

    try:
        stored = read_png_render(item.output)
    except SettingsError as exc:
        return ExistingResult(f"its stored Fude settings cannot be used ({exc.reason})")
    if stored is None:
        return ExistingResult("it is not a picture Fude made (it stores no settings)")
    differences = []
    name = clean_name(os.path.basename(item.source))
    if stored.content_name != name:
        differences.append(f"it was made from {stored.content_name or 'an unnamed picture'}, not {name}")
    names = tuple(clean_name(os.path.basename(n)) for n in style_names)
    if stored.style_names != names:
        differences.append(f"in the style of {stored.style_name or 'unnamed pictures'}, not {join_style_names(names)}")
    changes = describe_changes(_defining(stored.settings, len(names)), _defining(settings, len(names)))
    if changes:
        differences.append("with other settings (stored → this batch's: " + ", ".join(changes) + ")")
    if differences:
        return ExistingResult("; ".join(differences), replaceable=True)
    try:
        height, width = load_rgba(item.output).shape[:2]
    except ImageError as exc:
        return ExistingResult(f"it cannot be read ({exc.reason})")
    content, _ = load_picture(item.source)
    expected = fit_size(content.shape[1], content.shape[0], settings.size)
    if (width, height) != expected:
        return ExistingResult(f"it is {width}x{height} px, but {name} at {settings.size} px is "
                              f"{expected[0]}x{expected[1]}: made from another picture of that name",
                              replaceable=True)
    return ExistingResult()


def _defining(settings: RenderSettings, styles: int) -> RenderSettings:
    """`settings` with what does not define the picture made alike (NOT_DEFINING), and the style weights as the
    run uses them (normalised, rounded past float noise; none for one style)."""
    try:
        mix = tuple(round(w, 9) for w in settings.style_mix(styles)) if styles > 1 else ()
    except SettingsError:  # weights for another number of styles: compared as they are
        mix = settings.style_weights
    alike = {name: getattr(RenderSettings, name) for name in NOT_DEFINING}
    return settings.replaced(style_weights=mix, **alike)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
