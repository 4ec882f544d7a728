"""A run's coarse-to-fine schedule (the sizes it works at and the iterations at each), how much work that is, tiles
included, how much of it a run usually does before its scales settle, and how long it will take on this machine
from a speed measured here: one model for the estimate before a run and the time left during it. Torch is
imported only to measure."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine.images import fit_size
from engine.settings import DEFAULT_ITERATIONS, RenderSettings
from engine.tiles import plan_tiles

if TYPE_CHECKING:
    import torch

    from engine.network import VGGFeatures

COARSE_START = 128  # longest side of the first scale of a coarse-to-fine run
SCALE_FACTOR = 2  # each scale is this much larger than the one before
# A tiled iteration passes over every tile twice: once forward without gradients, once forward and backward.
# The first pass costs this share of the second (bench/bench_tiling.py; the last tile's first pass is reused).
FIRST_PASS_SHARE = 0.25
SPEED_PROBE_SIDE = 256  # the side of the square the speed is measured on
# An iteration costs about this many of measure_speed's passes over the same pixels: the content loss, total
# variation, L-BFGS and the frame, and a large picture's slower memory. Measured on a 2-core CPU in fp32 against
# a probe of 8.5e-6 s/px: 1.02 at 256 px, 1.37 at 1024 px, 1.2 at 1024 px in 512 or 256 px tiles, 1.7 at 2048 px in
# 512 px tiles (bench/bench_tiling.py); the estimate is said as "about".
ITERATION_COST = 1.3
# With the default count each scale ends when its picture has settled (engine.settling). The full size has settled
# when it neither moves steadily at the canvas size, nor grows or loses fine detail, nor drifts in shape and colour at
# a thumbnail's size; that last test (issue 25) keeps it going while it drifts, which it does slowly for a hundred
# iterations and more. A coarser scale has settled once it is still (the first two tests): it drifts towards its own
# end, which the next scale leaves for its own, so waiting for that drift to stop was work thrown away.
# SCALE_ROOM is the most a scale may run (first, each later), and the stopping rule usually ends a scale well before;
# a run of few scales has more (its even share of DEFAULT_ITERATIONS). EXPECTED_SETTLED is what a scale usually
# runs: the time left and the estimate expect it, not the most. Measured (issue 25, L-BFGS, 2-core CPU):
# - a run of one scale (64 px in tests/data, noise to the end, drift waited for): cat + wave after 245, astronaut +
#   the scream after 190; at 128 px cat + wave after 215.
# - 512 px, frog + wave: 90 at 128 px and 40 at 256 px (still; waiting for their drift, 225 and 160), then the
#   full size after 135 (125), at the same loss (0.2404; ruler of bench/bench_speed.py); chelsea + starry night: 65
#   and 50 (210 and 150), the full size's loss after 60 iterations the same to 0.2% (0.3393 against 0.3388).
# - Adam: a run of one scale after 305 (cat + wave, 64 px); its coarse and full-size counts are L-BFGS's in the
#   proportion Adam's one-scale count bears to L-BFGS's (not measured).
SCALE_ROOM = {"lbfgs": (250, 160), "adam": (320, 180)}


@dataclass(frozen=True)
class Settling:
    """How many iterations a scale usually runs before it settles, by its place in the run."""

    alone: int  # the one scale of a run (a small picture, or coarse-to-fine off): from noise, drift waited for
    first: int  # the first, coarsest scale of several: from noise until still
    coarse: int  # a later scale that is not the full size: from the scale before until still
    full: int  # the full size of a run of several scales: from the scale before, drift waited for

    def of(self, scale: int, scales: int) -> int:
        """What scale `scale` (0: the first) of a run of `scales` usually runs."""
        if scales == 1:
            return self.alone
        if scale == scales - 1:
            return self.full
        return self.first if scale == 0 else self.coarse


EXPECTED_SETTLED = {"lbfgs": Settling(alone=230, first=90, coarse=40, full=130),
                    "adam": Settling(alone=290, first=115, coarse=50, full=165)}
# A later frame of a clip (engine.video) starts from the frame before, carried over by the optical flow, and runs
# at the full size only: the most it may run (a later scale's room) and what it usually runs before it settles
# (bench/bench_video.py at the default steadiness: 40 and 54 L-BFGS iterations at 64 px, 41 at 128 px; the rule's
# own minimum is 30, MIN_LOOKS + 1 looks of SETTLE_WINDOW, which is the floor that keeps a frame from ending after
# a step or two). Adam's is a guess in the same proportion as its scales' (not measured).
WARM_FRAME_ROOM = {"lbfgs": 160, "adam": 180}
WARM_FRAME_EXPECTED = {"lbfgs": 45, "adam": 55}


def scale_sides(size: int, multiscale: bool = True) -> list[int]:
    """The longest side of each scale of a run of `size` px, coarse to fine: halving from `size` while the side
    stays at least COARSE_START (only `size` without `multiscale`)."""
    sides = [size]
    while multiscale and sides[0] / SCALE_FACTOR >= COARSE_START:
        sides.insert(0, round(sides[0] / SCALE_FACTOR))
    return sides


def plan_scales(size: int, iterations: int, multiscale: bool = True) -> list[tuple[int, int]]:
    """(longest side, iterations) for each scale of a run of exactly `iterations` (`--iterations N`), coarse to
    fine: an equal share each, at least one; the sum is `iterations`. Without `multiscale`, or when `size` is
    small, the whole run is at `size`."""
    sides = scale_sides(size, multiscale)[-max(1, iterations):]  # fewer iterations than scales: the finest
    counts = [max(1, iterations // len(sides)) for _ in sides]
    counts[0] += iterations - sum(counts)  # rounding goes to the cheapest scale
    return list(zip(sides, counts))


def default_plan(size: int, optimizer: str, multiscale: bool = True) -> list[tuple[int, int]]:
    """(longest side, most iterations) for each scale of a run with the default count, where each scale ends as
    soon as its picture has settled (engine.settling): the optimiser's default count split as `plan_scales`
    splits it, but never less than SCALE_ROOM at any scale, so a large picture's many scales each have room to
    settle (at 2048 px an even split would leave 60 L-BFGS iterations a scale). The first scale, the cheapest,
    has the most room: a picture from noise may take long to be still."""
    first, later = SCALE_ROOM[optimizer]
    plan = plan_scales(size, DEFAULT_ITERATIONS[optimizer], multiscale)
    return [(side, max(count, first if k == 0 else later)) for k, (side, count) in enumerate(plan)]


def most_iterations(settings: RenderSettings) -> int:
    """The most iterations a run of `settings` does: its count, or with the default count the sum of its scales'
    most (which grows with the size: more scales)."""
    if settings.iterations is not None:
        return settings.iterations
    return sum(count for _, count in default_plan(settings.size, settings.optimizer, settings.multiscale))


@dataclass(frozen=True)
class Scale:
    """One scale of a run's schedule."""

    side: int  # the longest side
    width: int
    height: int
    iterations: int  # exactly this many (an explicit count) or at most this many (the default count)
    expected: int  # how many it usually runs: `iterations`, or with the stopping rule when scales usually settle
    tiles: int  # how many tiles an iteration is computed in (1: one pass)
    work: float  # the work of one iteration, in pixel-passes


