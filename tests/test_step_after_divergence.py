"""A step halved after a divergence stays halved for the rest of that scale, and is whole again at the next: a NaN
at the coarse scale must not slow every finer scale (nor keep them from settling in their usual count)."""

from __future__ import annotations

import pytest

from engine.lbfgs import FIRST_STEP, LBFGS, MAX_STEP
from engine.run import ADAM_LR, StyleRun


def _step_of(run: StyleRun) -> float:
    """How large a step the run's optimiser takes, relative to its usual one."""
    optimizer = run.optimizer
    if isinstance(optimizer, LBFGS):
        assert optimizer.first_step / FIRST_STEP == pytest.approx(optimizer.max_step / MAX_STEP)
        return optimizer.first_step / FIRST_STEP
    return optimizer.param_groups[0]["lr"] / ADAM_LR


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_halved_step_is_whole_again_at_the_next_scale(cat, wave, small, backend, optimizer):
    run = StyleRun(cat, wave, small.replaced(size=256, iterations=4, optimizer=optimizer), backend)
    real = run.objective  # the coarse scale's objective: its first evaluation is NaN
    calls: list[int] = []

    def poisoned(features, image, weights):
        losses = real(features, image, weights)
        calls.append(1)
        if len(calls) == 1:
            losses = {k: v * float("nan") for k, v in losses.items()}
        return losses

    run.objective = poisoned
    steps = []
    for frame in run:
        steps.append((frame.scale, _step_of(run), frame.notice is not None))
    assert steps[0] == (1, 0.5, True)  # undone, the step halved
    assert steps[1] == (1, 0.5, False)  # and kept halved at that scale
    assert [(scale, step) for scale, step, _ in steps[2:]] == [(2, 1.0), (2, 1.0)]  # whole at the next
    assert run.recoveries == 1
