"""Painting regions: the editing model behind the region editor (brush strokes, flood fill, clear, replace) with
undo and redo of whole edits. numpy only, no Qt, so every edit can be tested as plain arrays.

Coordinates are mask pixels (floats), pixel (i, j) centred at x = i, y = j. A label says what a stroke or a fill
paints: a style index 0..count-1 ("only this painting here"), KEEP ("the content stays itself here") or ERASE
("back to unpainted: every painting here")."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.regions import FULL, Regions

KEEP = -1
ERASE = -2
MAX_UNDO = 50  # edits that can be undone
DAB_SPACING = 0.25  # dabs along a stroke, every this fraction of the brush radius
MIN_RADIUS = 0.5  # a brush always reaches the pixel under it
FILL_TOLERANCE = 8  # a fill spreads over pixels whose every mask is within this of the clicked pixel's

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (ends exclusive) in mask pixels


def paint(masks: np.ndarray, opacity: np.ndarray, label: int) -> np.ndarray:
    """S x h x w uint8 masks with `label` painted at `opacity` (h x w, 0-1) over them."""
    base = masks.astype(np.float32)
    a = opacity.astype(np.float32)[None]
    if label == KEEP:
        out = base * (1 - a)
    elif label == ERASE:
        out = base + a * (FULL - base)
    else:
        out = base * (1 - a)
        out[label] = base[label] + a[0] * (FULL - base[label])
    return np.rint(out).astype(np.uint8)


def dab(radius: float, softness: float, x: float, y: float, width: int, height: int) -> tuple[Box, np.ndarray] | None:
    """One touch of the brush: the box it reaches (clipped to the masks) and its opacity there, 1 inside
    radius * (1 - softness) and falling smoothly to 0 at `radius`; None where it misses the masks."""
    x0, y0 = max(0, math.floor(x - radius)), max(0, math.floor(y - radius))
    x1, y1 = min(width, math.ceil(x + radius) + 1), min(height, math.ceil(y + radius) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = np.arange(x0, x1, dtype=np.float32) - x
    dy = np.arange(y0, y1, dtype=np.float32) - y
    distance = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
    inner = radius * (1 - softness)
    t = np.clip((radius - distance) / max(radius - inner, 1e-6), 0, 1)
    return (x0, y0, x1, y1), t * t * (3 - 2 * t)


def connected(similar: np.ndarray, x: int, y: int) -> np.ndarray:
    """The 4-connected part of `similar` (h x w bool) that holds pixel (x, y), as h x w bool. It works on runs of
    similar pixels along rows (never single pixels) and joins them all at once, so even a maze fills quickly."""
    height, width = similar.shape
    if not similar[y, x]:
        return np.zeros_like(similar)
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = similar
    edges = np.diff(padded, axis=1)  # +1 where a run starts, -1 just past where it ends
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]
    stride = width + 2  # a key (row * stride + column) orders every run start and end across the picture
    start_keys, end_keys = rows * stride + starts, rows * stride + ends
    # each run's neighbours in the row below: the runs there that end after it starts and start before it ends
    first = np.searchsorted(end_keys, start_keys + stride, "right")
    count = np.maximum(np.searchsorted(start_keys, end_keys + stride, "left") - first, 0)
    upper = np.repeat(np.arange(len(starts)), count)
    lower = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
    group = np.arange(len(starts))  # union-find in bulk: each run's group is the smallest run it is joined to
    while True:
        a, b = group[upper], group[lower]
        apart = a != b
        if not apart.any():
            break
        np.minimum.at(group, np.maximum(a, b)[apart], np.minimum(a, b)[apart])
        while not np.array_equal(group[group], group):
            group = group[group]
    seed = np.searchsorted(start_keys, y * stride + x, "right") - 1
    chosen = group == group[seed]
    marks = np.zeros((height, width + 1), np.int32)  # +1 where a chosen run starts, -1 where it ends
    np.add.at(marks, (rows[chosen], starts[chosen]), 1)
    np.add.at(marks, (rows[chosen], ends[chosen]), -1)
    return np.cumsum(marks, axis=1)[:, :width] > 0


@dataclass
class _Stroke:
    label: int
    radius: float
    softness: float
    x: float
    y: float
    base: np.ndarray  # S x H x W uint8: the masks when the stroke began
    opacity: np.ndarray  # H x W float32: the stroke's opacity so far (dabs combined by max)
    shown: np.ndarray  # S x H x W uint8: the masks with the stroke so far
    changed: bool = False


class RegionPainting:
    """The regions being painted: `regions` is the last committed value, `preview()` the masks as shown (with a
    stroke in progress). Every committed edit returns the new Regions (None when it changed nothing)."""

    def __init__(self, regions: Regions) -> None:
        self._regions = regions
        self._undo: list[Regions] = []
        self._redo: list[Regions] = []
        self._stroke: _Stroke | None = None

    @property
    def regions(self) -> Regions:
        return self._regions

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def preview(self) -> np.ndarray:
        """The masks as they look now (S x H x W uint8, read-only): the committed ones, or with the stroke so far."""
        shown = self._stroke.shown.view() if self._stroke is not None else self._regions.stack()
        shown.flags.writeable = False
        return shown

    # ---- brush strokes ----

    def begin_stroke(self, label: int, radius: float, softness: float, x: float, y: float) -> Box | None:
        """Start a stroke of `label` with a brush of `radius` mask pixels and `softness` (0: a hard edge, 1: soft
        all the way to the centre) with a dab at (x, y). Returns the box of pixels that changed (or None)."""
        self._check_label(label)
        base = self._regions.stack()
        self._stroke = _Stroke(label, max(MIN_RADIUS, float(radius)), min(1.0, max(0.0, float(softness))), x, y,
                               base, np.zeros(base.shape[1:], np.float32), base.copy())
        return self._dabs([(x, y)])

    def stroke_to(self, x: float, y: float) -> Box | None:
        """Carry the stroke on to (x, y), with dabs close enough that a fast mouse leaves an unbroken line.
        Returns the box of pixels that may have changed (or None)."""
        stroke = self._stroke
        if stroke is None:
            return None
        steps = max(1, math.ceil(math.hypot(x - stroke.x, y - stroke.y) / (stroke.radius * DAB_SPACING)))
        points = [(stroke.x + (x - stroke.x) * i / steps, stroke.y + (y - stroke.y) * i / steps)
                  for i in range(1, steps + 1)]
        stroke.x, stroke.y = x, y
        return self._dabs(points)

    def end_stroke(self) -> Regions | None:
        """Commit the stroke as one edit; None when it changed nothing (or there was none)."""
        stroke, self._stroke = self._stroke, None
        if stroke is None or not stroke.changed:
            return None
        return self._commit(Regions.from_stack(stroke.shown))

    def cancel_stroke(self) -> None:
        self._stroke = None

    def _dabs(self, points: list[tuple[float, float]]) -> Box | None:
        stroke = self._stroke
        assert stroke is not None
        height, width = stroke.opacity.shape
        boxes = []
        for x, y in points:
            touch = dab(stroke.radius, stroke.softness, x, y, width, height)
            if touch is not None:
                (x0, y0, x1, y1), opacity = touch
                np.maximum(stroke.opacity[y0:y1, x0:x1], opacity, out=stroke.opacity[y0:y1, x0:x1])
                boxes.append((x0, y0, x1, y1))
        if not boxes:
            return None
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        x0, y0, x1, y1 = box
        painted = paint(stroke.base[:, y0:y1, x0:x1], stroke.opacity[y0:y1, x0:x1], stroke.label)
        stroke.changed = stroke.changed or not np.array_equal(painted, stroke.base[:, y0:y1, x0:x1])
        stroke.shown[:, y0:y1, x0:x1] = painted
        return box

    # ---- whole edits ----

    def fill(self, x: float, y: float, label: int) -> Regions | None:
        """Paint `label` fully over the area around pixel (x, y) whose masks are all alike (within
        FILL_TOLERANCE of that pixel's), as far as it reaches without crossing a different pixel."""
        self._check_label(label)
        self._stroke = None
        stack = self._regions.stack()
        col, row = round(x), round(y)
        if not (0 <= col < self._regions.width and 0 <= row < self._regions.height):
            return None
        difference = np.abs(stack.astype(np.int16) - stack[:, row, col].astype(np.int16)[:, None, None])
        area = connected((difference <= FILL_TOLERANCE).all(axis=0), col, row)
        painted = paint(stack, area.astype(np.float32), label)
        return None if np.array_equal(painted, stack) else self._commit(Regions.from_stack(painted))

    def clear(self) -> Regions | None:
        """Back to unpainted: every painting everywhere."""
        current = self._regions
        return self.replace(Regions.everywhere(current.count, current.width, current.height))

    def replace(self, regions: Regions) -> Regions | None:
        """A whole new value (e.g. a mask file), as one edit; None when it is the value there already."""
        self._stroke = None
        return None if regions == self._regions else self._commit(regions)

    def adopt(self, regions: Regions) -> None:
        """A change made elsewhere (e.g. settings read from a file): it becomes the value, and can be undone."""
        self.replace(regions)

    def undo(self) -> Regions | None:
        self._stroke = None
        if not self._undo:
            return None
        self._redo.append(self._regions)
        self._regions = self._undo.pop()
        return self._regions

    def redo(self) -> Regions | None:
        self._stroke = None
        if not self._redo:
            return None
        self._undo.append(self._regions)
        self._regions = self._redo.pop()
        return self._regions

    def _commit(self, regions: Regions) -> Regions:
        self._undo = [*self._undo, self._regions][-MAX_UNDO:]
        self._redo = []
        self._regions = regions
        return regions

    def _check_label(self, label: int) -> None:
        if label not in (KEEP, ERASE) and not 0 <= label < self._regions.count:
            raise ValueError(f"no painting {label} among {self._regions.count}")
