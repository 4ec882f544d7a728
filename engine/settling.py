"""When a scale's picture has settled: the stopping rule of a run, which follows the picture a person sees rather
than the loss. Every SETTLE_WINDOW iterations it looks at the picture twice:

- at the size the canvas shows it (the picture area-scaled to at most VIEW_SIDE px), how much it moved: the mean
  change per iteration, in levels of 0..255, since the last look. Style transfer never stops moving its texture
  about, but the drift slows to a fraction of a level per iteration, where ten more iterations shift a pixel by
  less than the few levels an eye tells apart in a flat area;
- at 100%, its fine detail: the mean difference between the picture and its 3 x 3 local mean, in levels. It falls
  while the noise start's grain is removed, and rises while a coarser scale's upscaled softness is given texture;
  once it is flat, more iterations neither remove grain nor add detail, only move the texture about. A statistic,
  not the pixels, so that drift alone does not count as unfinished.

The scale has settled when both are below their thresholds at one look. Measured on four pairs at 512 px (the
note on issue 16): the full size settles after 35-70 iterations, where the same run continued to 200 changes the
texture's place but neither its grain nor anything seen at the canvas size.

With regions, both are measured over the painted part only: each pixel counts by how much of the painting shows
there (the run's coverage), and the sums are divided by the coverage, not by the whole picture. The content kept
around a small region never moves, and counted in it would dilute a region that is still moving into a settled
picture (a region of 6% of the picture moving 2 levels per iteration would read as 0.12)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

SETTLE_WINDOW = 5  # iterations between two looks at the picture
SETTLED_CHANGE = 0.4  # levels per iteration (mean over the picture at the canvas size): below this it has settled
SETTLED_DETAIL = 0.01  # relative change of the fine detail since the last look: below this it is flat
VIEW_SIDE = 512  # the longest side the picture is judged at for what the canvas shows
DETAIL_BAND = 256  # rows measured at a time
MIN_LOOKS = 2  # a scale runs at least this many windows (its first steps are short while L-BFGS learns the curvature)


@dataclass(frozen=True)
class Look:
    """One look at the picture: what changed since the one before."""

    iteration: int  # iterations at this scale when it was taken
    change: float  # mean change per iteration at the canvas size, in levels (inf at the first look)
    detail: float  # fine detail at 100%, in levels
    detail_change: float  # relative change of `detail` since the last look (inf at the first look)

    @property
    def settled(self) -> bool:
        return self.change < SETTLED_CHANGE and self.detail_change < SETTLED_DETAIL


def _area_scaled(image: torch.Tensor, side: int) -> torch.Tensor:
    """`image` (N x C x H x W) area-scaled so its longest side is at most `side`, fp32."""
    image = image.detach().float()
    height, width = image.shape[-2:]
    longest = max(height, width)
    if longest > side:
        size = (max(1, round(height * side / longest)), max(1, round(width * side / longest)))
        image = F.interpolate(image, size=size, mode="area")
    return image


def view_of(image: torch.Tensor, side: int = VIEW_SIDE) -> torch.Tensor:
    """`image` (1 x 3 x H x W in [0, 1]) as the canvas shows it: area-scaled so its longest side is at most `side`,
    in levels (0..255), fp32."""
    return _area_scaled(image, side).clamp(0, 1) * 255


def fine_detail(image: torch.Tensor, band: int = DETAIL_BAND, coverage: torch.Tensor | None = None) -> float:
    """Mean absolute difference between `image` (1 x 3 x H x W in [0, 1]) and its 3 x 3 local mean, in levels:
    the grain and fine texture seen at 100%. Measured `band` rows at a time, so a print-size picture needs no
    full-size copies. With `coverage` (1 x 1 x H x W in [0, 1]), the mean over the painted part: each pixel
    weighted by its coverage."""
    image = image.detach()
    height = image.shape[-2]
    total = torch.zeros((), device=image.device)
    for top in range(0, height, band):
        end = min(height, top + band)
        first, last = max(0, top - 1), min(height, end + 1)  # a row of context on each side where there is one
        rows = image[..., first:last, :].float().clamp(0, 1) * 255
        padded = F.pad(rows, (1, 1, 1 if top == 0 else 0, 1 if end == height else 0), mode="replicate")
        local = F.avg_pool2d(padded, 3, stride=1)  # the local mean of rows top..end-1
        difference = (rows[..., top - first:top - first + end - top, :] - local).abs()
        if coverage is not None:
            difference = difference * coverage[..., top:end, :].float()
        total = total + difference.sum()
    if coverage is None:
        return float(total) / image[0].numel()
    return float(total) / max(float(coverage.float().sum()) * image.shape[1], 1e-6)


class SettleWatch:
    """Fed the picture after every iteration of one scale (`observe`), says when it has settled. `reset()` starts
    over: at a new scale, or when the objective changed (a new lam, style weights or regions)."""


    def __init__(self, window: int = SETTLE_WINDOW) -> None:
        self.window = window
        self.looks: list[Look] = []
        self._count = 0
        self._view: torch.Tensor | None = None
        self._detail = 0.0

    def reset(self) -> None:
        self.looks = []
        self._count = 0
        self._view = None

    def observe(self, image: torch.Tensor, coverage: torch.Tensor | None = None) -> bool:
        """The picture after one more iteration; True when it has settled (at a look, after MIN_LOOKS windows).
        `coverage` (1 x 1 x H x W in [0, 1], regions): how much of the painting shows at each pixel; the change
        and the fine detail are then measured over the painted part, each pixel weighted by its coverage."""
        self._count += 1
        if self._count % self.window:
            return False
        view, detail = view_of(image), fine_detail(image, coverage=coverage)
        if self._view is None or self._view.shape != view.shape:
            look = Look(self._count, float("inf"), detail, float("inf"))
        else:
            moved = (view - self._view).abs()
            if coverage is None:
                change = float(moved.mean()) / self.window
            else:
                weight = _area_scaled(coverage, VIEW_SIDE)
                change = float((moved * weight).sum()) / max(float(weight.sum()) * view.shape[1], 1e-6) / self.window
            relative = abs(detail - self._detail) / max(self._detail, 1e-6)
            look = Look(self._count, change, detail, relative)
        self._view, self._detail = view, detail
        self.looks.append(look)
        return len(self.looks) > MIN_LOOKS and look.settled
