"""A run's coarse-to-fine schedule (the sizes it works at and the iterations at each), how much work that is, tiles
included, and how long it will take on this machine from a speed measured here. Torch is imported only to measure."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.images import fit_size
from engine.settings import RenderSettings
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


def plan_scales(size: int, iterations: int, multiscale: bool = True) -> list[tuple[int, int]]:
    """(longest side, iterations) for each scale of a run, coarse to fine: an equal share each, at least one;
    the sum is `iterations`. Without `multiscale`, or when `size` is small, the whole run is at `size`.

    With the default count these are each scale's most: a scale ends as soon as its picture has settled
    (engine.settling), usually well before (the first, from noise, after 80-95 iterations; the others after
    30-70). Equal shares leave every scale room to settle, the full size included, whose fine texture only forms
    there."""
    sides = [size]
    while multiscale and sides[0] / SCALE_FACTOR >= COARSE_START:
        sides.insert(0, round(sides[0] / SCALE_FACTOR))
    sides = sides[-max(1, iterations):]  # with fewer iterations than scales, the finest: the result has its size
    counts = [max(1, iterations // len(sides)) for _ in sides]
    counts[0] += iterations - sum(counts)  # rounding goes to the cheapest scale
    return list(zip(sides, counts))


def run_work(width: int, height: int, settings: RenderSettings, tile: int | None = None) -> float:
    """The work of a run of `settings` on a `width` x `height` content picture, in pixel-passes: for every
    iteration the pixels the network processes forward and backward (a tiled scale's crops overlap, and its first
    pass counts FIRST_PASS_SHARE). With the default iteration count this is the most the run does: it may stop
    early once the picture stops changing."""
    work = 0.0
    for side, iterations in plan_scales(settings.size, settings.iteration_count, settings.multiscale):
        w, h = fit_size(width, height, side)
        tiles = plan_tiles(h, w, tile)
        passes = 1.0 if len(tiles) == 1 else 1.0 + FIRST_PASS_SHARE * (len(tiles) - 1) / len(tiles)
        work += iterations * sum(t.crop_pixels for t in tiles) * passes
    return work


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
