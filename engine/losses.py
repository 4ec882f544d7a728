"""The losses of Gatys et al. (Gram-matrix style, feature content, total variation), each normalised by its
target so that one lam means the same balance at any image size and for any pair of pictures; several style
pictures are blended as a weighted mix of their Gram matrices; and the temporal loss that holds a clip's later frame
to the one before it (Ruder et al. 2016)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from engine.tiles import Tile

STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"

# lam multiplies the relative content loss by this factor. Calibrated by eye over several content/style pairs
# (photos and paintings not used elsewhere in tuning, at 192-512 px) so that the default lam = 0.05 gives
# content anyone recognises, clearly painted; 0.005 is mostly the painting; 0.5 mostly the photo.
LAM_SCALE = 10.0


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype sums of products are taken in: fp32 for the network's fp32, bf16 or fp16, fp64 for fp64."""
    return torch.promote_types(dtype, torch.float32)


class _OuterSum(torch.autograd.Function):
    """S = sum over positions (and the batch) of g_p f_p f_p^T, in fp32 at least whatever the features' precision
    (g: a guide of H x W weights, or None for 1 everywhere), with a backward of one matrix product in the
    features' own precision: dL/dF = (dS + dS^T) (F * g). Autograd's generic backward needs two fp32 products, a
    transpose and a full-size add; at 512 px this is 4x faster on relu1_1. A Gram matrix is this sum divided by
    the positions (or the guide's sum), and being a sum it can be added up tile by tile (engine.tiled)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, guide: torch.Tensor | None) -> torch.Tensor:  # ctx: autograd's
        ctx.save_for_backward(features, guide)  # the network's own tensor, not an fp32 copy: half the memory in bf16
        f = features.to(_wide(features.dtype)).flatten(2)  # N x C x HW
        weighted = f if guide is None else f * guide.flatten().to(f.dtype)
        return (weighted @ f.transpose(1, 2)).sum(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        features, guide = ctx.saved_tensors
        symmetric = (grad + grad.T).to(features.dtype)
        weighted = features.flatten(2)
        if guide is not None:
            weighted = weighted * guide.flatten().to(features.dtype)
        return (symmetric @ weighted).view_as(features), None


def outer_sum(features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
    """The C x C sum of the outer products of N x C x H x W features over every position, each weighted by
    `guide` (H x W) when given; in fp32 at least."""
    return _OuterSum.apply(features.contiguous(), guide)


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The C x C Gram matrix of N x C x H x W features over the region `guide` (H x W weights, 0-1), in fp32 at
    least: each position's outer product weighted by the guide there, divided by the guide's sum, so it is the *mean*
    over the region and compares with a whole style picture's Gram matrix (Gatys et al. 2017, "Controlling Perceptual
    Factors")."""
    return outer_sum(features, guide) / (guide.sum().to(_wide(features.dtype)) * features.shape[0])


def gram(features: torch.Tensor) -> torch.Tensor:
    """The C x C Gram matrix of N x C x H x W features, averaged over positions (so it does not grow with the
    image's area) and in fp32 at least: low-precision sums of many products lose the style's fine balance."""
    return outer_sum(features) / (features.shape[0] * features[0, 0].numel())


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels of an N x 3 x H x W image in [0, 1]."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    wide = _wide(image.dtype)
    return dx.to(wide).pow(2).mean() + dy.to(wide).pow(2).mean()


# steadiness multiplies the temporal loss by this factor, so that the default steadiness is 1 (calibrated on
# bench/bench_video.py: see DEFAULT_STEADINESS in engine/video_settings.py).
TEMPORAL_SCALE = 100.0


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s temporal loss: mean(c * (x - w)^2) of an N x 3 x H x W image `x` in [0, 1] against the
    previous stylised frame warped onto it, `w`, weighted at each pixel by the flow's reliability `c` (N x 1 x H
    x W, 0..1). Pixels are already on one scale (0..1), so the mean over the picture is all the normalising it
    needs to mean the same at any size; dividing by the warped frame's energy, as the content and style losses
    divide by their targets', would hold a dark clip more firmly than a bright one. An unreliable pixel is free,
    and each reliable pixel is held as firmly whatever the share of the frame that is reliable."""
    wide = _wide(image.dtype)
    difference = image.to(wide) - warped.to(wide)
    return (reliable.to(wide) * difference.pow(2)).mean()


def tensor_sum(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum() of one or more tensors: the builtin starts from the int 0, which only an empty `terms` returns."""
    total = sum(terms)
    if not isinstance(total, torch.Tensor):
        raise ValueError("there are no terms to add up")
    return total


# a style whose region has less guide than this (in pixels of a layer) at some layer is left out there: its Gram
# matrix would be the statistics of a pixel or two
MIN_GUIDE_SUM = 0.5


