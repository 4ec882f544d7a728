"""Refine more and the run's progress as the window shows them: Refine more is offered only for a picture a run
ended with, goes on from that picture with that run's own pictures and settings (not the panes'), and leaves the
settings in use alone; the progress bar follows the share of the run's work done, and a run whose scales end when
their pictures settle does not claim to run all its iterations."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.loaded_image import LoadedImage
from engine.driver import Progress
from engine.settings import RenderSettings

RUN_TIMEOUT_MS = 60_000
REFINE = 3  # iterations one Refine more adds here


@pytest.fixture(autouse=True)
def _few_refine_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.session.REFINE_ITERATIONS", REFINE)


def _refine_offered(window) -> bool:
    offered = window.run_panel.refine_button.isEnabled()
    assert window.run_panel.refine_action.isEnabled() == offered == window.session.can_refine
    return offered


def _run(window, qtbot) -> None:
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.run_panel.start_button, Qt.MouseButton.LeftButton)
        assert window.session.state == "running" and not _refine_offered(window)


def test_refine_more_goes_on_from_the_finished_picture(loaded_window, qtbot, wave):
    window, session = loaded_window, loaded_window.session
    assert not _refine_offered(window)  # before any run
    offers: list[bool] = []
    session.canRefineChanged.connect(offers.append)
    session.set_lam(0.2)
    _run(window, qtbot)
    assert _refine_offered(window) and offers == [True]
    assert "Refine more" in window.stats.text()
    finished, made = session.result.copy(), session.raw_result
    run_job = session.job

    # the panes and settings change after the run: refining still goes on with the run's own
    session.set_content(LoadedImage(wave, "other.png"))
    session.set_lam(0.5)
    in_use = session.settings
    with qtbot.waitSignal(session.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.run_panel.refine_button, Qt.MouseButton.LeftButton)
        assert session.state == "running" and not _refine_offered(window)
        job = session.job
        assert job.refine == REFINE and job.start_image is made and job.start_index == 0
        assert job.content is run_job.content and job.content_name == "cat.png"
        assert job.styles == run_job.styles and job.settings.lam == 0.2
        assert job.run_settings.iterations == REFINE and not job.run_settings.multiscale
    assert session.settings == in_use and window.lam_control.lam == 0.5  # the settings in use are left alone
    assert offers == [True, False, True] and _refine_offered(window)  # and it can be refined again

    refined = session.result
    assert refined.shape == finished.shape  # the full size
    change = np.abs(refined.astype(float) - finished.astype(float)).mean()
    assert 0 < change < 20, change  # the same picture, a little further on
    assert session.last_progress.index == session.last_progress.total == REFINE
    assert window.stats.text().startswith(f"Done: {REFINE} more iterations")
    assert window.progress_bar.value() == window.progress_bar.maximum()
    assert session.result_settings().lam == 0.2  # what its PNG says made it: the picture's own settings
    assert session.result_settings().iterations == run_job.settings.iterations == 4


def test_refine_more_is_not_offered_for_a_restored_picture_or_after_a_failure(loaded_window, qtbot, monkeypatch,
                                                                             recovery, cat, wave):
    window, session = loaded_window, loaded_window.session
    _run(window, qtbot)
    assert _refine_offered(window)

    # a restored unfinished picture is not a picture a run ended with
    settings = RenderSettings(size=64, iterations=12, device="cpu")
    copy = recovery.begin(cat, wave, "cat.png", "wave.png")
    assert copy.save(session.raw_result, settings, 5, 12, force=True)
    assert session.restore(recovery.latest())
    assert not _refine_offered(window) and not session.refine()

    # nor is what a failed run left
    from engine.run import StyleRun

    def failing_step(self):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(StyleRun, "step", failing_step)
    _run(window, qtbot)
    assert window.messages.kind == "error" and not _refine_offered(window)


def _progress(settling: bool, index: int = 140, total: int = 300, fraction: float = 0.5) -> Progress:
    return Progress(index=index, total=total, elapsed=45.0, iterations_per_second=3.1, seconds_left=40.0,
                    losses={"total": 2.0, "content": 1.0, "style": 1.0}, lam=0.05, scale=2, scales=3,
                    fraction=fraction, settling=settling)


def test_the_progress_bar_follows_the_share_of_work_done(window):
    bar, stats, plot = window.progress_bar, window.stats, window.loss_plot
    window.session.progressChanged.emit(_progress(settling=True))
    assert bar.value() == bar.maximum() // 2
    assert stats.text() == "Iteration 140 · scale 2 of 3 · 3.10 it/s · 0:40 left · lam 0.05"
    assert plot.total == 300

    # a scale ended early: the total shrank, and the plot spreads its points over the new one
    window.session.progressChanged.emit(_progress(settling=True, index=150, total=200, fraction=0.8))
    assert bar.value() == round(bar.maximum() * 0.8) and plot.total == 200

    window.session.progressChanged.emit(_progress(settling=False, fraction=0.25))  # an explicit count: exact
    assert bar.value() == bar.maximum() // 4
    assert stats.text().startswith("Iteration 140 of 300 · scale 2 of 3 ·")


def test_a_run_that_ends_when_settled_says_so(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=0)  # the automatic count
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    started: list[str] = []
    window.session.runStarted.connect(lambda *_: started.append(window.stats.text()))
    _run(window, qtbot)
    assert started and started[0].startswith("Running: 64 × ")
    assert started[0].endswith("up to 300 iterations (each scale ends when its picture settles)")
    progress = window.session.last_progress
    assert progress.settling and progress.index == progress.total < 300
    assert window.stats.text().startswith(f"Done: {progress.index} iterations")
    assert window.progress_bar.value() == window.progress_bar.maximum()
    assert window.loss_plot.total == progress.total
