"""RenderWorker on its own, with the real network on tiny pictures: it runs itself on a thread of its own, its
signals arrive on the GUI thread and `ended` comes last; previews follow the GUI's acknowledgements; cancel and
pause work between steps; any failure reaches the user as one line (or as outOfMemory), with the last good
picture sent first. tests/app/conftest.py fails any test that leaves a QThread running."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app.worker import PreviewFrame, RenderWorker
from engine.driver import BackendCache, Progress, RenderJob, RunOutcome, RunRecord
from engine.errors import DivergenceError, OutOfMemory
from engine.settings import RenderSettings
from tests.failing_steps import fail_step_at

TIMEOUT_MS = 60_000
SIGNALS = ("phase", "started", "progress", "frameReady", "finished", "failed", "outOfMemory", "memoryWarning",
           "notice", "pausedChanged", "ended")


def make_worker(cat: np.ndarray, wave: np.ndarray, backends: BackendCache, iterations: int = 4, size: int = 32,
                max_frames: int = 24) -> RenderWorker:
    settings = RenderSettings(size=size, iterations=iterations, device="cpu", precision="fp32")
    job = RenderJob(cat, wave, settings, "cat.png", "wave.png")
    return RenderWorker(job, RunRecord(job, max_frames=max_frames), backends, max_fps=1000.0)


class Heard:
    """Every signal of a worker, in order, with the thread it arrived on."""

    def __init__(self, worker: RenderWorker) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.threads: set[threading.Thread] = set()
        for name in SIGNALS:
            getattr(worker, name).connect(self._taker(name))

    def _taker(self, name: str) -> Callable[..., None]:
        def take(*args: object) -> None:
            self.calls.append((name, args))
            self.threads.add(threading.current_thread())

        return take

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def values(self, name: str) -> list[object]:
        return [args[0] if args else None for called, args in self.calls if called == name]


def run_to_end(qtbot: QtBot, worker: RenderWorker) -> None:
    with qtbot.waitSignal(worker.ended, timeout=TIMEOUT_MS):
        assert worker.start()
        assert worker.running
    assert not worker.running


def test_a_run_reports_on_the_gui_thread_and_ends_last(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=4)
    heard = Heard(worker)
    run_to_end(qtbot, worker)
    assert heard.threads == {threading.main_thread()}
    assert heard.names[:3] == ["phase", "phase", "started"] and heard.names[-2:] == ["finished", "ended"]
    assert heard.values("phase") == ["Loading the network…", "Preparing the pictures…"]
    assert heard.calls[2][1] == (4, 32, 32)
    outcome = heard.values("finished")[0]
    assert isinstance(outcome, RunOutcome) and (outcome.index, outcome.total, outcome.cancelled) == (4, 4, False)
    progress = heard.values("progress")
    assert all(isinstance(p, Progress) for p in progress) and progress[-1].index == 4
    frames = heard.values("frameReady")
    assert frames and isinstance(frames[0], PreviewFrame) and frames[0].index == 1
    assert np.array_equal(worker.record.latest, outcome.image)
    assert "failed" not in heard.names and worker.wait(0)


def test_one_start_at_a_time(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=2)
    with qtbot.waitSignal(worker.ended, timeout=TIMEOUT_MS):
        assert worker.start()
        assert not worker.start()


def test_the_worker_sends_one_preview_at_a_time(qtbot, backends, cat, wave):
    """A GUI that has not drawn the last preview gets no other: images never pile up in the event queue, while
    the record still gets the frames it asks for."""
    worker = make_worker(cat, wave, backends, iterations=6, size=48)
    heard = Heard(worker)
    run_to_end(qtbot, worker)
    previews = heard.values("frameReady")
    assert len(previews) == 1 and previews[0].index == 1  # never acknowledged: no second preview
    assert heard.values("progress")[-1].index == 6
    assert len(worker.record.gif_images()) == 6


def test_previews_wait_for_acknowledgements_and_resume_after_them(qtbot, backends, cat, wave):
    """The GUI here acknowledges each preview only once the run has gone two iterations past it: no preview may
    come while the last one is unacknowledged (a worker that ignored acknowledgements would send one every
    iteration), and previews come again after each acknowledgement (one that never resumed would send one)."""
    worker = make_worker(cat, wave, backends, iterations=12, size=48, max_frames=2)
    previews: list[int] = []
    acknowledged_at: list[int] = []  # the iteration the run had reached when each preview was acknowledged
    unacknowledged: list[int] = []  # previews that came while the one before was still unacknowledged

    def take(frame: PreviewFrame) -> None:
        if len(previews) > len(acknowledged_at):
            unacknowledged.append(frame.index)
        previews.append(frame.index)

    def acknowledge_later(progress: Progress) -> None:
        if len(previews) > len(acknowledged_at) and progress.index >= previews[-1] + 2:
            acknowledged_at.append(progress.index)
            worker.acknowledge_frame()

    worker.frameReady.connect(take)
    worker.progress.connect(acknowledge_later)
    run_to_end(qtbot, worker)
    assert unacknowledged == []
    assert len(previews) >= 3, previews  # they resumed after acknowledgements, more than once
    assert all(later > at for later, at in zip(previews[1:], acknowledged_at, strict=False)), (previews,
                                                                                              acknowledged_at)
    assert all(b - a >= 2 for a, b in zip(previews, previews[1:], strict=False))  # none came before its turn
    assert previews == sorted(previews) and previews[-1] <= 12


def test_cancel_between_steps_finishes_with_the_picture_so_far(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=200)
    heard = Heard(worker)
    worker.progress.connect(lambda progress: worker.cancel())
    run_to_end(qtbot, worker)
    outcome = heard.values("finished")[0]
    assert outcome.cancelled and 1 <= outcome.index < 200 and outcome.image.shape == (32, 32, 3)
    assert heard.names[-1] == "ended" and "failed" not in heard.names


def test_cancel_before_the_start(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=5)
    heard = Heard(worker)
    worker.cancel()
    run_to_end(qtbot, worker)
    outcome = heard.values("finished")[0]
    assert outcome.cancelled and outcome.index == 0 and "started" not in heard.names


def test_pause_waits_between_steps_and_cancel_wakes_it(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=50)
    heard = Heard(worker)
    worker.pause()
    assert worker.paused
    with qtbot.waitSignal(worker.pausedChanged, timeout=TIMEOUT_MS, check_params_cb=lambda paused: paused):
        worker.start()
    assert worker.waiting_in_pause and worker.running
    with qtbot.waitSignal(worker.ended, timeout=TIMEOUT_MS):
        worker.cancel()
    assert worker.wait(5)
    outcome = heard.values("finished")[0]
    assert outcome.cancelled and outcome.index == 0 and heard.values("pausedChanged") == [True, False]


def test_lam_set_before_the_start_is_the_record_s(qtbot, backends, cat, wave):
    worker = make_worker(cat, wave, backends, iterations=2)
    worker.set_lam(0.25)
    run_to_end(qtbot, worker)
    assert worker.record.final_settings.lam == 0.25


@pytest.mark.parametrize("error, words", [
    (ZeroDivisionError("an engine bug\nwith a second line"), "rendering cat.png in the style of wave.png: "
                                                             "ZeroDivisionError: an engine bug with a second line"),
    (DivergenceError("loss", "the loss stayed NaN"), "loss: the loss stayed NaN"),
])
def test_a_failing_step_is_one_line_after_the_last_good_picture(qtbot, backends, cat, wave, monkeypatch, error,
                                                                words):
    worker = make_worker(cat, wave, backends, iterations=10)
    heard = Heard(worker)
    fail_step_at(monkeypatch, 2, error)
    run_to_end(qtbot, worker)
    assert heard.names[-2:] == ["failed", "ended"] and "finished" not in heard.names
    assert heard.values("failed") == [words]
    kept = heard.values("frameReady")[-1]
    assert kept.index == 2 and np.array_equal(worker.record.latest, kept.image)


def test_out_of_memory_is_its_own_signal(qtbot, backends, cat, wave, monkeypatch):
    worker = make_worker(cat, wave, backends, iterations=10)
    heard = Heard(worker)
    fail_step_at(monkeypatch, 1, RuntimeError("CUDA out of memory. Tried to allocate 8 GiB"))
    run_to_end(qtbot, worker)
    assert heard.names[-2:] == ["outOfMemory", "ended"] and "failed" not in heard.names
    error = heard.values("outOfMemory")[0]
    assert isinstance(error, OutOfMemory) and "ran out of memory" in str(error)


def test_a_run_that_will_not_fit_is_warned_about(qtbot, backends, cat, wave, monkeypatch):
    import engine.memory

    monkeypatch.setattr(engine.memory, "available_bytes", lambda device: 1024**2)
    worker = make_worker(cat, wave, backends, iterations=2)
    heard = Heard(worker)
    run_to_end(qtbot, worker)
    assert len(heard.values("memoryWarning")) == 1 and heard.names[-2:] == ["finished", "ended"]


def test_a_recovery_copy_that_cannot_be_written_is_one_notice(qtbot, backends, cat, wave, tmp_path):
    from engine.recovery import RecoveryStore

    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    session = RecoveryStore(blocker / "recovery", interval_s=0.0).begin(cat, wave, "cat.png", "wave.png")
    settings = RenderSettings(size=32, iterations=4, device="cpu", precision="fp32")
    job = RenderJob(cat, wave, settings, "cat.png", "wave.png")
    worker = RenderWorker(job, RunRecord(job), backends, recovery=session)
    heard = Heard(worker)
    run_to_end(qtbot, worker)
    notices = heard.values("notice")
    assert len(notices) == 1 and "recovery copy cannot be written" in notices[0]
    assert heard.values("finished")[0].index == 4
