"""The schedule (engine.schedule): with the default count every scale has room to settle at any size, while
`--iterations N` runs exactly N; and one model of the work serves the Advanced panel's estimate and the run's own
progress and time left, tiles counted."""

from __future__ import annotations

import pytest

from app.memory_probe import run_duration
from engine.images import fit_size
from engine.run import StyleRun
from engine.schedule import ITERATION_COST, SCALE_ROOM, Schedule, describe_seconds, most_iterations, plan_scales
from engine.settings import RenderSettings

# The most iterations a scale was measured to need before it settled (the figures in engine.schedule): (the first
# scale, from noise; a later one).
MEASURED_SETTLING = {"lbfgs": (245, 160), "adam": (305, 170)}


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("size", [2048, 4096])
def test_every_scale_of_a_large_default_run_has_room_to_settle(size, optimizer):
    settings = RenderSettings(size=size, optimizer=optimizer)
    schedule = Schedule.of(settings, size, size * 3 // 4)
    sides = [scale.side for scale in schedule.scales]
    assert sides[0] == 128 and sides[-1] == size and len(sides) == {2048: 5, 4096: 6}[size]
    first, later = MEASURED_SETTLING[optimizer]
    counts = [scale.iterations for scale in schedule.scales]
    assert counts[0] >= max(first, SCALE_ROOM[optimizer][0]), counts
    assert all(count >= max(later, SCALE_ROOM[optimizer][1]) for count in counts[1:]), counts
    assert schedule.settling and schedule.most == sum(counts) == most_iterations(settings)
    # a usual run expects each scale to settle before its most
    assert all(scale.expected < scale.iterations for scale in schedule.scales)


def test_a_512_px_default_run_keeps_its_schedule():
    # the bench of issue 25 was measured on this schedule: the most L-BFGS iterations at each of three scales, where
    # the first, the cheapest, has the most room to become still from noise
    schedule = Schedule.of(RenderSettings(), 512, 340)
    assert [(s.side, s.iterations) for s in schedule.scales] == [(128, 250), (256, 160), (512, 160)]


@pytest.mark.parametrize("iterations", [1, 7, 300, 1001])
@pytest.mark.parametrize("size", [512, 2048, 4096])
def test_an_explicit_count_runs_exactly_that_many(size, iterations):
    settings = RenderSettings(size=size, iterations=iterations)
    schedule = Schedule.of(settings, size, size // 2)
    assert schedule.most == iterations == most_iterations(settings) and not schedule.settling
    assert [(s.side, s.iterations) for s in schedule.scales] == plan_scales(size, iterations)
    assert all(s.expected == s.iterations for s in schedule.scales)  # nothing ends early
    assert schedule.expected_work == schedule.most_work


def test_the_work_counts_every_scale_s_pixels_and_tiles():
    settings = RenderSettings(size=2048)
    untiled = Schedule.of(settings, 2048, 1536)
    tiled = Schedule.of(settings, 2048, 1536, tile=512)
    for plain, cut in zip(untiled.scales, tiled.scales):
        assert (plain.width, plain.height) == fit_size(2048, 1536, plain.side)
        assert plain.tiles == 1 and plain.work == plain.width * plain.height
        if plain.side <= 512:  # the coarse scales run in one pass
            assert cut.tiles == 1 and cut.work == plain.work
        else:  # overlapping crops and the first pass cost more
            assert cut.tiles > 1 and cut.work > 1.2 * plain.work
    assert tiled.most_work > untiled.most_work and tiled.expected_work > untiled.expected_work
    assert untiled.expected_work < untiled.most_work  # a usual run settles before its most


def test_the_estimate_and_the_run_s_own_expectation_agree(cat, wave, backend):
    # a 256 px default run (two scales) whose full size is computed in 64 px tiles
    settings = RenderSettings(size=256, device="cpu", precision="fp32")
    run = StyleRun(cat, wave, settings, backend, tile=64)
    frame = run.step()
    height, width = cat.shape[:2]
    schedule = Schedule.of(settings, width, height, tile=64)
    assert run.plan == schedule and run.total == schedule.most
    assert schedule.scales[-1].tiles > 1
    assert frame.work_done + frame.work_left == pytest.approx(schedule.expected_work)
    assert frame.work_done == pytest.approx(schedule.scales[0].work)
    # the Advanced panel says the same usual time, and the most
    spp = 1e-6
    text = run_duration(cat.shape, settings, spp, 64)
    usual = describe_seconds(schedule.expected_work * spp * ITERATION_COST)
    most = describe_seconds(schedule.most_work * spp * ITERATION_COST).removeprefix("about ")
    assert text.startswith(f"256 px: {usual} here, in tiles of 64 px (up to {most}")
    explicit = run_duration(cat.shape, settings.replaced(iterations=40), spp, None)
    assert "up to" not in explicit

