"""BackgroundTask: a function runs off the GUI thread and how it ended arrives on the GUI thread, once."""

from __future__ import annotations

import gc
import threading

import pytest
import shiboken6
from PySide6.QtCore import QObject, QThread

from app.background import BackgroundTask


def test_the_value_arrives_on_the_gui_thread_then_finished(qtbot) -> None:
    task = BackgroundTask("test")
    ran_on: list[threading.Thread] = []
    got: list[object] = []
    task.succeeded.connect(lambda value: got.append((value, threading.current_thread())))

    def answer() -> int:
        ran_on.append(threading.current_thread())
        return 42

    with qtbot.waitSignal(task.finished, timeout=5000):
        assert task.start(answer)
        assert task.busy
    assert got == [(42, threading.main_thread())]
    assert ran_on and ran_on[0] is not threading.main_thread()
    assert not task.busy


def test_an_exception_arrives_as_failed_without_its_traceback(qtbot) -> None:
    task = BackgroundTask("test")
    failures: list[BaseException] = []
    task.failed.connect(failures.append)
    task.succeeded.connect(lambda value: pytest.fail("a failed call must not succeed"))

    def broken() -> None:
        raise ValueError("no good")

    with qtbot.waitSignal(task.finished, timeout=5000):
        task.start(broken)
    assert len(failures) == 1 and isinstance(failures[0], ValueError) and str(failures[0]) == "no good"
    assert failures[0].__traceback__ is None


def test_one_call_at_a_time(qtbot) -> None:
    task = BackgroundTask("test")
    release = threading.Event()
    assert task.start(release.wait)
    assert not task.start(lambda: None)
    release.set()
    with qtbot.waitSignal(task.finished, timeout=5000):
        pass
    assert task.start(lambda: None)
    with qtbot.waitSignal(task.finished, timeout=5000):
        pass


def test_deliver_reports_at_once_and_only_once(qtbot) -> None:
    task = BackgroundTask("test")
    ended: list[object] = []
    task.succeeded.connect(ended.append)
    task.start(lambda: "done")
    assert task.deliver(5)
    assert ended == ["done"] and not task.busy
    qtbot.wait(50)  # the thread's own `finished` arrives later and is ignored
    assert ended == ["done"]


def test_a_call_outlives_the_task_that_started_it(qtbot) -> None:
    """An owner deleted while the call runs (a dialog closed while it measures) neither aborts the process (a
    QThread destroyed while running does) nor leaves the thread behind: it ends, then deletes itself."""
    owner = QObject()
    task = BackgroundTask("test", owner)
    release = threading.Event()
    threads: list[QThread] = []

    def held() -> None:
        threads.append(QThread.currentThread())
        release.wait()

    task.start(held)
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    shiboken6.delete(owner)  # the task goes with it
    del task, owner
    gc.collect()
    release.set()
    qtbot.waitUntil(lambda: not shiboken6.isValid(threads[0]), timeout=5000)
