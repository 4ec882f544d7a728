"""The one way the window runs work off the GUI thread: `BackgroundTask` calls a function on a QThread of its own
and reports how it ended through signals, which arrive on the GUI thread.

The function never touches a widget. Whatever it needs to say while it runs, it says through signals of a QObject
that lives on the GUI thread (Qt queues a signal emitted on another thread to its receivers' thread), and what it
returns or raises arrives as `succeeded` or `failed`. The render, the saves, measuring the evolution's file size,
the memory probe and the history's thumbnails all use it, so one test fixture (tests/app/conftest.py's dangling
QThread check) watches every thread the window starts.

A call may outlive the task that started it (a dialog deleted on closing while it measures): the thread belongs to
the application, not to the task, deletes itself once it has ended, and quitting the application waits for it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot


class _CallThread(QThread):
    """A QThread whose `run` calls one function and keeps what came of it."""

    def __init__(self, function: Callable[[], object], name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self._function = function
        self.returned: object = None
        self.raised: BaseException | None = None

    def run(self) -> None:
        try:
            self.returned = self._function()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread, whose `failed` slot reports it
            exc.__traceback__ = None  # its frames may hold large arrays or tensors; the message is what is needed
            self.raised = exc
        finally:
            self._function = None  # type: ignore[assignment]  # drop what the call held, on this thread

    @Slot()
    def finish_before_quit(self) -> None:
        """The application is quitting: let the call end, rather than destroy a running thread (which aborts)."""
        self.wait()


class BackgroundTask(QObject):
    """Runs one function at a time on its own thread. Once it has ended, `succeeded(value)` or `failed(exception)`
    arrives on the GUI thread, then `finished()`; by then `busy` is False and another call may start."""

    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._thread: _CallThread | None = None

    @property
    def busy(self) -> bool:
        """A call has started and its end has not been reported yet."""
        return self._thread is not None

    def start(self, function: Callable[[], object]) -> bool:
        """Call `function()` in the background; False (and nothing started) while a call is under way."""
        if self._thread is not None:
            return False
        thread = _CallThread(function, f"fude-{self._name}")
        thread.finished.connect(self._on_thread_finished)  # first: it runs before the deleteLater below
        # Whoever owns this task may be deleted while the call runs (an export dialog closed while it measures),
        # and a QThread destroyed while running aborts the process. So the application owns the thread, which
        # deletes itself once it has ended, reported or not, and quitting waits for it.
        app = QCoreApplication.instance()
        if app is not None:
            thread.setParent(app)
            app.aboutToQuit.connect(thread.finish_before_quit)
        thread.finished.connect(thread.deleteLater)
        self._thread = thread
        thread.start()
        return True

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the call under way has returned (its signals are delivered later, by the event loop); True
        when no call is left running."""
        thread = self._thread
        if thread is None:
            return True
        if timeout_s is None:
            return thread.wait()
        return thread.wait(max(0, round(timeout_s * 1000)))

    def deliver(self, timeout_s: float | None = None) -> bool:
        """Wait for the call under way and report how it ended now, without waiting for the event loop (for a
        window that is closing); True when no call is left running."""
        if not self.wait(timeout_s):
            return False
        if self._thread is not None:
            self._report(self._thread)
        return True

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if thread is self._thread and thread is not None:  # not one that `deliver` has already reported
            self._report(thread)

    def _report(self, thread: _CallThread) -> None:
        self._thread = None
        thread.wait()  # `finished` is emitted just before the thread's last instructions
        returned, raised = thread.returned, thread.raised
        thread.returned = thread.raised = None
        thread.deleteLater()
        if raised is None:
            self.succeeded.emit(returned)
        else:
            self.failed.emit(raised)
        self.finished.emit()
