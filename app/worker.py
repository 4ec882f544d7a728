"""The window's front end over engine.driver: `RenderWorker` drives one run on a BackgroundTask of its own and
reports it to the GUI only through signals.

The run itself (memory check, the StyleRun, recording the evolution, the recovery copy, keeping the last good
picture after a failure) is engine.driver's `RunDriver`, the same code the command line drives. What is the
window's own is here: the signals, the pause (the run waits between steps), and throttled previews. A frame's
image is made (`Frame.image()`) only when a preview is due (at most `max_fps` a second, only once the GUI has
drawn the previous one, so the event queue never holds more than one image, and only while showing the run stays
within PREVIEW_SHARE of its time) or when the record wants that iteration. Only CPU numpy arrays and small frozen
dataclasses cross the thread boundary.

The controls (`cancel`, `pause`, `resume`, `set_lam`, `set_style_weights`, `set_regions`, `acknowledge_frame`,
`add_display_cost`) are plain thread-safe methods the GUI calls directly: they only set threading primitives or
call the driver's own thread-safe setters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.background import BackgroundTask
from engine.driver import BackendCache, Progress, RenderJob, RunDriver, RunListener, RunOutcome, RunRecord
from engine.errors import MAX_REASON_CHARS, FudeError, OutOfMemory
from engine.names import clean_name
from engine.regions import Regions

if TYPE_CHECKING:  # torch is imported on the render thread, when a run starts, never by the widgets
    from engine.memory import MemoryCheck
    from engine.recovery import RecoverySession
    from engine.run import Frame, StyleRun

PREVIEW_FPS = 30.0
# The share of the run's wall time that showing it may take: making preview images here, and converting,
# painting and plotting on the GUI thread, which on a small CPU competes with the engine's own threads.
PREVIEW_SHARE = 0.02


@dataclass(frozen=True)
class PreviewFrame:
    index: int
    image: np.ndarray  # H x W x 3 uint8; the size may change between frames


class _RunView(RunListener):
    """How the window sees a run: turns the driver's calls (on the render thread) into the worker's signals,
    throttling previews and progress, and waits in a pause between steps. The threading primitives are shared
    with the GUI thread; the rest is touched by the render thread only."""

    def __init__(self, worker: RenderWorker, record: RunRecord, max_fps: float) -> None:
        self._worker = worker
        self._record = record
        self._min_interval = 1.0 / max_fps
        self._lock = threading.Lock()
        self._display_seconds = 0.0  # time spent showing the run so far, here and on the GUI thread
        self.running = threading.Event()  # cleared while paused; the loop waits on it without spinning
        self.running.set()
        self.frame_drawn = threading.Event()  # set when the GUI has taken the last preview
        self.frame_drawn.set()
        self.waiting = threading.Event()  # set while the loop is blocked in a pause
        # render thread only
        self._since = time.monotonic()
        self._last_preview = self._last_progress = float("-inf")
        # the latest frame whose progress the budget held back, with the weights in use then
        self._unreported: tuple[Frame, float, tuple[float, ...]] | None = None

    # ---- from the GUI thread ----

    def add_display_cost(self, seconds: float) -> None:
        with self._lock:
            self._display_seconds += seconds

    def _display_allowed(self, now: float) -> bool:
        with self._lock:
            return self._display_seconds <= PREVIEW_SHARE * (now - self._since)

    # ---- the driver's calls, on the render thread ----

    def on_phase(self, text: str) -> None:
        self._worker.phase.emit(text)

    def on_memory_warning(self, check: MemoryCheck) -> None:
        self._worker.memoryWarning.emit(check)

    def on_started(self, run: StyleRun) -> None:
        width, height = run.size
        self._since = time.monotonic()
        self._worker.started.emit(run.total, width, height)

    def before_step(self, run: StyleRun) -> None:
        while not self.running.is_set():
            self.report_held_back()  # a paused run shows where it really is
            self.waiting.set()
            self._worker.pausedChanged.emit(True)
            self.running.wait()
            self.waiting.clear()
            self._worker.pausedChanged.emit(False)

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        now = time.monotonic()
        last = frame.index >= frame.total
        allowed = last or self._display_allowed(now)
        if self.frame_drawn.is_set() and allowed and (now - self._last_preview >= self._min_interval or last):
            if image is None:
                made = time.monotonic()
                image = frame.image()
                self.add_display_cost(time.monotonic() - made)
            self._record.set_latest(image)
            self.frame_drawn.clear()
            self._last_preview = now
            self._worker.frameReady.emit(PreviewFrame(frame.index, image))
        weights = (run.weights.lam, run.style_weights)
        if allowed and now - self._last_progress >= self._min_interval or last:
            self._last_progress = now
            self._unreported = None
            self._worker.progress.emit(Progress.of(frame, *weights))
        else:
            self._unreported = (frame, *weights)

    def on_notice(self, text: str) -> None:
        self._worker.notice.emit(text)

    def on_recovery_failed(self, reason: str) -> None:
        self._worker.notice.emit(f"The recovery copy cannot be written ({reason}); the render goes on.")

    def on_kept_picture(self, index: int, image: np.ndarray) -> None:
        self._worker.frameReady.emit(PreviewFrame(index, image))

    def report_held_back(self) -> None:
        """Send the progress the budget held back (a paused or stopped run shows where it really is)."""
        if self._unreported is not None:
            frame, lam, style_weights = self._unreported
            self._unreported = None
            self._worker.progress.emit(Progress.of(frame, lam, style_weights))

    def forget(self) -> None:
        """Drop the frame held back: it holds the run's tensors."""
        self._unreported = None