@dataclass(frozen=True)
class Schedule:
    """The one model of a run's work and time: its scales, what each iteration at each costs (its pixels, and a
    tiled scale's overlapping crops and extra pass) and how many iterations each is expected to run. The Advanced
    panel's estimate (before a run) and the run's progress and time left (engine.run) both come from it.

    `ends` below are where each scale ends, in iterations from the run's start (`ends()` for the plan as made; a
    run moves them as scales settle early)."""

    scales: tuple[Scale, ...]
    settling: bool  # the default count: each scale ends when its picture has settled, `iterations` is its most

    @classmethod
    def of(cls, settings: RenderSettings, width: int, height: int, tile: int | None = None) -> Schedule:
        """The schedule of a run of `settings` on a `width` x `height` content picture, tiles of at most `tile` px
        (None: every scale in one pass)."""
        settling = settings.iterations is None
        if settling:
            plan = default_plan(settings.size, settings.optimizer, settings.multiscale)
        else:
            plan = plan_scales(settings.size, settings.iteration_count, settings.multiscale)
        usual = EXPECTED_SETTLED[settings.optimizer]
        scales = []
        for k, (side, iterations) in enumerate(plan):
            w, h = fit_size(width, height, side)
            tiles = plan_tiles(h, w, tile)
            passes = 1.0 if len(tiles) == 1 else 1.0 + FIRST_PASS_SHARE * (len(tiles) - 1) / len(tiles)
            expected = min(iterations, usual.of(k, len(plan))) if settling else iterations
            scales.append(Scale(side, w, h, iterations, expected, len(tiles),
                                sum(t.crop_pixels for t in tiles) * passes))
        return cls(tuple(scales), settling)

    def warm_frame(self, optimizer: str) -> Schedule:
        """This schedule for a later frame of a clip, which goes on from the frame before at the full size only:
        the last scale alone, running an explicit count in full, or with the default count at most
        WARM_FRAME_ROOM and usually WARM_FRAME_EXPECTED iterations."""
        last = self.scales[-1]
        if self.settling:
            last = replace(last, iterations=WARM_FRAME_ROOM[optimizer], expected=WARM_FRAME_EXPECTED[optimizer])
        else:
            total = sum(scale.iterations for scale in self.scales)
            last = replace(last, iterations=total, expected=total)
        return Schedule((last,), self.settling)

    @property
    def most(self) -> int:
        """The most iterations the run does (with an explicit count, exactly these)."""
        return sum(scale.iterations for scale in self.scales)

    def ends(self) -> list[int]:
        """Where each scale ends when every one runs its `iterations`."""
        return list(itertools.accumulate(scale.iterations for scale in self.scales))

    def work_between(self, ends: Sequence[int], start: int, end: int) -> float:
        """The work of iterations start..end-1 (counted from the run's start), each at its scale's cost."""
        work, begin = 0.0, 0
        for scale, scale_end in zip(self.scales, ends):
            overlap = min(end, scale_end) - max(start, begin)
            if overlap > 0:
                work += overlap * scale.work
            begin = scale_end
        return work

    def expected_work_left(self, ends: Sequence[int], index: int, window: int = 1) -> float:
        """The work of the iterations expected after the first `index`. With the stopping rule, a scale is
        expected to run its `expected` count (never past its end), and one already past that to end at its next
        look, every `window` iterations; so the time left is what a run usually takes, not its most."""
        if not self.settling:
            return self.work_between(ends, index, ends[-1] if ends else 0)
        work, begin = 0.0, 0
        for scale, end in zip(self.scales, ends):
            if end > index:
                done = max(0, index - begin)
                to_look = window - done % window
                work += min(end - max(index, begin), max(scale.expected - done, to_look)) * scale.work
            begin = end
        return work

    @property
    def expected_work(self) -> float:
        """The work a run of this schedule usually does, from its start (the most, with an explicit count)."""
        return self.expected_work_left(self.ends(), 0)

    @property
    def most_work(self) -> float:
        """The work of the run if every scale runs its most."""
        return self.work_between(self.ends(), 0, self.most)


