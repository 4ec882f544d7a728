"""A queued job is its own run (issue 24, point 1): what the user does in the panes while a job runs (lam, the
style weights, painting regions, Keep colours) is the panes' business and changes neither the job's run nor its
file; the session's run signals say which run they are about, so the queue never takes the user's own run for its
job, and the user's own run still takes the changes made in the panes while it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QMessageBox

from app.job_queue import JobStatus
from app.session import RunHandle
from engine.export import read_png_render
from engine.regions import Regions, region_size

QUEUE_TIMEOUT_MS = 120_000
JOB_ITERATIONS = 24  # long enough to be changed mid-run, short enough to finish quickly at 64 px
LONG = 500  # iterations of the user's own run, which the test stops itself


@pytest.fixture(autouse=True)
def _keep_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing a window with jobs in its queue asks; here the user keeps them."""
    monkeypatch.setattr(QMessageBox, "exec", lambda box: box.button(QMessageBox.StandardButton.Save).click() or 0)




def _click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _two_paintings(window, cat_path: Path, wave_path: Path, stripes_path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(wave_path)), QUrl.fromLocalFile(str(stripes_path))])
    assert window.content_pane.load_path(cat_path)
    assert window.style_pane.handle_mime(mime)
    assert len(window.session.styles) == 2


def _halves(window) -> Regions:
    """The wave on the left half of the content, the stripes on the right: as a user paints them."""
    width, height = region_size(window.session.content.width, window.session.content.height)
    left = np.zeros((height, width), np.uint8)
    left[:, : width // 2] = 255
    return Regions.from_stack([left, 255 - left])


def test_what_the_panes_do_while_a_job_runs_does_not_change_it(make_window, qtbot, out: Path, cat_path: Path,
                                                               wave_path: Path, stripes_path: Path):
    window = make_window(iterations=JOB_ITERATIONS)
    _two_paintings(window, cat_path, wave_path, stripes_path)
    session, panel = window.session, window.queue_panel
    session.set_lam(0.1)
    session.set_style_weights((0.5, 0.5))
    job_id = panel.add_current()
    assert job_id is not None
    job_settings = panel.queue.entry(job_id).job.settings
    assert job_settings.lam == 0.1 and job_settings.regions is None and not job_settings.keep_colours
    _click(qtbot, panel.folder_button)

    changed: list[int] = []

    def change_the_panes(*_: object) -> None:  # as soon as the job shows its first picture, the user goes on
        if changed or panel.queue.entry(job_id).status is not JobStatus.RUNNING:
            return
        changed.append(session.last_progress.index if session.last_progress else 0)
        session.set_lam(0.9)  # the lam slider
        session.set_style_weights((0.1, 0.9))  # the weight sliders
        assert session.update_settings(regions=_halves(window))  # regions painted for the next picture
        qtbot.mouseClick(window.keep_colours_check, Qt.MouseButton.LeftButton)  # Keep colours on

    session.resultChanged.connect(change_the_panes)
    _click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.queue.active and not session.running, timeout=QUEUE_TIMEOUT_MS)
    entry = panel.queue.entry(job_id)
    assert entry.status is JobStatus.DONE, entry.message
    assert changed and changed[0] < JOB_ITERATIONS  # the panes were changed while the job ran
    # the panes took every change: they are the next job's settings
    assert session.settings.lam == 0.9 and session.settings.regions == _halves(window)
    assert session.settings.style_weights == (0.1, 0.9) and session.settings.keep_colours

    stored = read_png_render(entry.path)
    assert stored is not None
    assert stored.settings.lam == job_settings.lam == 0.1
    assert stored.settings.style_weights == job_settings.style_weights == (0.5, 0.5)
    assert stored.settings.regions is None
    assert not stored.settings.keep_colours  # the job's own Keep colours, not the one switched on mid-run
    assert stored.settings == job_settings
    # the picture in the file is the run's own, without the content's colours: not what the canvas shows now
    assert not np.array_equal(np.asarray(Image.open(entry.path).convert("RGB")), session.result)
    assert "lam 0.1" in panel.list.item(0).text()  # the row and the file say the same


