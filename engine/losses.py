"""The losses of Gatys et al. (Gram-matrix style, feature content, total variation), each normalised by its
target so that one lam means the same balance at any image size and for any pair of pictures; several style
pictures are blended as a weighted mix of their Gram matrices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"

# lam multiplies the relative content loss by this factor. Calibrated by eye over several content/style pairs
# (photos and paintings not used elsewhere in tuning, at 192-512 px) so that the default lam = 0.05 gives
# content anyone recognises, clearly painted; 0.005 is mostly the painting; 0.5 mostly the photo.
LAM_SCALE = 10.0


class _Gram(torch.autograd.Function):
    """G = F F^T / HW (mean over the batch), in fp32 whatever the features' precision, with a backward of one
    matrix product in the features' own precision: dL/dF = (dG + dG^T) F / HW. Autograd's generic backward
    needs two fp32 products, a transpose and a full-size add; at 512 px this is 4x faster on relu1_1."""

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:  # ctx: autograd's context
        ctx.save_for_backward(features)  # the network's own tensor, not an fp32 copy: half the memory in bf16
        f = features.float().flatten(2)  # N x C x HW
        return (f @ f.transpose(1, 2)).mean(0) / f.shape[2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        positions = features[0, 0].numel()
        symmetric = ((grad + grad.T) / (features.shape[0] * positions)).to(features.dtype)
        return (symmetric @ features.flatten(2)).view_as(features)


class _GuidedGram(torch.autograd.Function):
    """The Gram matrix over a region (Gatys et al. 2017, "Controlling Perceptual Factors"): each position's
    outer product weighted by the region's guide there, divided by the guide's sum, so it is the *mean* over the
    region and compares with a whole style picture's Gram matrix. Backward as _Gram's, with the guide:
    dL/dF = (dG + dG^T) (F * g) / sum(g)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:  # guide: H x W, fp32
        ctx.save_for_backward(features, guide)
        f = features.to(torch.promote_types(features.dtype, torch.float32)).flatten(2)  # N x C x HW, fp32 at least
        weight = guide.sum() * features.shape[0]
        return ((f * guide.flatten().to(f.dtype)) @ f.transpose(1, 2)).sum(0) / weight

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        features, guide = ctx.saved_tensors
        weight = guide.sum() * features.shape[0]
        symmetric = ((grad + grad.T) / weight.to(grad.dtype)).to(features.dtype)
        weighted = features.flatten(2) * guide.flatten().to(features.dtype)
        return (symmetric @ weighted).view_as(features), None


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The C x C Gram matrix of N x C x H x W features over the region `guide` (H x W weights, 0-1), in fp32."""
    return _GuidedGram.apply(features, guide)


def gram(features: torch.Tensor) -> torch.Tensor:
    """The C x C Gram matrix of N x C x H x W features, averaged over positions (so it does not grow with the
    image's area) and always in fp32: low-precision sums of many products lose the style's fine balance."""
    return _Gram.apply(features)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels of an N x 3 x H x W image in [0, 1]."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()


def _tensor_sum(terms: Iterable[torch.Tensor]) -> torch.Tensor:
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
        self._usable: dict[tuple[int, int], list[bool]] = {}

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

    def usable(self, height: int, width: int) -> list[bool]:
        """For each style, whether its region at a layer of h x w is large enough to have statistics (read from
        the device once per size, not at every step)."""
        if (height, width) not in self._usable:
            sums = self.style(height, width).sum(dim=(1, 2)).tolist()
            self._usable[(height, width)] = [total >= MIN_GUIDE_SUM for total in sums]
        return self._usable[(height, width)]

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


class StyleObjective:
    """Targets computed once from the content and style features, and the weighted losses of an image.

    Departure from the paper: each term is a *relative* squared error, divided by its target's mean square.
    Raw Gatys losses scale with image size, layer width and the pictures' contrast, so a weight that works on
    one pair fails on another; relative errors start near 1 from noise for every pair and size.

    Several style pictures (as jcjohnson's style_blend_weights): each layer's target is the weighted sum of the
    styles' Gram matrices, and the style loss is normalised by that mixed target. Every style's Grams are kept,
    so `mix` changes the blend without another pass through the network.
    """

    def __init__(
        self,
        content_features: Mapping[str, torch.Tensor],
        style_features: Mapping[str, torch.Tensor] | Iterable[Mapping[str, torch.Tensor]],
        style_weights: Sequence[float] = (),
    ) -> None:
        """`style_features`: one style picture's features, or an iterable of them (consumed one by one, so a
        generator never holds more than one style's feature maps)."""
        every_style = [style_features] if isinstance(style_features, Mapping) else style_features
        with torch.no_grad():
            self.content_target = content_features[CONTENT_LAYER].float().clone()
            self.content_norm = self.content_target.pow(2).mean().clamp_min(1e-12)
            self.style_grams = [{name: gram(f[name]) for name in STYLE_LAYERS} for f in every_style]
        if not self.style_grams:
            raise ValueError("at least one style picture is needed")
        with torch.no_grad():  # with regions each style is compared with its own picture's Grams, not the mix's
            self.own_norms = [{name: g.pow(2).mean().clamp_min(1e-12) for name, g in grams.items()}
                              for grams in self.style_grams]
        self.guides: RegionGuides | None = None
        self.mix(style_weights)

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
                targets = {name: _tensor_sum(w * g[name] for w, g in zip(weights, self.style_grams, strict=True))
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
        if self.guides is None:
            content = (features[CONTENT_LAYER].float() - self.content_target).pow(2).mean() / self.content_norm
            style = _tensor_sum(
                (gram(features[name]) - self.style_targets[name]).pow(2).mean() / self.style_norms[name]
                for name in STYLE_LAYERS
            ) / len(STYLE_LAYERS)
        else:
            content, style = self._guided_losses(features, self.guides)
        tv = total_variation(image)
        total = weights.lam * LAM_SCALE * content + style + weights.tv * tv
        return {"content": content, "style": style, "tv": tv, "total": total}

    def _guided_losses(self, features: dict[str, torch.Tensor],
                       guides: RegionGuides) -> tuple[torch.Tensor, torch.Tensor]:
        """The content loss over the free part of the picture only (so lam means what it means without regions,
        however small the region), and each style's loss over its own region."""
        feature = features[CONTENT_LAYER]
        where = guides.content(*feature.shape[-2:])
        squared = (feature.float() - self.content_target).pow(2).mean(dim=(0, 1))
        content = (squared * where).sum() / (where.sum().clamp_min(1e-6) * self.content_norm)
        count = len(self.style_grams)
        terms = []
        for name in STYLE_LAYERS:
            size = features[name].shape[-2:]
            guide, usable = guides.style(*size), guides.usable(*size)
            for k, (grams, norms) in enumerate(zip(self.style_grams, self.own_norms, strict=True)):
                weight = self.style_weights[k] * count
                if weight <= 0 or not usable[k]:
                    continue
                error = (guided_gram(features[name], guide[k]) - grams[name]).pow(2).mean() / norms[name]
                terms.append(weight * error)
        style = _tensor_sum(terms) / len(STYLE_LAYERS) if terms else content.new_zeros(())
        return content, style