def run_work(width: int, height: int, settings: RenderSettings, tile: int | None = None) -> float:
    """The most work of a run of `settings` on a `width` x `height` content picture, in pixel-passes: for every
    iteration the pixels the network processes forward and backward (a tiled scale's crops overlap, and its first
    pass counts FIRST_PASS_SHARE). With the default iteration count a run usually does less (Schedule's
    `expected_work`): it stops each scale once its picture has settled."""
    return Schedule.of(settings, width, height, tile).most_work


def measure_speed(network: VGGFeatures, device: torch.device, side: int = SPEED_PROBE_SIDE) -> float:
    """Seconds per pixel of one iteration's pass of `network` forward and backward (Gram losses included) on
    `device`, measured on a `side` px square: the best of two after a warm-up."""
    import torch

    from engine.losses import STYLE_LAYERS, gram, tensor_sum

    image = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_(True)
    best = float("inf")
    for round_ in range(3):
        started = time.perf_counter()
        image.grad = None
        features = network(image, STYLE_LAYERS)
        tensor_sum(gram(f).pow(2).mean() for f in features.values()).backward()
        assert image.grad is not None
        float(image.grad.abs().max())  # wait for the device
        if round_:
            best = min(best, time.perf_counter() - started)
        del features
    return best / (side * side)


def describe_seconds(seconds: float) -> str:
    """"about 40 s", "about 12 min", "about 3 h 20 min"."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"
