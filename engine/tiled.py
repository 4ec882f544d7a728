"""The losses, their gradient and the targets of a picture too large for one pass through the network, computed
exactly, tile by tile (the tiles of engine.tiles).

Every loss is a function of sums over the picture's positions (StyleObjective.statistics). Pass one adds those
sums up over the tiles without keeping any activations; the losses, and their gradient with respect to the sums,
follow. Pass two goes through each tile again with gradients and back-propagates into the tile's crop the gradient
that the whole picture's loss gives the features of the tile's interior. Each feature belongs to exactly one
tile's interior and there it is exactly the whole picture's, so the tiles' gradients add up to the untiled one:
L-BFGS, the stopping rule and the divergence checks see the same numbers as untiled (to float rounding).

Unlike crowsonkb's style_transfer, which compares each tile with the style target on its own (an approximate
objective), nothing here changes the objective: tiling only changes where the work is done."""

from __future__ import annotations

import torch

from engine.losses import (
    CONTENT_LAYER,
    STYLE_LAYERS,
    LossWeights,
    StyleObjective,
    level_of,
    outer_sum,
    tensor_sum,
    total_variation,
)
from engine.network import VGGFeatures
from engine.tiles import Tile, plan_tiles


def _crop(picture: torch.Tensor, tile: Tile, gradient: bool = False) -> torch.Tensor:
    crop = picture[(..., *tile.crop)]
    return crop.detach().requires_grad_(True) if gradient else crop


def tiled_losses(network: VGGFeatures, objective: StyleObjective, seen: torch.Tensor, weights: LossWeights,
                 tiles: tuple[Tile, ...]) -> dict[str, torch.Tensor]:
    """The losses of `seen` (1 x 3 x H x W, computed from the tensors being optimised), whose gradient is
    accumulated into those tensors' .grad, as `objective(network(seen), seen, weights)["total"].backward()` would
    do untiled. The returned losses are detached."""
    layers = objective.layers_used()
    height, width = seen.shape[-2:]
    picture = seen.detach()
    totals: dict[str, torch.Tensor] = {}
    last = tiles[-1]
    kept: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None
    for tile in tiles:
        # the last tile keeps its graph: pass two starts with it instead of computing it again
        with torch.set_grad_enabled(tile is last):
            crop = _crop(picture, tile, gradient=tile is last)
            stats = objective.statistics(network(crop, layers), tile)
        for key, value in stats.items():
            totals[key] = totals[key] + value.detach() if key in totals else value.detach().clone()
        if tile is last:
            kept = (crop, stats)
        del stats
    assert kept is not None
    sums = {key: value.requires_grad_(True) for key, value in totals.items()}
    losses = objective.losses_from(sums, total_variation(seen), weights, height, width)
    upstream = dict(zip(sums, torch.autograd.grad(losses["total"], list(sums.values()), retain_graph=True,
                                                  allow_unused=True), strict=True))
    gradient = torch.zeros_like(picture)
    for tile in reversed(tiles):
        if tile is last and kept is not None:
            crop, stats = kept
            kept = None
        else:
            crop = _crop(picture, tile, gradient=True)
            stats = objective.statistics(network(crop, layers), tile)
        # a scalar whose gradient with respect to the tile's features is the whole loss's
        linear = [(upstream[key] * value).sum() for key, value in stats.items() if upstream[key] is not None]
        if linear:
            (crop_gradient,) = torch.autograd.grad(tensor_sum(linear), crop)
            gradient[(..., *tile.crop)] += crop_gradient
        del stats, linear
    torch.autograd.backward([losses["total"], seen], [None, gradient])
    return {name: value.detach() for name, value in losses.items()}


def content_target(network: VGGFeatures, picture: torch.Tensor, tile: int | None) -> torch.Tensor:
    """The CONTENT_LAYER features of a 1 x 3 x H x W picture, assembled from tiles of at most `tile` px (None:
    in one pass)."""
    height, width = picture.shape[-2:]
    level = level_of(CONTENT_LAYER)
    target: torch.Tensor | None = None
    with torch.no_grad():
        for part in plan_tiles(height, width, tile):
            inside = network(picture[(..., *part.crop)], [CONTENT_LAYER])[CONTENT_LAYER][(..., *part.in_crop(level))]
            if part.is_whole:
                return inside
            if target is None:
                target = inside.new_empty((*inside.shape[:2], height >> level, width >> level))
            target[(..., *part.in_picture(level))] = inside
    assert target is not None
    return target


def style_grams(network: VGGFeatures, picture: torch.Tensor, tile: int | None) -> dict[str, torch.Tensor]:
    """The Gram matrix of a 1 x 3 x H x W picture at every STYLE_LAYERS layer, its sums added up over tiles of at
    most `tile` px (None: in one pass)."""
    height, width = picture.shape[-2:]
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for part in plan_tiles(height, width, tile):
            features = network(picture[(..., *part.crop)], STYLE_LAYERS)
            for name in STYLE_LAYERS:
                value = outer_sum(features[name][(..., *part.in_crop(level_of(name)))])
                sums[name] = sums[name] + value if name in sums else value
            del features
    return {name: value / ((height >> level_of(name)) * (width >> level_of(name))) for name, value in sums.items()}
