"""The region painting model: brush strokes (where they reach, soft edges, no build-up within a stroke), Keep and
Eraser, flood fill (on all the pixels at once: its steps do not grow with the size; bench/bench_region_painting.py
times it), and undo/redo of whole edits."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from types import FrameType
from typing import TypeVar

import numpy as np
import pytest

from app.region_painting import ERASE, KEEP, MAX_UNDO, RegionPainting, connected
from engine.regions import Regions

W, H = 80, 60
T = TypeVar("T")


def painting(count: int = 2) -> RegionPainting:
    return RegionPainting(Regions.everywhere(count, W, H))


def stroke(model: RegionPainting, label: int, points: list[tuple[float, float]], radius: float = 4,
           softness: float = 0.0) -> Regions | None:
    (x, y), rest = points[0], points[1:]
    model.begin_stroke(label, radius, softness, x, y)
    for x, y in rest:
        model.stroke_to(x, y)
    return model.end_stroke()


def test_a_stroke_marks_the_pixels_along_its_path_and_none_far_from_it():
    model = painting()
    regions = stroke(model, 0, [(10, 30), (70, 30)])  # one long move: the dabs must fill in the line
    assert regions is not None and model.regions == regions
    first, second = regions.mask(0), regions.mask(1)
    assert (first[30, 10:71] == 255).all() and (second[30, 10:71] == 0).all()  # only painting 1 along the path
    assert (first[27:34, 15:65] == 255).all()  # the brush's width, hard-edged
    assert (second[:24] == 255).all() and (second[37:] == 255).all()  # untouched away from it
    assert (second[:, :5] == 255).all() and (second[:, 76:] == 255).all()


def test_a_soft_brush_fades_out_and_a_hard_one_does_not():
    model = painting()
    stroke(model, KEEP, [(40, 30)], radius=10, softness=1.0)
    row = model.regions.mask(0)[30, 40:52].astype(int)  # from the centre outwards
    assert row[0] == 0 and row[-1] == 255
    assert any(0 < v < 255 for v in row), row
    assert all(a <= b for a, b in zip(row, row[1:])), row  # fades steadily

    model = painting()
    stroke(model, KEEP, [(40, 30)], radius=10, softness=0.0)
    row = model.regions.mask(0)[30, 40:52]
    assert set(row.tolist()) <= {0, 255}


def test_going_over_the_same_spot_in_one_stroke_does_not_build_up():
    once, twice = painting(), painting()
    stroke(once, KEEP, [(40, 30)], radius=8, softness=1.0)
    stroke(twice, KEEP, [(40, 30), (44, 30), (40, 30), (44, 30), (40, 30)], radius=8, softness=1.0)
    assert once.regions.mask(0)[30, 40] == twice.regions.mask(0)[30, 40] == 0
    # a soft-edge pixel that both strokes reach alike: the second stroke's repeats do not darken it
    assert once.regions.mask(0)[30, 34] == twice.regions.mask(0)[30, 34]
    assert 0 < once.regions.mask(0)[30, 34] < 255
    # but a second stroke does build on the first
    stroke(once, KEEP, [(40, 30)], radius=8, softness=1.0)
    assert once.regions.mask(0)[30, 34] < twice.regions.mask(0)[30, 34]


def test_keep_zeroes_every_mask_and_the_eraser_brings_every_painting_back():
    model = painting(3)
    stroke(model, KEEP, [(20, 20), (60, 20)])
    stack = model.regions.stack()
    assert (stack[:, 20, 20:61] == 0).all() and (stack[:, 50, :] == 255).all()
    stroke(model, 2, [(40, 20)])
    assert model.regions.stack()[:, 20, 40].tolist() == [0, 0, 255]
    stroke(model, ERASE, [(20, 20), (60, 20)], radius=6)
    assert model.regions.is_everywhere


def test_the_preview_shows_the_stroke_before_it_is_committed():
    model = painting()
    model.begin_stroke(1, 3, 0.0, 10, 10)
    box = model.stroke_to(30, 10)
    assert box is not None and box[0] <= 10 and box[2] >= 31
    assert model.preview()[:, 10, 20].tolist() == [0, 255]
    assert model.regions.is_everywhere  # not yet committed
    assert model.end_stroke() is not None and model.regions.mask(0)[10, 20] == 0


def test_a_stroke_that_changes_nothing_is_no_edit():
    model = painting()
    assert stroke(model, ERASE, [(10, 10), (30, 30)]) is None
    assert not model.can_undo


def test_fill_spreads_over_alike_pixels_and_stops_at_a_painted_boundary():
    model = painting()
    stroke(model, 1, [(40, -5), (40, 70)], radius=2)  # a wall of painting 2 from top to bottom
    regions = model.fill(10, 10, KEEP)
    assert regions is not None
    stack = regions.stack()
    assert (stack[:, :, :37] == 0).all()  # the left side: kept
    assert (stack[:, :, 43:] == 255).all()  # the right side: untouched
    assert stack[:, 30, 40].tolist() == [0, 255]  # the wall itself too
    assert model.fill(10, 10, KEEP) is None  # nothing left to change


def test_connected_finds_the_four_connected_part_only():
    similar = np.array([[1, 1, 0, 1],
                        [0, 1, 0, 1],
                        [1, 0, 0, 1],
                        [1, 1, 1, 1]], bool)
    assert connected(similar, 0, 0).astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0],
                                                             [0, 0, 0, 0]]
    assert connected(similar, 3, 0).sum() == 8
    assert not connected(similar, 2, 0).any()


def python_lines(action: Callable[[], T]) -> tuple[T, int]:
    """What `action()` returns, and how many lines of Python it ran (numpy's own Python code included): the steps
    it took one by one, which a loop over pixels or runs would multiply and which the machine's load leaves as
    they are (bench/bench_region_painting.py measures the time)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        count += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = action()
    finally:
        sys.settrace(previous)
    return result, count


def comb(width: int, height: int) -> np.ndarray:
    """The worst shape for a fill: a run on every other pixel of every row, all joined by the top row."""
    teeth = np.zeros((height, width), bool)
    teeth[:, ::2] = True
    teeth[0] = True
    return teeth


def test_fill_works_on_all_the_pixels_at_once_at_any_size():
    steps = {}
    for width, height in ((256, 192), (1024, 768)):  # the largest masks there are (REGION_MAX_SIDE)
        model = RegionPainting(Regions.everywhere(2, width, height))
        k = width / 1024
        stroke(model, 0, [(100 * k, 100 * k), (900 * k, 700 * k), (100 * k, 700 * k)], radius=20 * k, softness=0.5)
        filled, fill_steps = python_lines(partial(model.fill, width - 24, 10, KEEP))
        assert filled is not None and filled.mask(0)[10, width - 24] == 0  # the corner beyond the stroke: kept
        teeth = comb(width, height)
        area, comb_steps = python_lines(partial(connected, teeth, 0, 0))
        assert area.sum() == teeth.sum()
        # a few hundred steps for up to 786,432 pixels and 393,600 runs: nothing is done pixel by pixel
        assert fill_steps < 2000 and comb_steps < 2000, (width, fill_steps, comb_steps)
        steps[width] = (fill_steps, comb_steps)
    # 16 times the pixels: a few more rounds of joining runs (they grow as the log of the size), not more steps
    for small, large in zip(steps[256], steps[1024], strict=True):
        assert large < 1.5 * small, steps


def test_undo_and_redo_whole_edits():
    model = painting()
    start = model.regions
    after_stroke = stroke(model, 0, [(10, 10), (50, 10), (50, 50)])
    after_fill = model.fill(70, 50, KEEP)
    assert after_stroke is not None and after_fill is not None and model.can_undo and not model.can_redo
    assert model.undo() == after_stroke and model.regions == after_stroke
    assert model.undo() == start and not model.can_undo
    assert model.undo() is None
    assert model.redo() == after_stroke and model.redo() == after_fill and not model.can_redo
    model.undo()
    assert model.clear() == start  # a new edit drops what could be redone
    assert not model.can_redo and model.undo() == after_stroke


def test_undo_keeps_at_most_fifty_steps():
    model = painting()
    values = [model.regions]
    for i in range(MAX_UNDO + 5):
        values.append(stroke(model, i % 2, [(i, 30)], radius=1))
    undone = 0
    while model.undo() is not None:
        undone += 1
    assert undone == MAX_UNDO
    assert model.regions == values[5]


def test_replace_and_adopt_are_undoable_and_equal_values_change_nothing():
    model = painting()
    start = model.regions
    kept = Regions.from_stack(np.zeros((2, H, W), np.uint8))
    assert model.replace(kept) == kept and model.replace(kept) is None
    assert model.undo() == start
    model.adopt(start)  # the value there already: no step
    assert not model.can_undo
    model.adopt(kept)
    assert model.regions == kept and model.undo() == start


def test_a_label_that_names_no_painting_is_refused():
    with pytest.raises(ValueError):
        painting(2).begin_stroke(2, 3, 0, 1, 1)
    with pytest.raises(ValueError):
        painting(2).fill(1, 1, -3)
