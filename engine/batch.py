"""What a batch renders and where: the pictures in the files and folders a person named, each with the one output
file it is written to (OUTDIR/<name>.png), so that a batch that was stopped and run again finds the results it
already wrote and goes on with the rest. It reads no picture: a broken one is found when it is rendered."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import FudeError
from engine.names import render_file_stem

# The suffixes a folder's pictures are found by (a file named on its own is tried whatever its suffix).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


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
    <name>.png with the name made safe for any file system, or <name>_<suffix>.png when two pictures share a name
    (cat.png and cat.jpg). The same inputs always give the same outputs, which is what lets a rerun skip the
    pictures already done. An input that does not exist, or is the output folder itself (its results would
    become inputs of the next run), is a problem and is left out."""
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
    stems = [_stem(source) for source in sources]
    shared = Counter(stem.lower() for stem in stems)  # case-insensitive: cat.png and Cat.jpg clash on macOS
    items = []
    for source, stem in zip(sources, stems):
        if shared[stem.lower()] > 1:
            stem = render_file_stem(f"{stem}_{source.suffix.lstrip('.')}", ())
        items.append(BatchItem(source, out / f"{stem}.png"))
    return BatchPlan(tuple(_unique(items)), tuple(problems))


def _stem(source: Path) -> str:
    return render_file_stem(source.name, ())  # the name without its suffix, made safe


def _unique(items: list[BatchItem]) -> list[BatchItem]:
    """Items whose outputs still clash (cat.png and cat_png.png both given) get a number, in input order."""
    taken: set[str] = set()
    result = []
    for item in items:
        output, number = item.output, 1
        while output.name.lower() in taken:
            number += 1
            output = item.output.with_name(f"{item.output.stem}_{number}.png")
        taken.add(output.name.lower())
        result.append(BatchItem(item.source, output))
    return result


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
