"""Real runs (the real VGG19, tiny pictures, a few iterations) driven through the window: frames reach the
canvas, lam moves mid-run, pause/resume, stop and restart, an engine failure, and closing mid-run."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QFileDialog

from app.qimage import to_array

RUN_TIMEOUT_MS = 60_000
LONG = 500  # iterations for runs a test stops itself


def _start(window, qtbot) -> None:
    qtbot.mouseClick(window.run_panel.start_button, Qt.MouseButton.LeftButton)
    assert window.session.state == "running"


class _Arrivals(QObject):
    """Records a signal's values on the GUI thread, in order with the other signals queued to it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[object] = []

    @Slot(bool)
    def add(self, value: bool) -> None:
        self.values.append(value)


def _wait_frames(window, qtbot, count: int = 1) -> None:
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= count, timeout=RUN_TIMEOUT_MS)


def test_a_short_run_reaches_the_canvas(loaded_window, qtbot):
    window = loaded_window
    window.session.set_lam(0.2)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        _start(window, qtbot)
        assert not window.run_panel.start_button.isEnabled() and window.run_panel.stop_button.isEnabled()
    canvas = window.findChild(type(window.canvas), "previewCanvas")
    assert canvas is window.canvas and canvas.frames_shown >= 1
    assert window.session.state == "idle" and window.run_panel.start_button.isEnabled()
    result = window.session.result
    assert result is not None and result.dtype == np.uint8 and max(result.shape[:2]) == 64
    shown = to_array(canvas.result)
    assert np.array_equal(shown, result)
    assert not np.array_equal(result, np.full_like(result, result[0, 0]))  # a picture, not a flat fill
    progress = window.session.last_progress
    assert progress.index == progress.total == 4
    assert set(progress.losses) >= {"content", "style", "total"}
    assert window.progress_bar.value() == window.progress_bar.maximum()  # a finished run fills the bar
    assert window.stats.text().startswith("Done: 4 iterations")
    assert window.loss_plot.points["total"]
    assert window.session.record.final_settings.lam == 0.2
    assert window.messages.kind == ""


def test_lam_changed_mid_run(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    _start(window, qtbot)
    qtbot.waitUntil(lambda: window.session.last_progress is not None, timeout=RUN_TIMEOUT_MS)
    assert window.session.last_progress.lam == pytest.approx(0.05)
    window.lam_control.slider.setValue(window.lam_control.slider.value() + 200)  # toward "more style"
    new_lam = window.lam_control.lam
    assert new_lam < 0.05
    assert window.findChild(object, "lamValue").text() == f"{new_lam:.3g}"
    changed_at = window.session.last_progress.index
    qtbot.waitUntil(lambda: window.session.last_progress.lam == new_lam, timeout=RUN_TIMEOUT_MS)
    assert window.session.last_progress.index > changed_at
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    assert window.session.record.final_settings.lam == new_lam


def test_pause_resume_stop_and_restart(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    _start(window, qtbot)
    _wait_frames(window, qtbot)

    worker = window.session.worker
    # pausedChanged is queued after the last progress the worker sent, so once it arrives on this thread, all of
    # it has. (qtbot.waitSignal's callback is called on the worker's thread as the signal is emitted, before the
    # progress queued just ahead of it reaches the window: hence a receiver that lives on this thread.)
    arrived = _Arrivals()
    worker.pausedChanged.connect(arrived.add)
    qtbot.mouseClick(window.run_panel.pause_button, Qt.MouseButton.LeftButton)
    assert window.session.state == "paused" and window.run_panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: arrived.values == [True], timeout=RUN_TIMEOUT_MS)
    assert worker.waiting_in_pause
    paused_at = window.session.last_progress.index
    qtbot.wait(50)  # let any queued progress arrive: none may come while paused
    assert window.session.last_progress.index == paused_at and worker.waiting_in_pause

    qtbot.mouseClick(window.run_panel.pause_button, Qt.MouseButton.LeftButton)
    assert window.session.state == "running"
    qtbot.waitUntil(lambda: window.session.last_progress.index > paused_at, timeout=RUN_TIMEOUT_MS)

    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.run_panel.stop_button, Qt.MouseButton.LeftButton)
    kept = window.session.result
    assert kept is not None and window.canvas.result is not None
    assert window.stats.text().startswith("Stopped after")
    assert window.progress_bar.value() < window.progress_bar.maximum()

    # stop while paused, then start again: a new run from the beginning that finishes
    window.advanced.iterations.setValue(3)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        _start(window, qtbot)
        assert window.session.worker is not worker
    assert window.session.last_progress.index == window.session.last_progress.total == 3
    assert window.stats.text().startswith("Done: 3 iterations")


def test_stop_while_paused(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    _start(window, qtbot)
    _wait_frames(window, qtbot)
    window.session.toggle_pause()
    qtbot.waitUntil(lambda: window.session.worker.waiting_in_pause, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.session.runEnded, timeout=5_000):
        window.run_panel.stop_action.trigger()
    assert window.session.state == "idle" and window.session.result is not None


def test_keyboard_start_and_stop(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.session.state == "running"
    _wait_frames(window, qtbot)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.session.state == "idle"


def test_engine_failure_is_shown_and_the_picture_kept(loaded_window, qtbot, monkeypatch, tmp_path):
    from engine.run import StyleRun

    window = loaded_window
    real_step = StyleRun.step

    def failing_step(self):
        if self.index >= 2:
            raise RuntimeError("out of memory (simulated)")
        return real_step(self)

    monkeypatch.setattr(StyleRun, "step", failing_step)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        _start(window, qtbot)
    assert window.messages.kind == "error"
    assert "cat.png" in window.messages.text() and "out of memory (simulated)" in window.messages.text()
    assert window.session.result is not None and window.canvas.result is not None
    assert window.session.state == "idle" and window.run_panel.start_button.isEnabled()
    out = tmp_path / "kept.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(out), "")))
    assert window.save_png() == str(out)
    assert out.exists()


def test_closing_mid_run_stops_the_worker(make_window, qtbot, capfd, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    _start(window, qtbot)
    _wait_frames(window, qtbot)
    worker = window.session.worker
    capfd.readouterr()
    began = time.monotonic()
    window.close()
    took = time.monotonic() - began
    assert not worker.running
    assert took < 1.0, f"closing took {took:.2f} s"
    qtbot.wait(10)  # deliver the worker's last queued signals to the closed window
    err = capfd.readouterr().err
    assert "QThread" not in err and "Traceback" not in err and "Error" not in err, err
