"""The queue in the window (real runs of tiny pictures): jobs added with the pictures and settings of the moment
run one after another, each picture going to the history and to the chosen folder without overwriting a file;
a cancelled job (waiting or running) is skipped and the others still run; jobs can be reordered and removed;
a folder that cannot be written is said so, and the queue goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.job_queue import JobStatus
from engine.export import read_png_render
from engine.images import load_image
from engine.regions import Regions
from tests.app.conftest import RUN_ITERATIONS

QUEUE_TIMEOUT_MS = 120_000
LONG = 500  # iterations of a job the test cancels while it runs


@pytest.fixture(autouse=True)
def answer_keep(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Closing a window with jobs in its queue asks; here the user keeps them for next time. The questions
    asked, by their text."""
    asked: list[str] = []

    def answer(box: QMessageBox) -> int:
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.Save).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return asked


@pytest.fixture
def history_folder(tmp_path: Path) -> Path:
    return tmp_path / "history"



@pytest.fixture
def queue_window(make_window, history_folder: Path, cat_path: Path, wave_path: Path):
    window = make_window(history_folder=history_folder)
    assert window.content_pane.load_path(cat_path)
    assert window.style_pane.load_path(wave_path)
    return window


def _click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _add(qtbot, window, lam: float, iterations: int = RUN_ITERATIONS) -> int:
    """Set lam and the iterations, then press Add to queue; the new job's id."""
    window.session.set_lam(lam)
    window.advanced.iterations.setValue(iterations)
    before = len(window.queue_panel.queue.entries)
    _click(qtbot, window.queue_panel.add_button)
    entries = window.queue_panel.queue.entries
    assert len(entries) == before + 1 and entries[-1].status is JobStatus.WAITING
    return entries[-1].job.id


