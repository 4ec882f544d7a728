"""StyleRun: one render as an object a caller drives. It prepares the targets, takes one optimisation step
per `step()`, yields a Frame per iteration, accepts new weights mid-run, and can be cancelled between steps.
It never hands out a broken picture: a step whose loss or image is NaN or infinite is undone (the last good
image comes back, the step is halved, the optimiser's history is dropped and the Frame says so), and running
out of memory ends the run with an OutOfMemory error while the last good image stays in `result()`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from engine.colour import match_colours
from engine.device import Precision, measure_precision, pick_device
from engine.errors import DivergenceError, OutOfMemory, SettingsError
from engine.images import fit_size, resize
from engine.lbfgs import LBFGS
from engine.losses import TEMPORAL_SCALE, LossWeights, RegionGuides, StyleObjective, temporal_loss
from engine.memory import is_out_of_memory, largest_style_shape, out_of_memory, release_memory
from engine.network import VGGFeatures, deepest, load_vgg19
from engine.regions import Regions, feather_sigma, scale_mask
from engine.schedule import Schedule
from engine.settings import MIN_SIZE, RenderSettings, normalise_style_weights
from engine.settling import Look, SettleWatch
from engine.tiled import content_target, style_grams, tiled_losses
from engine.tiles import Tile, plan_tiles

ADAM_LR = 0.02  # per-step change of a pixel in [0, 1]; Adam's step does not depend on the loss's scale
LBFGS_HISTORY = 20  # curvature pairs kept by L-BFGS
NOISE_STD = 0.1  # the noise start: mid-grey plus Gaussian noise of this standard deviation
PRECISION_PROBE_SIZE = 256  # side of the probe image: at 128 px bf16 barely pays on this CPU, at 256-512 px 1.7-3x
DIVERGENCE_STEP_FACTOR = 0.5  # after a NaN or infinite step, the step is cut by this much
MAX_RECOVERIES_IN_A_ROW = 8  # then (the step is 1/256 of what it was) the problem is not the step: give up


@dataclass(frozen=True)
class Backend:
    """What several runs can share: the device, the network on it and the precision it runs in."""

    device: torch.device
    network: VGGFeatures
    precision: Precision
    weights: str  # the settings' weights choice the network was loaded from

    @classmethod
    def create(cls, settings: RenderSettings) -> Backend:
        device = pick_device(settings.device)
        network = load_vgg19(settings.weights, last_layer=deepest(StyleObjective.layers_used())).to(device)
        if settings.precision == "auto":
            precision = measure_precision(device, _probe_workload(network, device))
        else:
            precision = Precision(settings.precision)
        network = network.to(precision.dtype)
        return cls(device=device, network=network, precision=precision, weights=settings.weights)

    def suits(self, settings: RenderSettings) -> bool:
        """Whether this backend can serve a run with `settings` (same device, weights and precision choice)."""
        same_device = settings.device == "auto" or pick_device(settings.device) == self.device
        same_precision = settings.precision in ("auto", self.precision.name)
        return same_device and same_precision and settings.weights == self.weights


def _probe_workload(network: VGGFeatures, device: torch.device) -> Callable[[Precision], Callable[[], None]]:
    """Builds, for a precision, one forward and backward pass of a copy of `network` in that precision."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, PRECISION_PROBE_SIZE, PRECISION_PROBE_SIZE, generator=generator).to(device)
    image.requires_grad_(True)
    layers = StyleObjective.layers_used()

    def workload_for(precision: Precision) -> Callable[[], None]:
        copy = deepcopy(network).to(precision.dtype)

        def workload() -> None:
            image.grad = None
            sum(f.float().pow(2).mean() for f in copy(image, layers).values()).backward()

        return workload

    return workload_for


