"""Exact tiling (engine/tiles.py, engine/tiled.py and the tiled path of engine/run.py), on the real network: the
border covers the network's measured reach, the tiles cover the picture once on the pooling grid, the tiled
targets, losses and gradient equal the untiled ones in float64 (two styles, regions and all), and tiled and untiled
runs from the same seed make the same picture."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import pytest
import torch

from engine.images import fit_size
from engine.losses import LossWeights, RegionGuides, StyleObjective
from engine.regions import Regions
from engine.run import StyleRun
from engine.schedule import describe_seconds, plan_scales, run_work
from engine.settings import RenderSettings
from engine.tiled import content_target, style_grams, tiled_losses
from engine.tiles import MIN_TILE, RECEPTIVE_REACH, TILE_ALIGN, TILE_BORDER, Tile, plan_tiles, work_factor


@pytest.fixture(scope="module")
def network64(backend):
    """The real network in float64, where rounding cannot hide a wrong gradient."""
    return deepcopy(backend.network).double()


def test_the_border_covers_what_a_relu5_1_feature_depends_on(backend) -> None:
    image = torch.rand(1, 3, 256, 256, requires_grad=True)
    features = backend.network.float()(image, ["relu5_1"])["relu5_1"]
    features[0, :, 8, 8].sum().backward()  # the cell over pixels 128..143
    touched = torch.nonzero(image.grad[0].abs().sum(dim=(0, 1))).flatten()
    assert (128 - int(touched.min()), int(touched.max()) - 143) == (RECEPTIVE_REACH, RECEPTIVE_REACH)
    assert TILE_BORDER >= RECEPTIVE_REACH and TILE_BORDER % TILE_ALIGN == 0


@pytest.mark.parametrize(("height", "width", "tile"), [(203, 250, 64), (2048, 1536, 512), (100, 1000, 300),
                                                       (37, 41, 64), (4096, 4096, 1000)])
def test_the_tiles_cover_the_picture_once_on_the_pooling_grid(height: int, width: int, tile: int) -> None:
    tiles = plan_tiles(height, width, tile)
    covered = np.zeros((height, width), np.int32)
    for t in tiles:
        covered[t.top:t.bottom, t.left:t.right] += 1
        assert t.bottom - t.top <= max(tile, MIN_TILE) and t.right - t.left <= max(tile, MIN_TILE)
        assert t.crop_top % TILE_ALIGN == 0 and t.crop_left % TILE_ALIGN == 0
        assert t.top % TILE_ALIGN == 0 and t.left % TILE_ALIGN == 0
        assert t.crop_top == max(0, t.top - TILE_BORDER) and t.crop_bottom == min(height, t.bottom + TILE_BORDER)
        assert t.crop_left == max(0, t.left - TILE_BORDER) and t.crop_right == min(width, t.right + TILE_BORDER)
    assert (covered == 1).all()
    assert (len(tiles) == 1) == (height <= tile and width <= tile)


def test_no_tile_means_one_whole_tile_and_tiles_cost_more_work() -> None:
    assert plan_tiles(300, 200, None) == (Tile.whole(300, 200),)
    assert work_factor(300, 200, None) == 1.0
    assert 1.0 < work_factor(1024, 1024, 512) < work_factor(1024, 1024, 256)


def _objective(network, content: torch.Tensor, styles: list[torch.Tensor], tile: int | None) -> StyleObjective:
    return StyleObjective(content_target(network, content, tile), [style_grams(network, s, tile) for s in styles],
                          (0.3, 0.7))


@pytest.mark.parametrize("regions", [False, True])
def test_tiled_loss_and_gradient_equal_the_untiled_ones_in_float64(network64, regions: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    height, width = 139, 171  # not multiples of 16: the last tiles end off the grid, as pictures do
    content = torch.rand(1, 3, height, width, dtype=torch.float64, generator=generator)
    styles = [torch.rand(1, 3, 96, 128, dtype=torch.float64, generator=generator) for _ in range(2)]
    untiled, tiled = _objective(network64, content, styles, None), _objective(network64, content, styles, 64)
    assert torch.allclose(tiled.content_target, untiled.content_target, rtol=1e-9, atol=1e-9)
    if regions:
        masks = torch.zeros(2, 1, height, width, dtype=torch.float64)
        masks[0, :, :, :90] = 1.0
        masks[1, :, 60:, 80:] = 0.6
        support = (masks.amax(dim=0, keepdim=True) > 0).double()
        for objective in (untiled, tiled):
            objective.set_regions(RegionGuides(masks, support))
    image = torch.rand(1, 3, height, width, dtype=torch.float64, generator=generator).requires_grad_(True)
    weights = LossWeights(lam=0.05, tv=1e-3, style=(0.3, 0.7))
    expected = untiled(network64(image, untiled.layers_used()), image, weights)
    expected["total"].backward()
    expected_gradient, image.grad = image.grad.clone(), None
    tiles = plan_tiles(height, width, 64)
    assert len(tiles) == 9
    losses = tiled_losses(network64, tiled, image, weights, tiles)
    for name, value in expected.items():
        assert abs(float(losses[name]) - float(value.detach())) <= 1e-6 * abs(float(value.detach())), name
    error = (image.grad - expected_gradient).norm() / expected_gradient.norm()
    assert float(error) < 1e-6


def _run(content: np.ndarray, style: np.ndarray, backend, tile: int | None, **changes) -> StyleRun:
    settings = RenderSettings(size=176, iterations=4, device="cpu", precision="fp32", multiscale=False,
                              seed=3).replaced(**changes)
    run = StyleRun(content, style, settings, backend, tile=tile)
    for _ in run:
        pass
    return run


def test_tiled_and_untiled_runs_make_the_same_picture(cat, wave, backend) -> None:
    untiled, tiled = _run(cat, wave, backend, None), _run(cat, wave, backend, 64)
    assert len(untiled.tiles) == 1 and len(tiled.tiles) == 6
    difference = np.abs(untiled.result().astype(int) - tiled.result().astype(int))
    assert difference.max() <= 1  # float rounding may move a pixel by one level, no more
    losses = untiled.last_losses["total"].detach(), tiled.last_losses["total"].detach()
    assert abs(float(losses[0]) - float(losses[1])) <= 1e-4 * float(losses[0])


def test_regions_and_keep_colours_work_in_tiles(cat, wave, backend) -> None:
    height, width = cat.shape[:2]
    right = np.zeros((height, width), np.uint8)
    right[:, width // 2:] = 255
    changes = {"regions": Regions.from_stack([right]), "keep_colours": True}
    untiled, tiled = _run(cat, wave, backend, None, **changes), _run(cat, wave, backend, 64, **changes)
    assert np.abs(untiled.result().astype(int) - tiled.result().astype(int)).max() <= 1


def test_coarse_scales_run_untiled(cat, wave, backend) -> None:
    settings = RenderSettings(size=320, iterations=4, device="cpu", precision="fp32", seed=1)
    run = StyleRun(cat, wave, settings, backend, tile=200)
    counts = []
    for _ in run:
        counts.append(len(run.tiles))
    assert run.schedule[0][0] <= 200 < run.schedule[-1][0]
    assert counts[0] == 1 and counts[-1] > 1


def test_the_work_of_a_run_counts_every_scale_and_the_tiles_extra_pass() -> None:
    settings = RenderSettings(size=2048, iterations=30)
    untiled = run_work(2048, 1536, settings)
    assert untiled == sum(n * w * h for (side, n) in plan_scales(2048, 30)
                          for w, h in [fit_size(2048, 1536, side)])
    tiled = run_work(2048, 1536, settings, tile=512)
    assert 1.2 * untiled < tiled < 2.0 * untiled  # only the 1024 and 2048 px scales are tiled
    assert describe_seconds(12.4) == "about 12 s" and describe_seconds(600) == "about 10 min"
    assert describe_seconds(3 * 3600 + 20 * 60) == "about 3 h 20 min"


@pytest.mark.parametrize("compact", [False, True])
def test_lbfgs_with_its_history_in_fp16_converges_as_in_fp32(monkeypatch, compact: bool) -> None:
    """A large picture's curvature pairs are kept in fp16 (half the memory of its L-BFGS history)."""
    import engine.lbfgs

    monkeypatch.setattr(engine.lbfgs, "COMPACT_ABOVE", 0 if compact else 10**12)
    generator = torch.Generator().manual_seed(0)
    curvature = torch.rand(3000, generator=generator) * 99 + 1  # an ill-conditioned quadratic
    x = torch.rand(3000, generator=generator).requires_grad_(True)
    optimizer = engine.lbfgs.LBFGS(x)
    assert optimizer.compact == compact

    def loss() -> torch.Tensor:
        x.grad = None
        value = 0.5 * (curvature * x * x).sum()
        value.backward()
        return value

    start = float(loss().detach())
    for _ in range(60):
        optimizer.step(loss)
    assert float(loss().detach()) < 1e-6 * start