class RegionGuides:
    """Where each style goes, for one image size: `masks` (S x 1 x H x W, 0-1, one per style) and `support`
    (1 x 1 x H x W, 1 where the picture is free to change, 0 where it is the content). Each network layer's guide
    is the mask area-averaged to that layer's size (computed once per size)."""

    def __init__(self, masks: torch.Tensor, support: torch.Tensor) -> None:
        self.masks = masks.float()
        self.support = support.float()
        self._cache: dict[tuple[str, int, int], torch.Tensor] = {}
        self._sums: dict[tuple[int, int], list[float]] = {}

    def _at(self, which: str, source: torch.Tensor, height: int, width: int) -> torch.Tensor:
        key = (which, height, width)
        if key not in self._cache:
            if source.shape[-2:] == (height, width):
                self._cache[key] = source[:, 0]
            else:
                self._cache[key] = torch.nn.functional.interpolate(source, size=(height, width), mode="area")[:, 0]
        return self._cache[key]

    def style(self, height: int, width: int) -> torch.Tensor:
        """S x h x w: each style's guide at a layer of h x w."""
        return self._at("style", self.masks, height, width)

    def sums(self, height: int, width: int) -> list[float]:
        """Each style's guide summed over a layer of h x w (read from the device once per size, not at every step):
        what its Gram matrix there is divided by."""
        if (height, width) not in self._sums:
            self._sums[(height, width)] = [float(total) for total in self.style(height, width).sum(dim=(1, 2))]
        return self._sums[(height, width)]

    def usable(self, height: int, width: int) -> list[bool]:
        """For each style, whether its region at a layer of h x w is large enough to have statistics."""
        return [total >= MIN_GUIDE_SUM for total in self.sums(height, width)]

    def content(self, height: int, width: int) -> torch.Tensor:
        """h x w: where the content loss counts at a layer of h x w (the free part of the picture)."""
        return self._at("content", self.support, height, width)[0]


@dataclass(frozen=True)
class LossWeights:
    """The weights a run may change while it runs. Style's weight is 1: lam is content's relative to it. `style`
    holds one weight per style picture, normalised to sum 1 (empty: equal weights)."""

    lam: float
    tv: float
    style: tuple[float, ...] = ()


def level_of(layer: str) -> int:
    """How many poolings come before a VGG19 layer ("relu4_2": 3)."""
    return int(layer[4]) - 1