def test_the_queue_does_not_take_the_users_own_run_for_its_job(make_window, qtbot, out: Path, cat_path: Path,
                                                                wave_path: Path):
    window = make_window()
    assert window.content_pane.load_path(cat_path) and window.style_pane.load_path(wave_path)
    session, panel = window.session, window.queue_panel
    session.set_lam(0.2)
    job_id = panel.add_current()
    _click(qtbot, panel.folder_button)
    ended: list[RunHandle] = []
    finished: list[RunHandle] = []
    session.runEnded.connect(ended.append)
    session.runFinished.connect(lambda run, outcome: finished.append(run))

    window.advanced.iterations.setValue(LONG)
    _click(qtbot, window.run_panel.start_button)  # the user's own run first, from the panes
    own = session.run
    assert own is not None and own.from_panes and own.origin == "panes"
    _click(qtbot, panel.run_button)  # the queue waits for it
    qtbot.waitUntil(lambda: own.record.latest is not None, timeout=QUEUE_TIMEOUT_MS)  # it is painting
    session.set_lam(0.7)  # the user's own run takes it at once...
    qtbot.waitUntil(lambda: own.record.final_settings.lam == 0.7, timeout=QUEUE_TIMEOUT_MS)
    assert panel.queue.entry(job_id).status is JobStatus.WAITING and panel.queue.running_job is None
    session.stop_run(RunHandle(own.id + 1000))  # a stop for another run stops nothing
    assert session.state == "running"
    _click(qtbot, window.run_panel.stop_button)  # ...and the user's run is stopped by the user
    qtbot.waitUntil(lambda: panel.queue.entry(job_id).status is JobStatus.DONE and not session.running,
                    timeout=QUEUE_TIMEOUT_MS)

    assert finished[0] == own and ended[0] == own
    job_run = finished[1]
    assert job_run != own and job_run.queue_job == job_id and not job_run.from_panes
    assert job_run.origin == f"queue job {job_id}" and ended[1] == job_run
    # the user's stopped run is not the job's: the job ran on its own, to its end, and wrote one file
    assert [p.name for p in out.iterdir()] == ["cat_in_wave.png"]
    stored = read_png_render(out / "cat_in_wave.png")
    assert stored is not None and stored.settings.lam == 0.2
    assert stored.settings.iterations == 4
    assert own.record.final_settings.lam == 0.7  # the panes' run took the change made while it ran


def test_a_queued_job_that_runs_out_of_memory_offers_no_retry_of_the_panes(make_window, qtbot, out: Path,
                                                                           cat_path: Path, wave_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    """A retry would run the pictures in the panes, not the job's: the job is marked failed and the message
    offers no button."""
    from PySide6.QtWidgets import QPushButton

    from tests.failing_steps import fail_step_at

    window = make_window()
    assert window.content_pane.load_path(cat_path) and window.style_pane.load_path(wave_path)
    panel = window.queue_panel
    job_id = panel.add_current()
    _click(qtbot, panel.folder_button)
    button = window.messages.findChild(QPushButton, "messageAction")
    shown: list[tuple[str, str, str]] = []
    window.messages.shown.connect(lambda kind, text: shown.append(
        (kind, text, button.text() if button.isVisibleTo(window.messages) else "")))
    fail_step_at(monkeypatch, 1, RuntimeError("CUDA out of memory. Tried to allocate 8 GiB"))
    _click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.queue.active and not window.session.running, timeout=QUEUE_TIMEOUT_MS)
    entry = panel.queue.entry(job_id)
    assert entry.status is JobStatus.FAILED and "ran out of memory" in entry.message
    told = [s for s in shown if "ran out of memory" in s[1]]
    assert told and all(kind == "error" and action == "" for kind, _, action in told)
    assert "marked failed in the queue" in told[0][1]
    assert list(out.iterdir()) == []