def _select(qtbot, window, job_id: int) -> None:
    """Click the job's row in the queue's list."""
    rows = window.queue_panel.list
    row = [e.job.id for e in window.queue_panel.queue.entries].index(job_id)
    rect = rows.visualItemRect(rows.item(row))
    qtbot.mouseClick(rows.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert window.queue_panel.selected_id() == job_id


def _statuses(window) -> list[JobStatus]:
    return [e.status for e in window.queue_panel.queue.entries]


def _run_queue(qtbot, window, history_entries: int) -> None:
    """Press Run queue and wait until it has run every job and the history has kept `history_entries`."""
    _click(qtbot, window.queue_panel.run_button)
    assert window.queue_panel.queue.active and window.queue_panel.run_button.text() == "Pause queue"
    qtbot.waitUntil(lambda: not window.queue_panel.queue.active and not window.session.running,
                    timeout=QUEUE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(window.history_panel.strip.entries) == history_entries, timeout=QUEUE_TIMEOUT_MS)
    assert window.queue_panel.run_button.text() == "Run queue"


def _stored_lam(path: Path) -> float:
    stored = read_png_render(path)
    assert stored is not None, f"{path} holds no Fude settings"
    assert stored.content_name == "cat.png" and stored.style_names == ("wave.png",)
    return stored.settings.lam


def test_the_queue_runs_its_jobs_in_order_and_skips_the_cancelled_one(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    assert not panel.dock.isVisible()
    first, second, third = (_add(qtbot, window, lam) for lam in (0.1, 0.2, 0.3))
    assert panel.dock.isVisible() and panel.list.count() == 3
    assert "cat.png → wave.png" in panel.list.item(0).text() and "lam 0.1" in panel.list.item(0).text()
    assert "64 px" in panel.list.item(0).text() and "waiting" in panel.list.item(0).text()
    # the session's own settings are not the jobs': they stay as the user left them
    assert window.session.settings.lam == 0.3

    _select(qtbot, window, second)
    _click(qtbot, panel.cancel_button)
    assert _statuses(window) == [JobStatus.WAITING, JobStatus.CANCELLED, JobStatus.WAITING]
    assert "cancelled" in panel.list.item(1).text()
    assert not panel.up_button.isEnabled() and not panel.cancel_button.isEnabled()  # it will not run: no moving
    _select(qtbot, window, third)
    _click(qtbot, panel.up_button)  # the third runs first now (the cancelled one keeps its place)
    assert [e.job.id for e in panel.queue.entries] == [third, second, first]

    existing = out / "cat_in_wave.png"
    existing.write_bytes(b"a picture the user made")
    _click(qtbot, panel.folder_button)
    assert panel.queue.folder == str(out) and str(out) in panel.folder_label.text().replace("\u200b", "")
    saved: list[tuple[int, str]] = []
    panel.queue.jobSaved.connect(lambda job_id, path: saved.append((job_id, path)))
    _run_queue(qtbot, window, history_entries=2)

    assert _statuses(window) == [JobStatus.DONE, JobStatus.CANCELLED, JobStatus.DONE]
    assert saved == [(third, str(out / "cat_in_wave 2.png")), (first, str(out / "cat_in_wave 3.png"))]
    assert existing.read_bytes() == b"a picture the user made"  # never overwritten
    assert sorted(p.name for p in out.iterdir()) == ["cat_in_wave 2.png", "cat_in_wave 3.png", "cat_in_wave.png"]
    assert _stored_lam(out / "cat_in_wave 2.png") == 0.3 and _stored_lam(out / "cat_in_wave 3.png") == 0.1
    assert "saved as cat_in_wave 2.png" in panel.list.item(0).text()
    history = window.history_panel.strip.entries  # newest first
    assert [e.finished for e in history] == [True, True]
    assert [e.stored.settings.lam for e in history] == [0.1, 0.3]
    assert window.messages.kind == "info" and "2 pictures saved" in window.messages.text()

    _select(qtbot, window, second)
    _click(qtbot, panel.remove_button)  # a finished job can be removed: the others stay
    assert [e.job.id for e in panel.queue.entries] == [third, first]
    assert not panel.run_button.isEnabled()  # nothing left to run


def test_cancelling_the_running_job_leaves_the_others(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    long_job = _add(qtbot, window, 0.1, LONG)
    short_job = _add(qtbot, window, 0.2)
    _click(qtbot, panel.folder_button)
    _click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=QUEUE_TIMEOUT_MS)
    assert _statuses(window) == [JobStatus.RUNNING, JobStatus.WAITING]
    _select(qtbot, window, long_job)
    assert not panel.up_button.isEnabled()  # the running job does not move
    _click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: not panel.queue.active and not window.session.running, timeout=QUEUE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(window.history_panel.strip.entries) == 2, timeout=QUEUE_TIMEOUT_MS)

    assert _statuses(window) == [JobStatus.CANCELLED, JobStatus.DONE]
    assert panel.queue.entry(short_job).path == str(out / "cat_in_wave.png")
    assert [p.name for p in out.iterdir()] == ["cat_in_wave.png"]  # the cancelled job wrote nothing
    assert _stored_lam(out / "cat_in_wave.png") == 0.2
    # the history has both: the finished picture, and the cancelled one's as stopped, as Stop keeps it
    assert [e.finished for e in window.history_panel.strip.entries] == [True, False]


def test_jobs_are_reordered_and_removed_without_running(queue_window, qtbot):
    window = queue_window
    panel = window.queue_panel
    jobs = [_add(qtbot, window, lam) for lam in (0.1, 0.2, 0.3)]
    ids = lambda: [e.job.id for e in panel.queue.entries]  # noqa: E731
    _select(qtbot, window, jobs[0])
    _click(qtbot, panel.down_button)
    assert ids() == [jobs[1], jobs[0], jobs[2]] and panel.selected_id() == jobs[0]  # the selection follows
    _click(qtbot, panel.down_button)
    assert ids() == [jobs[1], jobs[2], jobs[0]]
    assert not panel.queue.move(jobs[0], 1)  # already last
    assert [panel.list.item(row).text().split("\n")[0] for row in range(3)] == [
        "1. cat.png → wave.png", "2. cat.png → wave.png", "3. cat.png → wave.png"]
    assert "lam 0.2" in panel.list.item(0).text() and "lam 0.1" in panel.list.item(2).text()
    _select(qtbot, window, jobs[2])
    _click(qtbot, panel.remove_button)
    assert ids() == [jobs[1], jobs[0]] and panel.list.count() == 2
    assert not window.session.running and not panel.queue.active  # nothing ran


def test_add_to_queue_is_offered_once_there_is_something_to_queue(make_window, qtbot, cat_path: Path,
                                                                   wave_path: Path):
    window = make_window()
    panel = window.queue_panel
    adds = (panel.add_button, panel.dock_add_button, panel.add_action)

    def offered() -> list[bool]:
        return [add.isEnabled() for add in adds]

    assert offered() == [False] * 3
    panel.add_action.trigger()  # the Queue menu's action (and its shortcut) does nothing while disabled
    assert window.messages.kind == "" and panel.queue.entries == ()
    assert window.content_pane.load_path(cat_path)
    assert offered() == [False] * 3 and "first a content picture and a painting" in panel.add_button.toolTip()
    assert window.style_pane.load_path(wave_path)
    assert offered() == [True] * 3 and "first" not in panel.add_button.toolTip()
    window.style_pane.clear()
    assert offered() == [False] * 3
    window.session.set_content(None)
    assert panel.add_current() is None  # asked all the same (no button does): it says what is missing
    assert window.messages.kind == "error" and "add a content picture" in window.messages.text()
    assert panel.queue.entries == ()


def test_run_queue_asks_for_a_folder_first(queue_window, qtbot, monkeypatch: pytest.MonkeyPatch):
    window = queue_window
    _add(qtbot, window, 0.1)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: ""))  # the user cancels
    _click(qtbot, window.queue_panel.run_button)
    assert not window.queue_panel.queue.active and not window.session.running
    assert _statuses(window) == [JobStatus.WAITING]