class StyleObjective:
    """Targets computed once from the content and style pictures, and the weighted losses of an image.

    Departure from the paper: each term is a *relative* squared error, divided by its target's mean square.
    Raw Gatys losses scale with image size, layer width and the pictures' contrast, so a weight that works on
    one pair fails on another; relative errors start near 1 from noise for every pair and size.

    Several style pictures (as jcjohnson's style_blend_weights): each layer's target is the weighted sum of the
    styles' Gram matrices, and the style loss is normalised by that mixed target. Every style's Grams are kept,
    so `mix` changes the blend without another pass through the network.

    The losses are a function of sums over the picture's positions (`statistics`: each layer's sum of outer
    products, the content's summed squared error), so a picture too large for one pass can be measured tile by
    tile and the sums added up (engine.tiled): `__call__` is `losses_from(statistics(...))` over one whole tile.
    """

    def __init__(self, content_target: torch.Tensor, style_grams: Sequence[Mapping[str, torch.Tensor]],
                 style_weights: Sequence[float] = ()) -> None:
        """`content_target`: the content picture's CONTENT_LAYER features (1 x C x h x w); `style_grams`: each style
        picture's Gram matrix at every STYLE_LAYERS layer."""
        with torch.no_grad():
            self.content_target = content_target.to(_wide(content_target.dtype)).clone()
            self.content_norm = self.content_target.pow(2).mean().clamp_min(1e-12)
        self.style_grams = [dict(grams) for grams in style_grams]
        if not self.style_grams:
            raise ValueError("at least one style picture is needed")
        with torch.no_grad():  # with regions each style is compared with its own picture's Grams, not the mix's
            self.own_norms = [{name: g.pow(2).mean().clamp_min(1e-12) for name, g in grams.items()}
                              for grams in self.style_grams]
        self.guides: RegionGuides | None = None
        self.mix(style_weights)

    @classmethod
    def from_features(
        cls,
        content_features: Mapping[str, torch.Tensor],
        style_features: Mapping[str, torch.Tensor] | Iterable[Mapping[str, torch.Tensor]],
        style_weights: Sequence[float] = (),
    ) -> StyleObjective:
        """From the pictures' features. `style_features`: one style picture's features, or an iterable of them
        (consumed one by one, so a generator never holds more than one style's feature maps)."""
        every_style = [style_features] if isinstance(style_features, Mapping) else style_features
        with torch.no_grad():
            grams = [{name: gram(f[name]) for name in STYLE_LAYERS} for f in every_style]
        return cls(content_features[CONTENT_LAYER], grams, style_weights)

    def mix(self, style_weights: Sequence[float] = ()) -> None:
        """Blend the styles' Gram targets with `style_weights` (one per style, summing to 1; empty: equal)."""
        count = len(self.style_grams)
        weights = tuple(float(w) for w in style_weights) or (1.0 / count,) * count
        if len(weights) != count:
            raise ValueError(f"{len(weights)} style weights for {count} style pictures")
        with torch.no_grad():
            if count == 1:  # exactly the single-style targets, bit for bit
                targets = dict(self.style_grams[0])
            else:
                targets = {name: tensor_sum(w * g[name] for w, g in zip(weights, self.style_grams, strict=True))
                           for name in STYLE_LAYERS}
            norms = {name: g.pow(2).mean().clamp_min(1e-12) for name, g in targets.items()}
        self.style_targets, self.style_norms = targets, norms
        self.style_weights = weights

    def set_regions(self, guides: RegionGuides | None) -> None:
        """Give each style its own region (None: every style everywhere, blended as `mix` says). With regions,
        each style's loss compares the Gram matrices of its region with its own picture's, so no style's
        statistics leak into another's region; a style's weight scales its loss (equal weights: 1 each)."""
        if guides is not None and guides.masks.shape[0] != len(self.style_grams):
            raise ValueError(f"{guides.masks.shape[0]} region masks for {len(self.style_grams)} style pictures")
        self.guides = guides

    @staticmethod
    def layers_used() -> tuple[str, ...]:
        return (*STYLE_LAYERS, CONTENT_LAYER)

    def __call__(
        self, features: dict[str, torch.Tensor], image: torch.Tensor, weights: LossWeights
    ) -> dict[str, torch.Tensor]:
        """content, style, tv (unweighted) and total (weighted) losses, as 0-d fp32 tensors."""
        height, width = image.shape[-2:]
        stats = self.statistics(features, Tile.whole(height, width))
        return self.losses_from(stats, total_variation(image), weights, height, width)

    def _guided_styles(self, guides: RegionGuides, layer: str, height: int, width: int) -> list[int]:
        """The styles that have a loss at `layer` of a height x width picture: weighted, with a large enough region."""
        level = level_of(layer)
        usable = guides.usable(height >> level, width >> level)
        return [k for k, weight in enumerate(self.style_weights) if weight > 0 and usable[k]]

    def statistics(self, features: Mapping[str, torch.Tensor], tile: Tile) -> dict[str, torch.Tensor]:
        """The sums over `tile`'s interior that the losses are made of, from the features of its crop (one picture):
        each style layer's sum of outer products (with regions, one per style, weighted by its guide) and the
        content's squared error (with regions, weighted by where the picture is free)."""
        guides = self.guides
        stats: dict[str, torch.Tensor] = {}
        for name in STYLE_LAYERS:
            level = level_of(name)
            inside = features[name][(..., *tile.in_crop(level))]
            if guides is None:
                stats[name] = outer_sum(inside)
                continue
            where = guides.style(tile.height >> level, tile.width >> level)[(slice(None), *tile.in_picture(level))]
            for k in self._guided_styles(guides, name, tile.height, tile.width):
                stats[f"{name}/{k}"] = outer_sum(inside, where[k])
        level = level_of(CONTENT_LAYER)
        inside = features[CONTENT_LAYER][(..., *tile.in_crop(level))]
        target = self.content_target[(..., *tile.in_picture(level))]
        squared = (inside.to(target.dtype) - target).pow(2).sum(dim=(0, 1))
        if guides is not None:
            squared = squared * guides.content(tile.height >> level, tile.width >> level)[tile.in_picture(level)]
        stats[CONTENT_LAYER] = squared.sum()
        return stats

    def losses_from(self, stats: Mapping[str, torch.Tensor], tv: torch.Tensor, weights: LossWeights,
                    height: int, width: int) -> dict[str, torch.Tensor]:
        """content, style, tv (unweighted) and total (weighted) losses of a height x width picture from its
        `statistics` summed over the whole picture, and its total variation."""
        guides = self.guides
        level = level_of(CONTENT_LAYER)
        channels = self.content_target.shape[1]
        if guides is None:
            positions: torch.Tensor | int = (height >> level) * (width >> level)
        else:
            positions = guides.content(height >> level, width >> level).sum().clamp_min(1e-6)
        content = stats[CONTENT_LAYER] / (positions * channels * self.content_norm)
        terms = []
        for name in STYLE_LAYERS:
            level = level_of(name)
            if guides is None:
                layer_gram = stats[name] / ((height >> level) * (width >> level))
                terms.append((layer_gram - self.style_targets[name]).pow(2).mean() / self.style_norms[name])
                continue
            sums = guides.sums(height >> level, width >> level)
            count = len(self.style_grams)
            for k in self._guided_styles(guides, name, height, width):
                error = (stats[f"{name}/{k}"] / sums[k] - self.style_grams[k][name]).pow(2).mean()
                terms.append(self.style_weights[k] * count * error / self.own_norms[k][name])
        style = tensor_sum(terms) / len(STYLE_LAYERS) if terms else content.new_zeros(())
        total = weights.lam * LAM_SCALE * content + style + weights.tv * tv
        return {"content": content, "style": style, "tv": tv, "total": total}