def test_lbfgs_moves_a_picture_s_smooth_errors_faster_with_its_low_frequency_boost() -> None:
    """A picture's slow modes are its smooth ones (issue 25); L-BFGS's initial Hessian M = I + Gaussian blurs
    (engine.lbfgs.LowFrequencyBoost, symmetric positive definite) brings them down with the sharp ones. On a
    quadratic whose curvature grows with the frequency (a tiny weight on the error, its gradient's squares on
    top), the same steps from the same start end far lower."""
    import engine.lbfgs

    boost = engine.lbfgs.LowFrequencyBoost((1, 3, 40, 56))
    a, b = torch.randn(2, 3 * 40 * 56, generator=torch.Generator().manual_seed(1))
    assert abs(float(torch.dot(boost(a), b) - torch.dot(a, boost(b)))) < 1e-3 * float(a.norm() * b.norm())
    assert float(torch.dot(a, boost(a))) >= float(torch.dot(a, a))  # I plus positive semi-definite blurs
    ends = {}
    for smooth in (False, True):
        target = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        x = torch.full((1, 3, 64, 64), 0.5).requires_grad_(True)
        optimizer = engine.lbfgs.LBFGS(x, smooth=smooth)

        def loss(x: torch.Tensor = x, target: torch.Tensor = target) -> torch.Tensor:
            x.grad = None
            error = x - target
            value = 0.5 * (1e-3 * (error**2).sum() + ((error[..., 1:, :] - error[..., :-1, :]) ** 2).sum()
                           + ((error[..., :, 1:] - error[..., :, :-1]) ** 2).sum())
            value.backward()
            return value

        start = float(loss().detach())
        for _ in range(50):
            optimizer.step(loss)
        ends[smooth] = float(loss().detach()) / start
    assert ends[True] < 0.3 * ends[False], ends