def test_a_folder_that_cannot_be_written_is_said_and_the_queue_goes_on(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    first = _add(qtbot, window, 0.1)
    second = _add(qtbot, window, 0.2)
    _click(qtbot, panel.folder_button)
    shown: list[tuple[str, str]] = []
    window.messages.shown.connect(lambda kind, text: shown.append((kind, text)))

    def make_the_folder_again(_: str) -> None:
        out.mkdir(exist_ok=True)

    panel.queue.error.connect(make_the_folder_again)
    _click(qtbot, panel.run_button)
    out.rmdir()  # gone (a drive unplugged) while the first job runs; it is back after the first failed save
    assert panel.queue.active
    qtbot.waitUntil(lambda: not panel.queue.active and not window.session.running, timeout=QUEUE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(window.history_panel.strip.entries) == 2, timeout=QUEUE_TIMEOUT_MS)

    errors = [text for kind, text in shown if kind == "error"]
    assert len(errors) == 2
    assert str(out / "cat_in_wave.png") in errors[0] and "does not exist" in errors[0]
    assert "in the history" in errors[0] and "goes on" in errors[0]
    # the last word says so too, so a failure near the end is not hidden by "done"
    assert window.messages.kind == "error" and errors[1] == window.messages.text()
    assert "1 picture saved" in errors[1] and "1 job failed" in errors[1]
    assert panel.queue.entry(first).status is JobStatus.FAILED and "not saved" in panel.queue.entry(first).message
    assert "failed: not saved" in panel.list.item(0).text()
    assert panel.queue.entry(second).status is JobStatus.DONE
    assert [p.name for p in out.iterdir()] == ["cat_in_wave.png"] and _stored_lam(out / "cat_in_wave.png") == 0.2
    assert [e.stored.settings.lam for e in window.history_panel.strip.entries] == [0.2, 0.1]  # both kept


def test_the_queue_waits_for_the_users_own_run_and_pause_takes_no_new_job(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    first = _add(qtbot, window, 0.1)
    second = _add(qtbot, window, 0.2)
    window.advanced.iterations.setValue(LONG)
    _click(qtbot, window.run_panel.start_button)  # the user's own run, with the panes' pictures
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=QUEUE_TIMEOUT_MS)
    _click(qtbot, panel.folder_button)
    _click(qtbot, panel.run_button)
    qtbot.wait(200)
    assert panel.queue.active and _statuses(window) == [JobStatus.WAITING, JobStatus.WAITING]  # it waits

    def pause_once_running() -> None:  # the user presses Pause queue as soon as the first job runs
        if panel.queue.entry(first).status is JobStatus.RUNNING and panel.queue.active:
            _click(qtbot, panel.run_button)

    panel.queue.jobsChanged.connect(pause_once_running)
    _click(qtbot, window.run_panel.stop_button)  # the user's run ends: the queue takes its first job
    qtbot.waitUntil(lambda: panel.queue.entry(first).status is JobStatus.DONE and not window.session.running,
                    timeout=QUEUE_TIMEOUT_MS)
    qtbot.wait(200)
    assert not panel.queue.active and panel.run_button.text() == "Run queue"
    assert panel.queue.entry(second).status is JobStatus.WAITING and not window.session.running
    assert [p.name for p in out.iterdir()] == ["cat_in_wave.png"] and _stored_lam(out / "cat_in_wave.png") == 0.1
    qtbot.waitUntil(lambda: len(window.history_panel.strip.entries) == 2, timeout=QUEUE_TIMEOUT_MS)


def test_closing_the_window_stops_the_queue(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    _add(qtbot, window, 0.1, LONG)
    _add(qtbot, window, 0.2)
    _click(qtbot, panel.folder_button)
    _click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=QUEUE_TIMEOUT_MS)
    window.close()
    qtbot.wait(200)
    assert not panel.queue.active and not window.session.running
    assert _statuses(window) == [JobStatus.CANCELLED, JobStatus.WAITING]
    assert list(out.iterdir()) == []


def test_a_job_keeps_its_own_keep_colours(queue_window, qtbot, out: Path):
    window = queue_window
    panel = window.queue_panel
    qtbot.mouseClick(window.keep_colours_check, Qt.MouseButton.LeftButton)
    assert window.session.settings.keep_colours
    _add(qtbot, window, 0.1)
    qtbot.mouseClick(window.keep_colours_check, Qt.MouseButton.LeftButton)  # off again before the queue runs
    assert not window.session.settings.keep_colours
    _click(qtbot, panel.folder_button)
    _run_queue(qtbot, window, history_entries=1)
    saved = out / "cat_in_wave.png"
    stored = read_png_render(saved)
    assert stored is not None and stored.settings.keep_colours  # as the job was added
    assert not np.array_equal(load_image(saved), window.session.result)  # the canvas shows it without


def test_a_job_whose_regions_do_not_fit_its_paintings_is_refused(queue_window):
    window = queue_window
    queue = window.queue_panel.queue
    shown: list[tuple[str, str]] = []
    window.messages.shown.connect(lambda kind, text: shown.append((kind, text)))
    session = window.session
    two_masks = Regions.everywhere(2, session.content.width, session.content.height)
    assert queue.add(session.content, session.styles, session.settings.replaced(regions=two_masks)) is None
    assert queue.entries == ()
    assert shown[-1][0] == "error" and "Add to queue" in shown[-1][1] and "2 masks" in shown[-1][1]


def test_the_chosen_folder_is_remembered(queue_window, qtbot, out: Path, store, backends, recovery,
                                         history_folder: Path):
    from app.window import MainWindow

    queue_window.queue_panel.show_action.trigger()  # Queue > Show the queue
    _click(qtbot, queue_window.queue_panel.folder_button)
    queue_window.close()
    # the next launch, on the same preferences (not shown: only its queue's folder is looked at)
    again = MainWindow(store=store, backends=backends, recovery=recovery, history_folder=history_folder)
    qtbot.addWidget(again)
    assert again.queue_panel.queue.folder == str(out)
    assert str(out) in again.queue_panel.folder_label.text().replace("\u200b", "")
