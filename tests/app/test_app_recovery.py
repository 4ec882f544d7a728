"""The window never loses a picture: a run keeps a recovery copy (finished, saved or closed runs remove it), the
next launch offers an unfinished one back and can continue it; running out of memory keeps the last good picture
and offers a smaller size; a run that will not fit is warned about; a diverged step is reported and undone."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from engine.recovery import RecoveryStore
from engine.settings import RenderSettings

RUN_TIMEOUT_MS = 60_000
LONG = 500
CPU_ALLOCATOR_FAILURE = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 17179869184 bytes."


@pytest.fixture
def eager(recovery_folder):
    """A recovery store that writes on every iteration."""
    return RecoveryStore(recovery_folder, interval_s=0.0)


def _long_window(make_window, cat_path, wave_path, store, iterations: int = LONG):
    window = make_window(iterations=iterations, recovery_store=store)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    return window


def test_a_run_keeps_a_copy_a_stop_keeps_it_a_finished_run_removes_it(make_window, qtbot, cat_path, wave_path,
                                                                       eager):
    window = _long_window(make_window, cat_path, wave_path, eager)
    window.session.set_lam(0.3)
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: eager.latest() is not None and window.canvas.frames_shown >= 2, timeout=RUN_TIMEOUT_MS)
    during = eager.latest()
    assert 0 < during.index < LONG and during.settings.lam == 0.3 and during.settings.size == 64
    assert (during.content_name, during.style_name) == ("cat.png", "wave.png")
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    stopped = eager.latest()
    assert stopped is not None and stopped.index == window.session.last_progress.index  # saved as it stopped
    assert np.array_equal(stopped.image, window.session.result)

    window.advanced.iterations.setValue(3)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    assert window.stats.text().startswith("Done")
    assert eager.latest() is None and list(eager.root.iterdir()) == []  # neither run left anything


def test_saving_the_picture_or_closing_the_window_removes_the_copy(make_window, qtbot, monkeypatch, tmp_path,
                                                                   cat_path, wave_path, eager):
    window = _long_window(make_window, cat_path, wave_path, eager)
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    assert eager.latest() is not None
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(tmp_path / "kept.png"), "")))
    assert window.save_png() == str(tmp_path / "kept.png")
    assert eager.latest() is None

    assert window.run_panel.start()
    qtbot.waitUntil(lambda: eager.latest() is not None, timeout=RUN_TIMEOUT_MS)
    window.close()  # mid-run
    assert not window.session.running
    assert list(eager.root.iterdir()) == []


def _leave_unfinished(store: RecoveryStore, cat: np.ndarray, wave: np.ndarray, settings: RenderSettings,
                      picture: np.ndarray, index: int) -> None:
    """Write a recovery copy as a Fude that then crashed would have left it."""
    session = store.begin(cat, wave, "cat.png", "wave.png")
    assert session.save(picture, settings, index, settings.iteration_count, force=True)


def test_the_next_launch_offers_an_unfinished_picture_and_restores_it(make_window, qtbot, monkeypatch, tmp_path,
                                                                      cat, wave, eager):
    settings = RenderSettings(lam=0.4, size=64, iterations=12, seed=9, device="cpu")
    picture = np.random.default_rng(1).integers(0, 256, (42, 64, 3), dtype=np.uint8)
    _leave_unfinished(eager, cat, wave, settings, picture, index=5)
    window = make_window(recovery_store=eager)
    assert window.messages.kind == "info"
    assert "left unfinished" in window.messages.text() and "iteration 5 of 12" in window.messages.text()
    assert window.session.result is None and window.content_pane.image is None
    window.messages.trigger_action()  # "Restore"
    assert np.array_equal(window.content_pane.image.array, cat) and window.content_pane.image.name == "cat.png"
    assert np.array_equal(window.style_pane.image.array, wave) and window.style_pane.image.name == "wave.png"
    assert window.lam_control.lam == 0.4 and window.advanced.seed.value() == 9
    assert window.session.settings.iterations == 12
    assert np.array_equal(window.session.result, picture)
    from app.qimage import to_array

    assert np.array_equal(to_array(window.canvas.result), picture)
    bar = window.progress_bar
    assert bar.value() == round(bar.maximum() * 5 / 12) and window.save_panel.png_button.isEnabled()
    assert "continue" in window.messages.text()

    out = tmp_path / "restored.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(out), "")))
    assert window.save_png() == str(out)
    from engine.export import read_png_render
    from engine.images import load_image

    assert np.array_equal(load_image(out), picture)
    stored = read_png_render(out)
    assert stored.settings.lam == 0.4 and stored.content_name == "cat.png"
    assert eager.latest() is None  # saved: nothing left to offer at the next launch


def test_a_restored_picture_can_be_continued(make_window, qtbot, cat, wave, eager, backends):
    settings = RenderSettings(lam=0.05, size=64, iterations=8, device="cpu", precision="fp32")
    from engine.run import StyleRun

    run = StyleRun(cat, wave, settings, backends.get(settings))
    for _ in range(5):
        run.step()
    _leave_unfinished(eager, cat, wave, settings, run.result(), index=5)
    window = make_window(recovery_store=eager)
    window.messages.trigger_action()  # Restore
    indices = []
    window.progress_bar.valueChanged.connect(indices.append)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.messages.trigger_action()  # Continue
        assert window.session.state == "running" and window.session.worker.job.start_index == 5
    assert window.stats.text().startswith("Done: 8 iterations")
    bar = window.progress_bar
    assert window.session.last_progress.index == 8 and min(indices) >= round(bar.maximum() * 5 / 8)
    assert bar.value() == bar.maximum()
    assert window.session.result.mean() > 20
    assert eager.latest() is None


def _fail_network(monkeypatch, backends, when) -> None:
    network = backends.get(RenderSettings(device="cpu", precision="fp32")).network
    real = network.forward

    def forward(rgb, layers):
        if when():
            raise RuntimeError(CPU_ALLOCATOR_FAILURE)
        return real(rgb, layers)

    monkeypatch.setattr(network, "forward", forward)


def test_out_of_memory_keeps_the_picture_and_offers_a_smaller_size(make_window, qtbot, monkeypatch, cat_path,
                                                                    wave_path, eager, backends):
    window = _long_window(make_window, cat_path, wave_path, eager)
    calls = []
    _fail_network(monkeypatch, backends, lambda: calls.append(1) or len(calls) > 4)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    text = window.messages.text()
    assert window.messages.kind == "error"
    assert text.startswith("cpu: ran out of memory on the CPU rendering at 64 px; 32 px should fit"), text
    assert "The last good picture is kept" in text
    button = window.messages.findChild(object, "messageAction")
    assert button.isVisible() and button.text() == "Retry at 32 px"
    assert window.session.result is not None and window.session.result.mean() > 20
    assert np.array_equal(window.session.result, window.session.record.latest)
    assert np.array_equal(eager.latest().image, window.session.result)  # and the recovery copy has it
    assert window.session.state == "idle" and window.run_panel.start_button.isEnabled()

    monkeypatch.undo()
    window.advanced.iterations.setValue(3)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.messages.trigger_action()
    assert window.advanced.size_spin.value() == 32
    assert max(window.session.result.shape[:2]) == 32 and window.stats.text().startswith("Done")


def test_a_run_that_will_not_fit_is_warned_about(loaded_window, qtbot, monkeypatch, cat):
    import engine.memory

    window = loaded_window
    wave_shape = window.style_pane.image.array.shape
    needed_at_48 = engine.memory.estimate_bytes(cat.shape, wave_shape, window.session.settings.replaced(size=48),
                                                gif_frames=60)
    monkeypatch.setattr(engine.memory, "available_bytes", lambda device: int(needed_at_48 / engine.memory.FIT_MARGIN))
    window.advanced.iterations.setValue(LONG)
    with qtbot.waitSignal(window.messages.shown, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda kind, text: "needs about" in text):
        assert window.run_panel.start()
    text = window.messages.text()
    assert window.messages.kind == "info" and "64 px needs about" in text and "48 px would fit" in text
    assert "The render goes on" in text and window.session.state == "running"
    first = window.session.worker
    window.advanced.iterations.setValue(3)
    window.messages.trigger_action()  # "Restart at 48 px": stops this run, then starts again
    qtbot.waitUntil(lambda: window.session.worker is not first and window.session.worker.job.settings.size == 48,
                    timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.session.state == "idle" and window.stats.text().startswith("Done: 3 iterations"),
                    timeout=RUN_TIMEOUT_MS)
    assert max(window.session.result.shape[:2]) == 48


def test_a_diverged_step_is_reported_and_the_picture_stays_good(loaded_window, qtbot, monkeypatch):
    from engine.losses import StyleObjective

    real = StyleObjective.__call__
    calls = []

    def call(self, features, image, weights):
        calls.append(1)
        losses = real(self, features, image, weights)
        return {k: v * float("nan") for k, v in losses.items()} if len(calls) == 2 else losses

    monkeypatch.setattr(StyleObjective, "__call__", call)
    window = loaded_window
    shown = []
    window.messages.shown.connect(lambda kind, text: shown.append((kind, text)))
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    notes = [text for kind, text in shown if "the loss became NaN" in text]
    assert len(notes) == 1 and shown[-1][0] == "info"
    assert window.stats.text().startswith("Done: 4 iterations")
    assert window.session.result.mean() > 20 and window.session.result.std() > 5
    assert all(np.isfinite(v) for v in window.session.last_progress.losses.values())
