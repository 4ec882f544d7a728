"""StyleRun with the real VGG19 weights on tiny pictures: the optimisation works, repeats, obeys mid-run
changes and cancels at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine.losses import LAM_SCALE, STYLE_LAYERS, gram
from engine.run import StyleRun


def _run(cat, wave, settings, backend) -> tuple[StyleRun, list]:
    run = StyleRun(cat, wave, settings, backend)
    return run, list(run)


def test_losses_fall(cat, wave, small, backend):
    run, frames = _run(cat, wave, small, backend)
    assert len(frames) == small.iteration_count == run.index
    first, last = frames[0].losses["total"], frames[-1].losses["total"]
    assert last < 0.5 * first, (first, last)
    assert frames[-1].image().shape == (run.size[1], run.size[0], 3)
    assert frames[-1].image().dtype == np.uint8


def test_style_only_moves_gram_matrices_towards_the_style(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(lam=0.0, tv_weight=0.0, iterations=30), backend)

    def gram_distance() -> float:
        with torch.no_grad():
            features = backend.network(run.image, STYLE_LAYERS)
        return sum(
            float(((gram(features[n]) - run.objective.style_targets[n]) ** 2).mean() / run.objective.style_norms[n])
            for n in STYLE_LAYERS
        )

    before = gram_distance()
    for _ in run:
        pass
    after = gram_distance()
    assert after < 0.2 * before, (before, after)


def test_content_only_from_noise_reconstructs_the_content(cat, wave, backend):
    from engine.settings import RenderSettings

    settings = RenderSettings(size=64, iterations=60, lam=1e4, tv_weight=0.0, device="cpu", precision="fp32")
    run = StyleRun(cat, wave, settings, backend)
    target = run.content[0].flatten().numpy()
    start = run.image.detach()[0].flatten().numpy().copy()
    frames = list(run)
    result = run.image.detach()[0].clamp(0, 1).flatten().numpy()
    assert frames[-1].losses["content"] < 0.02 * frames[0].losses["content"]
    # relu4_2 keeps the layout, not exact pixels: the cat comes back recognisably (noise correlates ~0)
    assert abs(np.corrcoef(start, target)[0, 1]) < 0.1
    assert np.corrcoef(result, target)[0, 1] > 0.45


def test_same_seed_repeats_and_another_seed_differs(cat, wave, small, backend):
    settings = small.replaced(iterations=5)
    a = _run(cat, wave, settings, backend)[0].result()
    b = _run(cat, wave, settings, backend)[0].result()
    c = _run(cat, wave, settings.replaced(seed=1), backend)[0].result()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_start_from_content(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(init="content", iterations=1), backend)
    assert torch.equal(run.image.detach(), run.content)


def test_lam_change_mid_run_takes_effect_on_the_next_iteration(cat, wave, small, backend):
    settings = small.replaced(lam=0.001, iterations=30)
    steady = StyleRun(cat, wave, settings, backend)
    changed = StyleRun(cat, wave, settings, backend)
    for _ in range(10):
        steady.step()
        changed.step()
    changed.set_lam(100.0)
    assert changed.weights.lam == 100.0
    steady_frames = [steady.step() for _ in range(20)]
    changed_frames = [changed.step() for _ in range(20)]
    # content now dominates the objective: its loss drops well below the unchanged run's
    assert changed_frames[-1].losses["content"] < 0.7 * steady_frames[-1].losses["content"]
    # and the total at the first new iteration is weighed with the new lam
    first = changed_frames[0].losses
    expected = 100.0 * LAM_SCALE * first["content"] + first["style"] + settings.tv_weight * first["tv"]
    assert first["total"] == pytest.approx(expected, rel=1e-4)


def test_adam_optimiser_runs_and_keeps_pixels_in_range(cat, wave, small, backend):
    run, frames = _run(cat, wave, small.replaced(optimizer="adam", iterations=20), backend)
    assert frames[-1].losses["total"] < frames[0].losses["total"]
    assert float(run.image.detach().min()) >= 0.0 and float(run.image.detach().max()) <= 1.0


def test_cancel_stops_before_the_next_iteration(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(iterations=1000), backend)
    run.step()
    run.cancel()
    assert run.done and run.cancelled
    assert list(run) == []
    assert run.index == 1


def test_cancel_from_another_thread_stops_the_iteration(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(iterations=100_000), backend)
    seen: list[int] = []

    def drive() -> None:
        for frame in run:
            seen.append(frame.index)

    worker = threading.Thread(target=drive)
    worker.start()
    while len(seen) < 2:
        worker.join(0.01)
    run.cancel()
    at_cancel = len(seen)
    worker.join(5)
    assert not worker.is_alive()
    assert len(seen) <= at_cancel + 1  # at most the iteration already under way finishes


def test_frames_convert_only_when_asked(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(iterations=3), backend)
    frames = list(run)
    # each frame holds its own snapshot: early frames differ from the final image
    assert not np.array_equal(frames[0].image(), frames[-1].image())
    assert np.array_equal(frames[-1].image(), run.result())
    assert frames[-1].iterations_per_second > 0
    assert set(frames[-1].losses) == {"content", "style", "tv", "total"}


def test_tiny_and_extreme_pictures_render(wave, small, backend):
    tiny = np.full((3, 5, 3), 200, np.uint8)
    strip = np.random.default_rng(0).integers(0, 255, (8, 900, 3), dtype=np.uint8)
    for content in (tiny, strip):
        run = StyleRun(content, wave, small.replaced(iterations=2), backend)
        list(run)
        width, height = run.size
        assert min(width, height) >= 32
        assert run.result().shape == (height, width, 3)


def test_plan_scales_gives_each_scale_an_equal_share():
    from engine.schedule import plan_scales

    plan = plan_scales(512, 300)
    assert plan == [(128, 100), (256, 100), (512, 100)]
    assert plan_scales(512, 301) == [(128, 101), (256, 100), (512, 100)]  # rounding goes to the cheapest
    assert plan_scales(512, 300, multiscale=False) == [(512, 300)]
    assert plan_scales(64, 10) == [(64, 10)]  # too small to go coarser
    assert plan_scales(1024, 3) == [(256, 1), (512, 1), (1024, 1)]  # never more scales than iterations; the finest


def test_coarse_to_fine_frames_grow_to_the_full_size(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(size=256, iterations=6), backend)
    frames = list(run)
    assert [f.scale for f in frames] == [1, 1, 1, 2, 2, 2]
    assert frames[0].image().shape[:2] == (85, 128)
    assert frames[-1].image().shape[:2] == (170, 256) == run.result().shape[:2]
    assert run.size == (256, 170)
    assert frames[-1].losses["total"] < frames[0].losses["total"]
    # work: 3 iterations at 128 x 85 px then 3 at 256 x 170 px, each at its scale's pixels (engine.schedule)
    assert frames[0].work_done == 128 * 85 and frames[0].work_left == 2 * 128 * 85 + 3 * 256 * 170
    assert frames[-1].work_left == 0 and frames[-1].work_done == 3 * 128 * 85 + 3 * 256 * 170


def test_bf16_network_keeps_losses_in_fp32(cat, wave, small):
    from engine.run import Backend

    bf16 = Backend.create(small.replaced(precision="bf16"))
    assert next(bf16.network.parameters()).dtype == torch.bfloat16
    run = StyleRun(cat, wave, small, bf16)
    frames = list(run)
    assert frames[-1].losses["total"] < 0.5 * frames[0].losses["total"]
    assert run.image.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in run.last_losses.values())


def test_time_left_counts_finer_scales_as_dearer():
    from engine.run import Frame

    # 100 of 200 iterations done at 128 px in 10 s; the other 100 are at 256 px: four times the work each.
    frame = Frame(index=100, total=200, scale=1, scales=2, elapsed=10.0, _losses={}, _pixels=torch.zeros(3, 1, 1),
                  work_done=100 * 128.0**2, work_left=100 * 256.0**2)
    assert frame.seconds_left == pytest.approx(40.0)
    plain = Frame(index=100, total=200, scale=1, scales=1, elapsed=10.0, _losses={}, _pixels=torch.zeros(3, 1, 1))
    assert plain.seconds_left == pytest.approx(10.0)
