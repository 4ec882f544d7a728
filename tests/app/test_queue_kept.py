"""Nothing queued is lost (issue 24, point 6): closing the window with jobs in the queue asks (keep them for next
time, discard them, or do not close); kept jobs, and those a crash leaves, are offered back at the next start and
come back as waiting jobs (or are thrown away when the user declines); and what Fude moves aside in its data
folder is said in the message bar and can be opened from the File menu."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from app.job_queue import JobStatus
from engine.export import read_png_render
from engine.recovery import RecoveryStore

QUEUE_TIMEOUT_MS = 120_000


class Answers:
    """What the user answers when closing asks about the queue ("keep", "discard" or "cancel"), and the
    questions asked."""

    BUTTONS = {"keep": QMessageBox.StandardButton.Save, "discard": QMessageBox.StandardButton.Discard,
               "cancel": QMessageBox.StandardButton.Cancel}

    def __init__(self) -> None:
        self.answer = "keep"
        self.asked: list[str] = []

    def __call__(self, box: QMessageBox) -> int:
        self.asked.append(f"{box.text()} {box.informativeText()} "
                          + " / ".join(sorted(b.text() for b in box.buttons())))
        box.button(self.BUTTONS[self.answer]).click()
        return 0


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    answers = Answers()
    monkeypatch.setattr(QMessageBox, "exec", lambda box: answers(box))
    return answers



@pytest.fixture
def queue_folder(recovery_folder: Path) -> Path:
    return recovery_folder.parent / "queue"


def _with_jobs(make_window, cat_path: Path, wave_path: Path, lams: tuple[float, ...]):
    window = make_window()
    assert window.content_pane.load_path(cat_path) and window.style_pane.load_path(wave_path)
    for lam in lams:
        window.session.set_lam(lam)
        assert window.queue_panel.add_current() is not None
    return window


def _job_folders(queue_folder: Path) -> list[str]:
    return sorted(p.name for p in queue_folder.iterdir() if p.is_dir()) if queue_folder.exists() else []


def test_kept_jobs_come_back_as_waiting_jobs_and_run(make_window, qtbot, answers, out, cat, cat_path, wave_path,
                                                     queue_folder):
    window = _with_jobs(make_window, cat_path, wave_path, (0.1, 0.2, 0.3))
    panel = window.queue_panel
    first, second, third = (e.job.id for e in panel.queue.entries)
    assert panel.queue.cancel(second)  # a cancelled job is not kept
    assert panel.queue.move(third, -1)
    assert len(_job_folders(queue_folder)) == 2
    assert window.close()
    assert len(answers.asked) == 1
    assert "2 jobs are still in the queue" in answers.asked[0]
    assert all(f"{answer}" in answers.asked[0] for answer in ("Keep them for next time", "Discard them",
                                                             "Don't close"))

    again = make_window()  # the next start
    again_panel = again.queue_panel
    assert again_panel.queue.entries == () and len(again_panel.queue.offered) == 2
    assert again_panel.dock.isVisible() and again_panel.offer.isVisible()
    assert "2 jobs were waiting" in again_panel.offer_label.text()
    assert again.messages.kind == "info" and "Put them back in the queue?" in again.messages.text()
    qtbot.mouseClick(again_panel.restore_button, Qt.MouseButton.LeftButton)
    assert not again_panel.offer.isVisible() and again_panel.queue.offered == ()
    entries = again_panel.queue.entries
    assert [e.status for e in entries] == [JobStatus.WAITING, JobStatus.WAITING]
    assert [e.job.settings.lam for e in entries] == [0.3, 0.1]  # in the order they were left
    assert entries[0].job.content.name == "cat.png" and entries[0].job.style_names == ("wave.png",)
    assert np.array_equal(entries[0].job.content.array, cat) and again.session.content is None  # the panes: empty
    assert "1. cat.png → wave.png" in again_panel.list.item(0).text()

    qtbot.mouseClick(again_panel.folder_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(again_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not again_panel.queue.active and not again.session.running, timeout=QUEUE_TIMEOUT_MS)
    assert [e.status for e in again_panel.queue.entries] == [JobStatus.DONE, JobStatus.DONE]
    assert sorted(read_png_render(out / name).settings.lam for name in os.listdir(out)) == [0.1, 0.3]
    assert _job_folders(queue_folder) == []  # done jobs are kept no more
    assert again.close() and len(answers.asked) == 1  # nothing unfinished: closing asks nothing


def test_jobs_a_crash_leaves_are_offered_and_declining_discards_them(make_window, qtbot, answers, cat_path,
                                                                     wave_path, queue_folder):
    crashed = _with_jobs(make_window, cat_path, wave_path, (0.1, 0.2))  # never closed: as if it had crashed
    assert len(_job_folders(queue_folder)) == 2
    again = make_window()
    panel = again.queue_panel
    assert len(panel.queue.offered) == 2 and panel.offer.isVisible()
    qtbot.mouseClick(panel.discard_offered_button, Qt.MouseButton.LeftButton)
    assert panel.queue.offered == () and panel.queue.entries == () and not panel.offer.isVisible()
    assert _job_folders(queue_folder) == []
    assert make_window().queue_panel.queue.offered == ()  # not offered again
    answers.answer = "discard"
    assert crashed.close()


def test_closing_can_discard_the_jobs_or_not_close(make_window, answers, cat_path, wave_path, queue_folder):
    window = _with_jobs(make_window, cat_path, wave_path, (0.1,))
    answers.answer = "cancel"
    assert not window.close() and window.isVisible()  # the window stays, with its queue
    assert [e.status for e in window.queue_panel.queue.entries] == [JobStatus.WAITING]
    assert len(_job_folders(queue_folder)) == 1
    answers.answer = "discard"
    assert window.close() and not window.isVisible()
    assert len(answers.asked) == 2 and _job_folders(queue_folder) == []
    assert make_window().queue_panel.queue.offered == ()


def test_a_damaged_kept_job_is_moved_aside_and_said(make_window, answers, cat_path, wave_path, queue_folder,
                                                    recovery, monkeypatch):
    window = _with_jobs(make_window, cat_path, wave_path, (0.1, 0.2))
    answers.answer = "keep"
    assert window.close()
    damaged = _job_folders(queue_folder)[0]
    (queue_folder / damaged / "content.png").write_bytes(b"not a picture any more")
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    shown: list[tuple[str, str]] = []

    again = make_window()
    assert len(again.queue_panel.queue.offered) == 1
    moved = recovery.kept / f"queue-{damaged}"
    assert (moved / "content.png").read_bytes() == b"not a picture any more"  # moved whole, not deleted
    assert again.open_set_aside_action.isEnabled()
    assert again.messages.kind == "info" and "moved aside, not deleted" in again.messages.text()
    assert again.queue_panel.offer.isVisible()  # the one job still readable is offered in the queue's dock
    again.messages.shown.connect(lambda kind, text: shown.append((kind, text)))
    again.open_set_aside_action.trigger()  # File > Open the folder of set-aside files
    assert opened == [QUrl.fromLocalFile(str(recovery.kept))]
    assert not shown


def test_what_was_set_aside_is_said_once_and_the_menu_opens_it(make_window, tmp_path, recovery, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    store = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    window = make_window(settings_store=store)
    assert not window.open_set_aside_action.isEnabled()  # nothing there
    assert window.messages.kind == "" and not window.open_set_aside_folder() and opened == []
    window.close()

    (recovery.kept / "20260101-101010-abcdef").mkdir(parents=True)  # moved aside by an earlier Fude
    window = make_window(settings_store=store)
    assert window.messages.kind == "info" and "moved aside, not deleted" in window.messages.text()
    assert str(recovery.kept) in window.messages.text() and "Open the folder of set-aside files" in \
        window.messages.text()
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    assert window.open_set_aside_action in file_menu.actions() and window.open_set_aside_action.isEnabled()
    window.open_set_aside_action.trigger()
    assert opened == [QUrl.fromLocalFile(str(recovery.kept))]
    window.close()
    window = make_window(settings_store=store)  # told once: the next start says nothing more about it
    assert window.messages.kind == "" and window.open_set_aside_action.isEnabled()


def test_a_recovery_folder_moved_aside_during_a_run_is_said(make_window, qtbot, tmp_path, cat_path, wave_path):
    recovery = RecoveryStore(tmp_path / "data" / "recovery", interval_s=0.0)
    stranger = recovery.root / "20250101-000000-abcdef"
    stranger.mkdir(parents=True)
    (stranger / "picture.png").write_bytes(b"damaged")  # a picture Fude cannot read: moved aside at the first save
    os.utime(stranger, (0, 0))
    os.utime(stranger / "picture.png", (0, 0))
    window = make_window(recovery_store=recovery)
    assert window.messages.kind == "" and not window.open_set_aside_action.isEnabled()
    assert window.content_pane.load_path(cat_path) and window.style_pane.load_path(wave_path)
    with qtbot.waitSignal(window.session.runEnded, timeout=QUEUE_TIMEOUT_MS):
        assert window.run_panel.start()
    assert (recovery.kept / stranger.name / "picture.png").read_bytes() == b"damaged"
    assert "moved aside, not deleted" in window.messages.text() and window.open_set_aside_action.isEnabled()