class RenderWorker(QObject):
    """Runs one job: `start()` it, and its signals arrive on the GUI thread; `ended` comes last, once its thread
    is gone. One start per worker: a new run is a new worker."""

    phase = Signal(str)  # "Loading the network…", "Preparing the pictures…"
    started = Signal(int, int, int)  # total iterations, width, height
    progress = Signal(object)  # engine.driver.Progress
    frameReady = Signal(object)  # PreviewFrame
    finished = Signal(object)  # engine.driver.RunOutcome
    failed = Signal(str)  # "PATH: what is wrong", as the engine's errors say it; always one line
    outOfMemory = Signal(object)  # engine.errors.OutOfMemory, instead of `failed`: its `fits` can be offered
    memoryWarning = Signal(object)  # engine.memory.MemoryCheck of a run that will probably not fit
    notice = Signal(str)  # something the user should know that does not stop the run
    pausedChanged = Signal(bool)
    ended = Signal()  # after the run's last signal (finished, failed or outOfMemory), once its thread has ended

    def __init__(self, job: RenderJob, record: RunRecord, backends: BackendCache,
                 max_fps: float = PREVIEW_FPS, recovery: RecoverySession | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.record = record
        self._view = _RunView(self, record, max_fps)
        self._driver = RunDriver(job, record, backends, listener=self._view, recovery=recovery)
        self._task = BackgroundTask("render", self)
        self._task.failed.connect(self._on_task_failed)
        self._task.finished.connect(self.ended)

    # ---- running it ----

    def start(self) -> bool:
        """Start the run on the worker's own thread; False (nothing started) while it is already running."""
        return self._task.start(self._work)

    @property
    def running(self) -> bool:
        """The run has started and `ended` has not been emitted yet."""
        return self._task.busy

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run's thread has returned (its last signals are delivered later, by the event loop);
        True when nothing is left running. Cancel first, or this waits for the whole run."""
        return self._task.wait(timeout_s)

    # ---- controls: called from the GUI thread, thread-safe ----

    @Slot()
    def cancel(self) -> None:
        self._driver.cancel()
        self._view.running.set()  # wake a paused loop so it can see the cancel

    @Slot()
    def pause(self) -> None:
        self._view.running.clear()

    @Slot()
    def resume(self) -> None:
        self._view.running.set()

    @property
    def paused(self) -> bool:
        return not self._view.running.is_set()

    @property
    def waiting_in_pause(self) -> bool:
        """True while the loop is blocked in a pause (no iteration can be under way)."""
        return self._view.waiting.is_set()

    @Slot(float)
    def set_lam(self, lam: float) -> None:
        """Takes effect from the next iteration on; before the run exists it is applied when it starts."""
        self._driver.set_lam(lam)

    def set_style_weights(self, weights: tuple[float, ...]) -> None:
        """One weight per style picture (not all 0): takes effect from the next iteration on, like lam. Weights
        the run cannot use (another count) are ignored; weights it refuses are said through `notice`."""
        self._driver.set_style_weights(weights)

    def set_regions(self, regions: Regions | None) -> None:
        """New regions (one mask per style picture): take effect from the next iteration on, like lam; masks the
        run refuses are said through `notice`."""
        self._driver.set_regions(regions)

    def acknowledge_frame(self) -> None:
        """The GUI has taken the last preview: the next one may be sent."""
        self._view.frame_drawn.set()

    def add_display_cost(self, seconds: float) -> None:
        """The GUI reports the time it spent showing a frame or progress (converting, painting, plotting):
        previews and progress are sent only while the total stays within PREVIEW_SHARE of the run's time."""
        self._view.add_display_cost(seconds)

    # ---- the run, on the worker's thread ----

    def _work(self) -> None:
        try:
            outcome: RunOutcome = self._driver.drive()
        except OutOfMemory as exc:
            exc.__traceback__ = None  # its frames hold the run's tensors; the GUI needs only the message and sizes
            self.outOfMemory.emit(exc)
        except FudeError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - any engine failure must reach the user, not end the thread unsaid
            self.failed.emit(self._describe_unexpected(exc))
        else:
            self._view.report_held_back()  # a stopped run shows where it stopped
            self.finished.emit(outcome)
        finally:
            self._view.forget()

    def _describe_unexpected(self, exc: BaseException) -> str:
        """One line for an error the engine did not expect: what was being done, the error's kind and words."""
        return clean_name(f"{self.job.describe()}: {type(exc).__name__}: {exc}", MAX_REASON_CHARS)

    @Slot(object)
    def _on_task_failed(self, exc: BaseException) -> None:
        """Something escaped `_work` itself (an error raised while reporting another): still one line."""
        self.failed.emit(self._describe_unexpected(exc))