@dataclass(frozen=True)
class TemporalTarget:
    """What holds a later frame of a clip to the one before it (Ruder et al. 2016; engine.video): the previous
    stylised frame carried onto this one by the optical flow, how far the flow can be trusted at each pixel, and
    how firmly the frame is held (steadiness: the weight of the temporal loss, relative to the style loss)."""

    warped: np.ndarray  # H x W x 3 uint8, the size of the run's result
    reliable: np.ndarray  # H x W float, 0..1 (engine.flow.reliability)
    steadiness: float

    def __post_init__(self) -> None:
        if self.warped.shape[:2] != self.reliable.shape[:2] or self.warped.ndim != 3:
            raise ValueError(f"a warped frame of {self.warped.shape} with a reliability of {self.reliable.shape}")
        if not 0 <= self.steadiness < float("inf"):
            raise ValueError(f"steadiness must be finite and 0 or more, not {self.steadiness}")


@dataclass(frozen=True)
class Frame:
    """One iteration's record. Losses and the image are converted from the device only when asked for, so a
    caller that looks at every tenth frame does not pay for the other nine."""

    index: int  # iterations done so far, 1-based
    total: int  # iterations the run will do
    scale: int  # 1-based: which of the run's `scales` (coarse to fine) this iteration worked at
    scales: int
    elapsed: float  # seconds spent stepping so far
    _losses: dict[str, torch.Tensor] = field(repr=False)
    _pixels: torch.Tensor = field(repr=False)  # 3 x H x W, a snapshot taken at this iteration
    notice: str | None = None  # something the user should hear about this iteration (a divergence undone)
    first: int = 0  # iterations done before this run began (a run continued from a saved picture)
    work_done: float = 0.0  # the work of this run's iterations so far, in pixel-passes (engine.schedule.Schedule)
    work_left: float = 0.0  # the work of the iterations expected still to come (a usual run), in the same units
    fraction: float = 0.0  # how much of the whole run's work is done, 0..1 (a continued run counts what it began with)
    settling: bool = False  # each scale ends when its picture settles (the default count): `total` is the most

    @cached_property
    def losses(self) -> dict[str, float]:
        """content, style, tv (unweighted) and total (weighted) losses at this iteration."""
        return {name: float(value) for name, value in self._losses.items()}

    def image(self) -> np.ndarray:
        """The image at this iteration as H x W x 3 uint8."""
        return to_uint8(self._pixels)

    def finite(self) -> bool:
        """Whether every pixel value of this iteration is a finite number (no NaN or infinity)."""
        return bool(torch.isfinite(self._pixels).all())

    @property
    def iterations_per_second(self) -> float:
        return (self.index - self.first) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float:
        """Estimated from the time the work so far took: an iteration at a finer scale costs more."""
        if self.work_done > 0 and self.elapsed > 0:
            return self.elapsed * self.work_left / self.work_done
        rate = self.iterations_per_second
        return (self.total - self.index) / rate if rate > 0 else float("inf")


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """A 3 x H x W tensor in [0, 1] (any device or dtype) as an H x W x 3 uint8 array."""
    return pixels.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """An H x W x 3 uint8 array as a 1 x 3 x H x W float tensor in [0, 1] on `device`."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))  # a copy: the caller's array may be read-only
    return pixels.permute(2, 0, 1)[None].float().div(255).to(device)


class StyleRun:
    """One render of `content` in the style of `style` (one H x W x 3 uint8 picture, or a sequence of them whose
    Gram targets are blended by `settings.style_weights`). Drive it with `step()` or iterate over it; both may
    be called from a worker thread while another thread calls `set_lam`, `set_weights` or `cancel`.

    With `start` (an H x W x 3 uint8 picture) the run starts from that picture instead of noise or the content;
    with `start_index` too, it continues a run that had done that many iterations: it begins at the scale those
    iterations had reached and does the rest.

    With `settings.match_colours`, each painting's colours are first moved onto the content's (engine.colour;
    `content_alpha`, the content's alpha channel if it had one, keeps a transparent background out of them).

    With `tile`, every scale larger than `tile` px is computed in tiles of at most that size (engine.tiled): the
    same losses and gradient, in less memory and more time.

    With `temporal` (a later frame of a clip, engine.video), the run works at the full size only (usually from
    `start`, the frame before carried over) and adds the temporal loss, so the picture stays where the frame
    before had it wherever the flow is reliable; with the default count it ends when it settles, as usual."""

    def __init__(
        self,
        content: np.ndarray,
        style: np.ndarray | Sequence[np.ndarray],
        settings: RenderSettings | None = None,
        backend: Backend | None = None,
        start: np.ndarray | None = None,
        start_index: int = 0,
        tile: int | None = None,
        content_alpha: np.ndarray | None = None,
        temporal: TemporalTarget | None = None,
    ) -> None:
        self.settings = settings or RenderSettings()
        styles = (style,) if isinstance(style, np.ndarray) else tuple(style)
        if not styles:
            raise ValueError("a run needs at least one style picture")
        if self.settings.match_colours:  # the paintings in the content's colours (where it is opaque)
            styles = tuple(match_colours(style, content, content_alpha) for style in styles)
        mix = self.settings.style_mix(len(styles))  # SettingsError when the weights do not match the styles
        self._regions = self.settings.regions_for(len(styles))  # SettingsError when the masks do not match
        self._pending_regions: tuple[Regions | None] | None = None  # (regions,) asked for from another thread
        self._alpha: torch.Tensor | None = None  # how much of the optimised picture shows at each pixel (regions)
        self._support: torch.Tensor | None = None  # where the optimised picture is free to change (regions)
        self.backend = backend or Backend.create(self.settings)
        # the one model of the run's work (engine.schedule): its scales, their most, what each iteration costs and
        # how many a scale usually runs; the estimate before a run comes from the same
        self.plan = Schedule.of(self.settings, content.shape[1], content.shape[0], tile)
        self._temporal: tuple[torch.Tensor, torch.Tensor] | None = None
        self._steadiness = 0.0
        if temporal is not None:
            self.plan = self.plan.warm_frame(self.settings.optimizer)
            width, height = self.plan.scales[-1].width, self.plan.scales[-1].height
            if temporal.warped.shape[:2] != (height, width):
                raise ValueError(f"a temporal target of {temporal.warped.shape[1]}x{temporal.warped.shape[0]} for "
                                 f"a result of {width}x{height}")
            reliable = torch.from_numpy(np.asarray(temporal.reliable, dtype=np.float32))[None, None]
            self._temporal = (to_tensor(temporal.warped, self.backend.device), reliable.to(self.backend.device))
            self._steadiness = float(temporal.steadiness)
        self.schedule = [(scale.side, scale.iterations) for scale in self.plan.scales]
        self.total = self.plan.most
        self.index = self.first = min(max(0, start_index), self.total)
        self.elapsed = 0.0
        self.recoveries = 0  # divergences undone so far
        self._in_a_row = 0  # divergences since the last good step
        self._step_scale = 1.0
        self._failed = False
        self._tile = tile
        self.tiles: tuple[Tile, ...] = ()  # the tiles of the scale being worked at
        self._cancel = threading.Event()
        self._weights = LossWeights(lam=self.settings.lam, tv=self.settings.tv_weight, style=mix)
        self._pending_weights: LossWeights | None = None
        self._weights_lock = threading.Lock()  # set_weights may come from another thread than step
        self.settled = False  # the run ended when its full size settled (default iteration count only)
        # With the default iteration count, each scale ends as soon as its picture has settled (engine.settling);
        # the schedule's counts are then each scale's most.
        self._stop_when_settled = self.settings.iterations is None
        self._watch = SettleWatch()

        self._content_source = content
        self._style_sources = styles
        self._style_source = styles[0]
        self.scale = 0  # index into schedule of the scale being worked on
        # where each scale ends (iteration counts from the run's start): a scale that settles ends earlier
        self._scale_ends = self.plan.ends()
        self.last_losses: dict[str, torch.Tensor] = {}
        self._good_losses: dict[str, torch.Tensor] = {}
        first_scale = self._scale_of_start(start)
        self._side = self.schedule[first_scale][0]  # the side being prepared or worked at
        try:
            self._enter_scale(first_scale, start)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
        else:
            return
        raise self._out_of_memory()  # outside the except block, so the failed frames' tensors are freed first

    def _scale_of_start(self, start: np.ndarray | None) -> int:
        """The scale a run continued from `start` after `self.index` iterations begins at: the one the picture's
        size says (a scale that settled early ended before its count), else the one the count reaches. The
        scales before it end at the count, so the run does the rest of its own scale and the later ones."""
        by_count = next((k for k, end in enumerate(self._scale_ends) if self.index < end), len(self.schedule) - 1)
        if start is None or self.index == 0:
            return by_count
        longest = max(start.shape[:2])
        scale = next((k for k, (side, _) in enumerate(self.schedule) if side >= longest), by_count)
        ends, end = [], 0
        for k, (_, iterations) in enumerate(self.schedule):
            end = min(self._scale_ends[k], self.index) if k < scale else end + iterations
            ends.append(end)
        self._scale_ends = ends
        self.total = ends[-1]
        return scale

    @property
    def tile(self) -> int | None:
        """The largest tile a scale is computed in (None: every scale in one pass)."""
        return self._tile

    @property
    def final_tiles(self) -> int:
        """How many tiles the full size is computed in (1: in one pass)."""
        width, height = self.size
        return len(plan_tiles(height, width, self._tile))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the finished result (coarser scales come first)."""
        return fit_size(self._content_source.shape[1], self._content_source.shape[0], self.settings.size)

    def _enter_scale(self, scale: int, start: np.ndarray | None = None) -> None:
        """Targets, start image and a fresh optimiser for `scale`: the previous scale's image, upsampled, is the
        start of the next, so most iterations are spent where they are cheap (coarse-to-fine, as in jcjohnson's
        multires recipe and crowsonkb's style-transfer-pytorch), and the style's large shapes form early."""
        side = self._side = self.schedule[scale][0]
        device = self.backend.device
        content = self._content_source
        width, height = fit_size(content.shape[1], content.shape[0], side)
        self.content = to_tensor(resize(content, width, height), device)
        # every style picture is seen at the same scale relative to the result
        style_side = max(MIN_SIZE, round(side * self.settings.style_scale))
        self.styles = tuple(to_tensor(resize(style, *fit_size(style.shape[1], style.shape[0], style_side)), device)
                            for style in self._style_sources)
        self.style = self.styles[0]
        # targets in tiles too: the style picture of a large run is as large as the result
        network, tile = self.backend.network, self._tile
        self.objective = StyleObjective(content_target(network, self.content, tile),
                                        [style_grams(network, style, tile) for style in self.styles],
                                        self._weights.style)
        self.tiles = plan_tiles(height, width, tile)
        if start is not None:
            image = to_tensor(resize(np.asarray(start, dtype=np.uint8), width, height), device)
        elif scale == 0:
            image = self._initial_image()
        else:
            previous = self.image.detach()
            image = F.interpolate(previous, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
        self.image: torch.Tensor = image.requires_grad_(True)
        self._good = self.image.detach().clone()  # what a diverged step goes back to
        self._apply_regions()
        self._step_scale = 1.0  # a step halved after a divergence at the scale before is whole again here
        self.optimizer = self._new_optimizer()
        self.scale = scale
        self._watch.reset(final=scale + 1 == len(self.schedule))  # a coarse scale's drift is not waited for

    def _apply_regions(self) -> None:
        """The regions at the size being worked on. Where no style goes the picture *is* the content: the network
        sees the content there (the optimised pixels only where some style goes), and what is shown and saved is
        the optimised picture over the content through the regions' coverage, its edge softened by a Gaussian
        (engine.regions.feather_sigma), so no seam shows and a grey mask blends the painting with the photo."""
        regions = self._regions
        if regions is None:
            self._alpha = self._support = None
            self.objective.set_regions(None)
            return
        height, width = self.content.shape[2:]
        masks = np.stack([scale_mask(mask, width, height) for mask in regions.stack()])
        with torch.no_grad():
            masks_t = torch.from_numpy(masks).to(self.backend.device).float().div(255)[:, None]
            coverage = masks_t.amax(dim=0, keepdim=True)
            alpha = _gaussian_blur(coverage, feather_sigma(width, height)).clamp(0, 1)
            alpha = torch.where(alpha < 1 / 512, torch.zeros_like(alpha), alpha)
            support = (alpha > 0).float()
        self._alpha, self._support = alpha, support
        self.objective.set_regions(RegionGuides(masks_t, support))

    @property
    def regions(self) -> Regions | None:
        """The regions in use (the latest asked for, in use from the next iteration on); None: everywhere."""
        pending = self._pending_regions
        return pending[0] if pending is not None else self._regions

    def set_regions(self, regions: Regions | None) -> None:
        """New regions (one mask per style picture, or None for every style everywhere), taking effect from the
        next iteration on, like lam. Raises ValueError for masks the run cannot use."""
        try:
            chosen = self.settings.replaced(regions=regions).regions_for(len(self._style_sources))
        except SettingsError as exc:
            raise ValueError(exc.reason) from None
        with self._weights_lock:
            self._pending_regions = (chosen,)

    def _seen(self) -> torch.Tensor:
        """What the network sees: the optimised picture, with the content wherever no style goes."""
        if self._support is None:
            return self.image
        return self._support * self.image + (1 - self._support) * self.content

    def _shown(self) -> torch.Tensor:
        """A copy of the picture as shown and saved: with regions, the optimised picture over the content."""
        image = self.image.detach()
        if self._alpha is None or self._alpha.shape[-2:] != image.shape[-2:]:  # (a scale that failed to start)
            return image.clone()
        return (self._alpha * image + (1 - self._alpha) * self.content).clamp(0, 1)

    @property
    def weights(self) -> LossWeights:
        return self._pending_weights or self._weights

    @property
    def done(self) -> bool:
        return self.index >= self.total or self._cancel.is_set() or self._failed

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop before the next iteration; the image keeps what the last finished iteration made."""
        self._cancel.set()

    def set_lam(self, lam: float) -> None:
        self.set_weights(lam=lam)

    @property
    def style_weights(self) -> tuple[float, ...]:
        """The weight of each style picture, normalised to sum 1 (the latest asked for, in use from the next
        iteration on)."""
        return self.weights.style

    def set_weights(self, lam: float | None = None, tv_weight: float | None = None,
                    style_weights: Sequence[float] | None = None) -> None:
        """New loss weights, taking effect from the next iteration on without a restart. `style_weights` holds
        one non-negative weight per style picture, not all 0; they are normalised to sum 1, and the styles'
        targets are re-blended without another pass through the network. Raises ValueError for bad weights."""
        if style_weights is not None:
            if len(style_weights) != len(self._style_sources):
                raise ValueError(f"{len(style_weights)} style weights for {len(self._style_sources)} style pictures")
            try:
                mix = normalise_style_weights(style_weights)
            except (SettingsError, TypeError, ValueError) as exc:
                raise ValueError(f"style weights {getattr(exc, 'reason', exc)}") from None
        with self._weights_lock:
            current = self.weights
            new = LossWeights(lam=current.lam if lam is None else float(lam),
                              tv=current.tv if tv_weight is None else float(tv_weight),
                              style=current.style if style_weights is None else mix)
            if not (0 <= new.lam < float("inf") and 0 <= new.tv < float("inf")):
                raise ValueError(f"weights must be finite and 0 or more, not lam={new.lam}, tv={new.tv}")
            self._pending_weights = new

    def step(self) -> Frame:
        """One optimisation iteration; returns its Frame. Raises OutOfMemory (memory has been freed, the last
        good image is kept) or DivergenceError (the loss stayed NaN whatever the step); either ends the run."""
        if self._failed:
            raise RuntimeError("this run has failed; start another")
        try:
            return self._step()
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
        raise self._out_of_memory()  # outside the except block, so the failed step's tensors are freed first

    def _step(self) -> Frame:
        if self.index >= self._scale_ends[self.scale] and self.scale + 1 < len(self.schedule):
            self._enter_scale(self.scale + 1)
        with self._weights_lock:
            pending, self._pending_weights = self._pending_weights, None
            regions, self._pending_regions = self._pending_regions, None
        if regions is not None and regions[0] != self._regions:
            self._regions = regions[0]
            self._apply_regions()
            if isinstance(self.optimizer, LBFGS):
                self.optimizer.reset()
            self._watch.reset()  # the picture will move again
        if pending is not None:
            if pending != self._weights:
                if pending.style != self._weights.style:
                    self.objective.mix(pending.style)
                self._weights = pending
                # L-BFGS's curvature history describes the old objective; keeping it would mislead the step.
                if isinstance(self.optimizer, LBFGS):
                    self.optimizer.reset()
                self._watch.reset()  # a new objective: the picture will move again
        before = self.image.detach().clone()
        start = time.perf_counter()
        if isinstance(self.optimizer, LBFGS):
            loss = self.optimizer.step(self._closure)
        else:
            loss = self._closure()
            self.optimizer.step()
            with torch.no_grad():
                self.image.clamp_(0, 1)
        # one sync for both checks, the loss at the image the step started from and the image it made
        loss_finite, image_finite = torch.stack(
            [torch.isfinite(loss.detach()).float(), torch.isfinite(self.image.detach()).all().float()]).tolist()
        notice = None
        if loss_finite:
            self._good = before
            self._good_losses = {k: v.detach() for k, v in self.last_losses.items()}
        if loss_finite and image_finite:
            self._in_a_row = 0
        else:
            what = "the picture became NaN" if loss_finite else f"the loss became {_describe(loss)}"
            notice = self._undo_divergence(what)
        self.elapsed += time.perf_counter() - start
        self.index += 1
        shown = self._shown()
        if notice is None and self._stop_when_settled and self.index < self._scale_ends[self.scale]:
            if self._watch.observe(shown, self._alpha):  # with regions, the painted part is watched
                self._end_scale()
        return Frame(
            index=self.index,
            total=self.total,
            scale=self.scale + 1,
            scales=len(self.schedule),
            work_done=self._work_between(self.first, self.index),
            work_left=(left := self._expected_work_left()),
            fraction=(done := self._work_between(0, self.index)) / max(done + left, 1.0),
            elapsed=self.elapsed,
            _losses=dict(self._good_losses) if notice else {k: v.detach() for k, v in self.last_losses.items()},
            _pixels=shown[0],
            notice=notice,
            first=self.first,
            settling=self._stop_when_settled,
        )

    def _end_scale(self) -> None:
        """The scale being worked at has settled: it ends here, and the later scales move up by what it saved.
        When it is the full size, the run is finished."""
        saved = self._scale_ends[self.scale] - self.index
        self._scale_ends = [end - saved if k >= self.scale else end for k, end in enumerate(self._scale_ends)]
        self.total -= saved
        if self.scale + 1 == len(self.schedule):
            self.settled = True

    @property
    def looks(self) -> tuple[Look, ...]:
        """The stopping rule's looks at the picture of the scale being worked at (or the last), oldest first."""
        return tuple(self._watch.looks)

    @property
    def scale_iterations(self) -> list[int]:
        """The iterations done at each scale so far, coarse to fine (a continued run counts those it began with)."""
        done, begin = [], 0
        for end in self._scale_ends:
            done.append(max(0, min(end, self.index) - begin))
            begin = end
        return done

    def _expected_work_left(self) -> float:
        """The work of the iterations still to come, as a usual run goes on (engine.schedule.Schedule): with the
        stopping rule on, each scale is expected to settle after its usual count, not to run its most."""
        return self.plan.expected_work_left(self._scale_ends, self.index, self._watch.window)

    def _work_between(self, start: int, end: int) -> float:
        """The work of iterations start..end-1, each at its scale's cost (its pixels and tiles)."""
        return self.plan.work_between(self._scale_ends, start, end)

    def _undo_divergence(self, what: str) -> str:
        """Put the last good image back, halve the step and start the optimiser afresh; what to tell the user."""
        self.recoveries += 1
        self._in_a_row += 1
        with torch.no_grad():
            self.image.copy_(self._good)
        self.image.grad = None
        self.last_losses = dict(self._good_losses)
        if self._in_a_row > MAX_RECOVERIES_IN_A_ROW:
            self._failed = True
            raise DivergenceError(
                "loss", f"{what} {self._in_a_row} iterations in a row, even from the last good picture with ever "
                f"smaller steps; lam {self.weights.lam:g} may be too extreme, or precision "
                f"{self.backend.precision.name} too low")
        self._step_scale *= DIVERGENCE_STEP_FACTOR
        self.optimizer = self._new_optimizer()
        times = "once" if self.recoveries == 1 else f"{self.recoveries} times"
        return (f"At iteration {self.index + 1} {what}: went back to the last good picture and halved the step "
                f"(the run went on; this happened {times}).")

    def _out_of_memory(self) -> OutOfMemory:
        """End the run after an allocation failed: keep the last good image, free what can be freed, and say
        what size should fit."""
        self._failed = True
        self.last_losses = {}
        if hasattr(self, "image") and hasattr(self, "_good"):
            self.image.grad = None
            try:  # the failed allocation came before the image was changed, unless it is no longer finite
                keep = bool(torch.isfinite(self.image.detach()).all())
            except RuntimeError:
                keep = False
            if not keep or self.image.shape != self._good.shape:
                self.image = self._good.requires_grad_(True)
            self.optimizer = self._new_optimizer()
        release_memory(self.backend.device)
        style_shape = largest_style_shape([style.shape for style in self._style_sources])
        return out_of_memory(self._content_source.shape, style_shape, self.settings,
                             self.backend.device, self.backend.precision.dtype.itemsize, size=self._side)

    def __iter__(self) -> Iterator[Frame]:
        while not self.done:
            yield self.step()

    def result(self) -> np.ndarray:
        """The current image as H x W x 3 uint8."""
        return to_uint8(self._shown()[0])

    def _closure(self) -> torch.Tensor:
        self.image.grad = None
        seen = self._seen()
        if len(self.tiles) > 1:
            losses = tiled_losses(self.backend.network, self.objective, seen, self._weights, self.tiles)
        else:
            features = self.backend.network(seen, StyleObjective.layers_used())
            losses = self.objective(features, seen, self._weights)
            losses["total"].backward()
        if self._temporal is not None:  # a pixel term: its gradient is added to the network's, tiles or not
            held = temporal_loss(self.image, *self._temporal)
            weighted = self._steadiness * TEMPORAL_SCALE * held
            weighted.backward()
            losses = {**losses, "temporal": held.detach(), "total": losses["total"].detach() + weighted.detach()}
        self.last_losses = losses
        return losses["total"]

    def _initial_image(self) -> torch.Tensor:
        if self.settings.init == "content":
            return self.content.clone()
        generator = torch.Generator().manual_seed(self.settings.seed)
        height, width = self.content.shape[2:]
        noise = torch.randn(1, 3, height, width, generator=generator) * NOISE_STD + 0.5
        return noise.to(self.backend.device)

    def _new_optimizer(self) -> LBFGS | torch.optim.Adam:
        if self.settings.optimizer == "lbfgs":
            return LBFGS(self.image, history=LBFGS_HISTORY, step_scale=self._step_scale)
        return torch.optim.Adam([self.image], lr=ADAM_LR * self._step_scale)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """An N x 1 x H x W tensor blurred by a Gaussian of `sigma` pixels (edges repeated, so a region reaching the
    border stays whole there)."""
    radius = max(1, int(3 * sigma + 0.5))
    offsets = torch.arange(-radius, radius + 1, device=image.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    rows = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


def _describe(value: torch.Tensor) -> str:
    return "NaN" if bool(torch.isnan(value)) else "infinite"
