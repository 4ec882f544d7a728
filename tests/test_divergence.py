"""A loss or picture that becomes NaN or infinite is undone at once: the last good image comes back, the step is
halved, the optimiser starts afresh, the Frame carries a notice and the run goes on; no frame or result is ever
NaN or black. A loss that stays NaN whatever the step ends the run with one clear line and the last good picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import DivergenceError
from engine.lbfgs import FIRST_STEP, LBFGS, MAX_STEP
from engine.run import ADAM_LR, MAX_RECOVERIES_IN_A_ROW, StyleRun


def _poison(run: StyleRun, bad_calls: set[int] | None = None, from_call: int | None = None) -> list[int]:
    """Make the run's objective return NaN losses on the given calls (1-based), or on every call from one on."""
    real = run.objective
    calls: list[int] = []

    def objective(features, image, weights):
        calls.append(1)
        losses = real(features, image, weights)
        n = len(calls)
        if (bad_calls and n in bad_calls) or (from_call is not None and n >= from_call):
            losses = {k: v * float("nan") for k, v in losses.items()}
        return losses

    run.objective = objective
    return calls


def _assert_sound(frames) -> None:
    for frame in frames:
        assert frame.finite(), f"frame {frame.index} has NaN pixels"
        assert all(np.isfinite(v) for v in frame.losses.values()), f"frame {frame.index}: {frame.losses}"
        image = frame.image()
        assert image.mean() > 20 and image.std() > 5, f"frame {frame.index} is black or flat"


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_nan_loss_is_undone_and_the_run_goes_on(cat, wave, small, backend, optimizer):
    run = StyleRun(cat, wave, small.replaced(iterations=14, optimizer=optimizer), backend)
    _poison(run, bad_calls={6})
    frames = list(run)
    assert len(frames) == 14 and run.index == 14 and not run.cancelled
    noticed = [f for f in frames if f.notice]
    assert [f.index for f in noticed] == [6]
    assert "the loss became NaN" in noticed[0].notice and "halved the step" in noticed[0].notice
    assert "\n" not in noticed[0].notice
    assert run.recoveries == 1
    _assert_sound(frames)
    assert frames[-1].losses["total"] < frames[0].losses["total"]
    result = run.result()
    assert result.mean() > 20 and np.array_equal(result, frames[-1].image())
    if optimizer == "lbfgs":
        assert isinstance(run.optimizer, LBFGS)
        assert run.optimizer.first_step == FIRST_STEP / 2 and run.optimizer.max_step == MAX_STEP / 2
    else:
        assert run.optimizer.param_groups[0]["lr"] == ADAM_LR / 2


def test_the_undone_step_goes_back_to_the_last_picture_whose_loss_was_finite(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(iterations=10), backend)
    good = [run.step() for _ in range(4)]
    _poison(run, bad_calls={1})
    undone = run.step()
    # the fifth step evaluated the loss at frame 4's picture, which gave NaN: the run is back at frame 3's
    assert undone.notice is not None
    assert np.array_equal(undone.image(), good[2].image())
    assert undone.losses == good[3].losses  # the last finite losses, not NaN, for the plot


def test_a_nan_picture_is_undone_too(cat, wave, small, backend, monkeypatch):
    run = StyleRun(cat, wave, small.replaced(iterations=8), backend)
    frames = [run.step() for _ in range(3)]
    real_step = LBFGS.step

    def step_to_nan(self, closure):
        loss = real_step(self, closure)
        with torch.no_grad():
            self.param[0, 0, 0, 0] = float("nan")
        return loss

    monkeypatch.setattr(LBFGS, "step", step_to_nan)
    frame = run.step()
    monkeypatch.setattr(LBFGS, "step", real_step)
    assert frame.notice is not None and "the picture became NaN" in frame.notice
    assert np.array_equal(frame.image(), frames[-1].image())  # the loss there was finite: it is kept
    frames += [frame] + list(run)
    _assert_sound(frames)
    assert run.index == 8


def test_a_loss_that_stays_nan_ends_the_run_with_the_last_good_picture(cat, wave, small, backend):
    run = StyleRun(cat, wave, small.replaced(iterations=100), backend)
    frames = [run.step() for _ in range(3)]
    _poison(run, from_call=1)
    notices = []
    with pytest.raises(DivergenceError) as info:
        while True:
            notices.append(run.step().notice)
    assert len(notices) == MAX_RECOVERIES_IN_A_ROW and all(notices)
    message = str(info.value)
    assert message.startswith("loss: the loss became NaN") and "lam 0.05" in message and "\n" not in message
    assert run.done
    assert np.array_equal(run.result(), frames[1].image())  # the last picture whose loss was finite


def test_an_overflowing_loss_never_gives_a_nan_picture(cat, wave, small, backend, monkeypatch):
    """Losses that overflow (the largest lam on a device of too low a precision): every loss is infinite. The run
    stops with a message, not a broken picture. (lam itself stops at LAM_MAX, so the overflow is made here.)"""
    from engine.losses import StyleObjective
    from engine.settings import LAM_MAX

    real = StyleObjective.__call__

    def overflowing(self, features, image, weights):
        return {k: v * 1e38 for k, v in real(self, features, image, weights).items()}

    monkeypatch.setattr(StyleObjective, "__call__", overflowing)
    run = StyleRun(cat, wave, small.replaced(lam=LAM_MAX, iterations=50), backend)
    frames = []
    with pytest.raises(DivergenceError, match="loss became infinite.*lam 1e"):
        for frame in run:
            frames.append(frame)
    result = run.result()
    assert result.std() > 5 and result.mean() > 20
    assert all(f.finite() for f in frames)


def test_command_line_prints_each_notice_once(cat_path, wave_path, tmp_path, backend, monkeypatch, capsys):
    import cli
    from engine.losses import StyleObjective
    from engine.run import Backend

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    real = StyleObjective.__call__
    calls = []

    def call(self, features, image, weights):
        calls.append(1)
        losses = real(self, features, image, weights)
        return {k: v * float("nan") for k, v in losses.items()} if len(calls) == 3 else losses

    monkeypatch.setattr(StyleObjective, "__call__", call)
    out = tmp_path / "o.png"
    assert cli.main(["render", str(cat_path), str(wave_path), "-o", str(out), "--size", "64", "--iterations", "6",
                     "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "the loss became NaN" in notes[0], err
    from engine.images import load_image

    assert load_image(out).mean() > 20
