"""When a scale's picture has settled: the stopping rule of a run, which follows the picture a person sees rather
than the loss. Every SETTLE_WINDOW iterations it looks at the picture three ways:

- at the size the canvas shows it (the picture area-scaled to at most VIEW_SIDE px), how much it moved: the mean
  change per iteration, in levels of 0..255, since the last look. Style transfer never stops moving its texture
  about, but the drift slows to a fraction of a level per iteration, where ten more iterations shift a pixel by
  less than the few levels an eye tells apart in a flat area;
- at 100%, its fine detail: the mean difference between the picture and its 3 x 3 local mean, in levels. It falls
  while the noise start's grain is removed, and rises while a coarser scale's upscaled softness is given texture;
  once it is flat, more iterations neither remove grain nor add detail, only move the texture about. A statistic,
  not the pixels, so that drift alone does not count as unfinished.

and, over the last DRIFT_SPAN iterations,

- at a thumbnail's size (DRIFT_SIDE px: the shapes and colours, hardly the place of each stroke), how far the
  picture went: the net change per iteration. A picture can drift slowly and steadily for hundreds of
  iterations, each of them moving it by far less than a level at the canvas size, and end somewhere else (the
  content's shapes come back through the texture as L-BFGS slowly lowers the content loss along the style's
  valley). Measured on a 512 px run of 600 iterations (200 a scale; the note on issue 25), every scale drifts in
  one direction (the net change over 25 iterations is 0.9 of the sum of its five 5-iteration changes) at a speed
  that falls only as about 1/t^0.7, and each scale towards its own end. Below SETTLED_DRIFT, what is left of the
  drift moves the thumbnail by a few levels at most. Strokes that move about go nowhere at the thumbnail's size.

The canvas-size change counts only while the picture moves steadily: strokes that slide back and forth (a
texture like the Starry Night's never stops moving at 100%) move it far less over the span than the sum of its
short changes, and waiting for them to stop adds nothing a person sees.

The full size has settled when all of these are below their thresholds at one look. A coarser scale has settled
when it no longer moves steadily at the canvas size and its fine detail is flat: its drift is not waited for. Each
scale drifts towards its own end, and the next scale leaves it for its own (issue 25: the full size's end keeps
more of the content than a coarse scale's, which sees it through a coarser grid of the content layer). Measured at
512 px (frog + wave, trajectories of the full size after each kind of start, in the precision chosen on that
machine): with the coarse scales ended when still (90 and 40 iterations instead of 225 and 160 waiting for their
drift to stop) the full size reaches the same loss about 10 iterations later, having saved 33 full-size
iterations' worth of coarse work.

With regions, all three are measured over the painted part only: each pixel counts by how much of the painting shows
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
DRIFT_SIDE = 64  # the thumbnail a drift of shapes and colours is measured at
DRIFT_LOOKS = 5  # the drift is measured over this many windows (DRIFT_SPAN iterations)
DRIFT_SPAN = DRIFT_LOOKS * SETTLE_WINDOW
SETTLED_DRIFT = 0.07  # levels per iteration at the thumbnail, net over the span: below this it has stopped drifting
SLIDING = 0.5  # net change over the span / the sum of its windows' changes below this: strokes moving about
MIN_LOOKS = DRIFT_LOOKS  # a scale runs at least this many windows and one more, so the drift can be measured


@dataclass(frozen=True)
class Look:
    """One look at the picture: what changed since the one before."""

    iteration: int  # iterations at this scale when it was taken
    change: float  # mean change per iteration at the canvas size, in levels (inf at the first look)
    detail: float  # fine detail at 100%, in levels
    detail_change: float  # relative change of `detail` since the last look (inf at the first look)
    drift: float = float("inf")  # net change per iteration at the thumbnail over DRIFT_SPAN (inf before that)
    steadiness: float = 1.0  # net change at the canvas size over DRIFT_SPAN / the sum of its windows' changes

    @property
    def moving(self) -> bool:
        """Whether the picture still moves at the canvas size: faster than SETTLED_CHANGE, and steadily (strokes
        sliding back and forth do not count)."""
        return self.change >= SETTLED_CHANGE and self.steadiness >= SLIDING

    @property
    def still(self) -> bool:
        """Neither moving steadily at the canvas size nor still gaining or losing fine detail: settled, at a coarse
        scale."""
        return not self.moving and self.detail_change < SETTLED_DETAIL

    @property
    def settled(self) -> bool:
        """Still, and no longer drifting in shape and colour: settled, at the full size."""
        return self.still and self.drift < SETTLED_DRIFT


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
    over: at a new scale, or when the objective changed (a new lam, style weights or regions). `final` says whether
    the scale is the full size, whose drift is waited for, or a coarser one, which has settled once it is still."""

    def __init__(self, window: int = SETTLE_WINDOW, final: bool = True) -> None:
        self.window = window
        self.final = final
        self.looks: list[Look] = []
        self._count = 0
        self._views: list[tuple[torch.Tensor, torch.Tensor]] = []  # (canvas view, thumbnail) of the recent looks
        self._detail = 0.0

    def reset(self, final: bool | None = None) -> None:
        """Start over; with `final`, for a scale of that kind (else the same kind as before)."""
        if final is not None:
            self.final = final
        self.looks = []
        self._count = 0
        self._views = []

    def observe(self, image: torch.Tensor, coverage: torch.Tensor | None = None) -> bool:
        """The picture after one more iteration; True when it has settled (at a look, after MIN_LOOKS windows).
        `coverage` (1 x 1 x H x W in [0, 1], regions): how much of the painting shows at each pixel; the change,
        the drift and the fine detail are then measured over the painted part, each pixel weighted by its
        coverage."""
        self._count += 1
        if self._count % self.window:
            return False
        view = view_of(image)
        thumbnail = _area_scaled(view, DRIFT_SIDE)  # from the view, not again from a print-size picture
        detail = fine_detail(image, coverage=coverage)
        if self._views and self._views[-1][0].shape != view.shape:
            self._views = []
        if not self._views:
            look = Look(self._count, float("inf"), detail, float("inf"))
        else:
            change = _mean_change(view, self._views[-1][0], coverage) / self.window
            relative = abs(detail - self._detail) / max(self._detail, 1e-6)
            drift, steadiness = float("inf"), 1.0
            if len(self._views) >= DRIFT_LOOKS:
                span_view, span_thumbnail = self._views[-DRIFT_LOOKS]
                drift = _mean_change(thumbnail, span_thumbnail, coverage) / (DRIFT_LOOKS * self.window)
                travelled = change + sum(look.change for look in self.looks[-(DRIFT_LOOKS - 1):])
                steadiness = _mean_change(view, span_view, coverage) / max(travelled * self.window, 1e-6)
            look = Look(self._count, change, detail, relative, drift, steadiness)
        self._views = [*self._views[-(DRIFT_LOOKS - 1):], (view, thumbnail)]
        self._detail = detail
        self.looks.append(look)
        return len(self.looks) > MIN_LOOKS and (look.settled if self.final else look.still)


def _mean_change(now: torch.Tensor, before: torch.Tensor, coverage: torch.Tensor | None) -> float:
    """The mean absolute difference of two views (levels), with `coverage` over the painted part only."""
    moved = (now - before).abs()
    if coverage is None:
        return float(moved.mean())
    weight = _area_scaled(coverage, max(now.shape[-2:]))
    return float((moved * weight).sum()) / max(float(weight.sum()) * now.shape[1], 1e-6)
