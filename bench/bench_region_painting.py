"""What painting regions costs in the window: milliseconds for a flood fill (app.region_painting.fill after a soft
brush stroke) and for the fill's search alone (connected) on the worst shapes there are, a comb (a run on every
other pixel of every row, all joined by the top row) and a serpentine maze (one long path through every row), at
each mask size up to REGION_MAX_SIDE. Prints figures; asserts nothing (tests/test_region_painting.py checks that a
fill takes the same few steps at any size, which the machine's load does not change).

    python bench/bench_region_painting.py [--repeats 5]

Each figure is the median of --repeats runs. A fill feels immediate under about 100 ms; compare figures only
within one invocation: one machine's speed drifts with what else it runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.region_painting import KEEP, RegionPainting, connected  # noqa: E402
from engine.regions import REGION_MAX_SIDE, Regions  # noqa: E402

SIZES = ((256, 192), (512, 384), (REGION_MAX_SIDE, REGION_MAX_SIDE * 3 // 4))


def comb(width: int, height: int) -> np.ndarray:
    teeth = np.zeros((height, width), bool)
    teeth[:, ::2] = True
    teeth[0] = True
    return teeth


def serpentine(width: int, height: int) -> np.ndarray:
    """Every other row open, each joined to the next at alternate ends: one path through the whole picture."""
    maze = np.zeros((height, width), bool)
    maze[::2] = True
    for row in range(1, height, 2):
        maze[row, -1 if row % 4 == 1 else 0] = True
    return maze


def milliseconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def stroked(width: int, height: int) -> RegionPainting:
    """Two paintings' regions with one soft stroke across them, as a user paints before filling."""
    model = RegionPainting(Regions.everywhere(2, width, height))
    k = width / 1024
    model.begin_stroke(0, 20 * k, 0.5, 100 * k, 100 * k)
    for x, y in ((900 * k, 700 * k), (100 * k, 700 * k)):
        model.stroke_to(x, y)
    model.end_stroke()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; the median is printed")
    args = parser.parse_args()
    print(f"{'masks':>11}  {'fill':>8}  {'comb':>8}  {'serpentine':>10}   (ms, median of {args.repeats})")
    for width, height in SIZES:
        model = stroked(width, height)

        def fill(model: RegionPainting = model, width: int = width) -> object:
            filled = model.fill(width - 24, 10, KEEP)
            model.undo()  # the same fill again next time
            return filled

        teeth, maze = comb(width, height), serpentine(width, height)
        assert connected(maze, 0, 0).sum() == maze.sum()  # the maze really is one path
        print(f"{width:>5} x {height:<4}  {milliseconds(fill, args.repeats):8.1f}  "
              f"{milliseconds(lambda t=teeth: connected(t, 0, 0), args.repeats):8.1f}  "
              f"{milliseconds(lambda m=maze: connected(m, 0, 0), args.repeats):10.1f}")


if __name__ == "__main__":
    main()
