"""Drive one StyleRun on a QThread and report to the GUI only through signals.

The worker's `run` slot is one long loop on its own thread, so the controls (`cancel`, `pause`, `resume`,
`set_lam`, `set_style_weights`, `acknowledge_frame`) are plain thread-safe methods that the GUI calls directly;
they only set threading primitives or call the engine's own thread-safe setters. Previews are throttled: a
frame's image is made (`Frame.image()`) only when a preview is due (at most `max_fps` a second and only once the
GUI has drawn the previous one, so the event queue never holds more than one image) or when the GIF recorder
wants that iteration. Only CPU numpy arrays and small frozen dataclasses cross the thread boundary.

It also keeps the picture safe: before the run it checks that the run fits in memory (`memoryWarning`), during
it a recovery copy is saved every few seconds (and when the run stops or fails), and when a step runs out of
memory or diverges for good the last good picture is sent as a preview before the failure is reported.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.refcount_guard import guard_singleton_refcounts
from engine.errors import FudeError, OutOfMemory
from engine.export import GIF_MAX_FRAMES, FrameRecorder
from engine.settings import RenderSettings, join_style_names

if TYPE_CHECKING:  # torch is imported on the worker thread, when a run starts, never by the widgets
    from engine.recovery import RecoverySession
    from engine.run import Backend, Frame, StyleRun

guard_singleton_refcounts()  # before any Qt call is made: see app/compat.py

PREVIEW_FPS = 30.0
# The share of the run's wall time that showing it may take: making preview images here, and converting,
# painting and plotting on the GUI thread, which on a small CPU competes with the engine's own threads.
PREVIEW_SHARE = 0.02


@dataclass(frozen=True)
class RenderJob:
    """What to render: the content and one or more style pictures (H x W x 3 uint8), their names for messages
    and the PNG, the settings (whose style_weights, when set, hold one weight per style picture). One style
    picture and one name may be given as they are; they are kept as tuples of one."""

    content: np.ndarray
    styles: tuple[np.ndarray, ...]
    settings: RenderSettings
    content_name: str
    style_names: tuple[str, ...]
    start_image: np.ndarray | None = None  # continue from this picture (a restored one) ...
    start_index: int = 0  # ... which had this many iterations done

    def __post_init__(self) -> None:
        if isinstance(self.styles, np.ndarray):
            object.__setattr__(self, "styles", (self.styles,))
        if isinstance(self.style_names, str):
            object.__setattr__(self, "style_names", (self.style_names,))
        object.__setattr__(self, "styles", tuple(self.styles))
        object.__setattr__(self, "style_names", tuple(self.style_names))
        if not self.styles or len(self.styles) != len(self.style_names):
            raise ValueError(f"{len(self.styles)} style pictures with {len(self.style_names)} names")

    @property
    def style(self) -> np.ndarray:
        """The first style picture."""
        return self.styles[0]

    @property
    def style_name(self) -> str:
        """Every style picture's name, joined with " + "."""
        return join_style_names(self.style_names)

    def describe(self) -> str:
        return f"rendering {self.content_name} in the style of {self.style_name}"


@dataclass(frozen=True)
class Progress:
    """One iteration's numbers, as shown under the canvas."""

    index: int
    total: int
    elapsed: float
    iterations_per_second: float
    seconds_left: float
    losses: dict[str, float]
    lam: float  # the lam the run uses from this iteration on
    scale: int = 1  # coarse-to-fine: which scale (1-based) of how many this iteration worked at
    scales: int = 1
    style_weights: tuple[float, ...] = ()  # each style picture's weight in use, normalised


@dataclass(frozen=True)
class PreviewFrame:
    index: int
    image: np.ndarray  # H x W x 3 uint8; the size may change between frames


@dataclass(frozen=True)
class RunOutcome:
    image: np.ndarray  # the picture as it stands when the run ended
    index: int
    total: int
    cancelled: bool
    elapsed: float


class RunRecord:
    """What a run leaves behind for saving, shared between the worker (writing) and the GUI (reading) under a
    lock: the GIF frames recorded so far and the latest picture. It outlives the worker, so Save GIF works
    mid-run, after a stop and after a failure."""

    def __init__(self, job: RenderJob, max_frames: int = GIF_MAX_FRAMES) -> None:
        self.settings = job.settings
        self.content = job.content  # what "keep colours" takes the colours from
        self.content_name = job.content_name
        self.style_names = job.style_names
        self.style_name = job.style_name
        self._lock = threading.Lock()
        self._recorder = FrameRecorder(max_frames=max_frames)
        self._latest: np.ndarray | None = None
        self._lam = job.settings.lam
        self._style_weights = job.settings.style_weights

    def wants(self, index: int) -> bool:
        with self._lock:
            return self._recorder.wants(index)

    def add(self, index: int, image: np.ndarray) -> None:
        with self._lock:
            self._recorder.add(index, image)
            self._latest = image

    def set_latest(self, image: np.ndarray, lam: float | None = None) -> None:
        with self._lock:
            self._latest = image
            if lam is not None:
                self._lam = lam

    def set_lam(self, lam: float) -> None:
        with self._lock:
            self._lam = lam

    def set_style_weights(self, weights: tuple[float, ...]) -> None:
        """The style weights in use (normalised); kept only for a run of several style pictures."""
        if len(self.style_names) > 1 and len(weights) == len(self.style_names):
            with self._lock:
                self._style_weights = tuple(weights)

    @property
    def latest(self) -> np.ndarray | None:
        with self._lock:
            return self._latest

    @property
    def final_settings(self) -> RenderSettings:
        """The run's settings with the lam and style weights it ended on (both may be moved mid-run)."""
        with self._lock:
            return self.settings.replaced(lam=self._lam, style_weights=self._style_weights)

    def gif_images(self) -> list[np.ndarray]:
        """The evolution so far, evenly spread, ending with the latest picture."""
        with self._lock:
            return self._recorder.images(final=self._latest)


class BackendCache:
    """The VGG19 network and device choice, created on a worker thread when first needed and reused by every
    later run it suits. Tests inject a ready one."""

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend
        self._lock = threading.Lock()

    def get(self, settings: RenderSettings) -> Backend:
        with self._lock:
            if self._backend is None or not self._backend.suits(settings):
                from engine.run import Backend

                self._backend = None  # drop the old network before loading another
                self._backend = Backend.create(settings)
            return self._backend


class RenderWorker(QObject):
    """Runs one job. Move it to a QThread and connect the thread's `started` to `run`."""

    phase = Signal(str)  # "Loading the network…", "Preparing the pictures…"
    started = Signal(int, int, int)  # total iterations, width, height
    progress = Signal(object)  # Progress
    frameReady = Signal(object)  # PreviewFrame
    finished = Signal(object)  # RunOutcome
    failed = Signal(str)  # "PATH: what is wrong", as the engine's errors say it
    outOfMemory = Signal(object)  # engine.errors.OutOfMemory, instead of `failed`: its `fits` can be offered
    memoryWarning = Signal(object)  # engine.memory.MemoryCheck of a run that will probably not fit
    notice = Signal(str)  # something the user should know that does not stop the run
    pausedChanged = Signal(bool)

    def __init__(self, job: RenderJob, record: RunRecord, backends: BackendCache,
                 max_fps: float = PREVIEW_FPS, recovery: RecoverySession | None = None) -> None:
        super().__init__()
        self.job = job
        self.record = record
        self._backends = backends
        self._recovery = recovery
        self._recovery_failed = False
        self._min_interval = 1.0 / max_fps
        self._lock = threading.Lock()
        self._run: StyleRun | None = None
        self._lam = job.settings.lam
        self._style_weights: tuple[float, ...] | None = None  # moved before the run existed: applied at its start
        self._cancelled = threading.Event()
        self._running = threading.Event()  # cleared while paused; the loop waits on it without spinning
        self._running.set()
        self._frame_drawn = threading.Event()  # set when the GUI has taken the last preview
        self._frame_drawn.set()
        self._waiting = threading.Event()  # set while the loop is blocked in a pause
        self._display_seconds = 0.0  # time spent showing the run so far, here and on the GUI thread

    # ---- controls: called from the GUI thread, thread-safe ----

    @Slot()
    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._run is not None:
                self._run.cancel()
        self._running.set()  # wake a paused loop so it can see the cancel

    @Slot()
    def pause(self) -> None:
        self._running.clear()

    @Slot()
    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def waiting_in_pause(self) -> bool:
        """True while the loop is blocked in a pause (no iteration can be under way)."""
        return self._waiting.is_set()

    @Slot(float)
    def set_lam(self, lam: float) -> None:
        """Takes effect from the next iteration on; before the run exists it is applied when it starts."""
        with self._lock:
            self._lam = lam
            if self._run is not None:
                self._run.set_lam(lam)

    def set_style_weights(self, weights: tuple[float, ...]) -> None:
        """One weight per style picture (not all 0): takes effect from the next iteration on, like lam. Weights
        the run cannot use (another count) are ignored: the pictures they were meant for are not this run's."""
        weights = tuple(float(w) for w in weights)
        if len(weights) != len(self.job.styles):
            return
        with self._lock:
            self._style_weights = weights
            if self._run is not None:
                self._apply_style_weights(self._run, weights)

    def _apply_style_weights(self, run: StyleRun, weights: tuple[float, ...]) -> None:
        try:
            run.set_weights(style_weights=weights)
        except ValueError as exc:
            self.notice.emit(f"The style weights were not changed: {exc}")

    def acknowledge_frame(self) -> None:
        """The GUI has taken the last preview: the next one may be sent."""
        self._frame_drawn.set()

    def add_display_cost(self, seconds: float) -> None:
        """The GUI reports the time it spent showing a frame or progress (converting, painting, plotting):
        previews and progress are sent only while the total stays within PREVIEW_SHARE of the run's time."""
        with self._lock:
            self._display_seconds += seconds

    def _display_allowed(self, now: float, since: float) -> bool:
        with self._lock:
            return self._display_seconds <= PREVIEW_SHARE * (now - since)

    # ---- the loop, on the worker thread ----

    @Slot()
    def run(self) -> None:
        out_of_memory = False
        try:
            self._render()
        except OutOfMemory as exc:
            out_of_memory = True
            self._keep_last_picture()
            exc.__traceback__ = None  # its frames hold the run's tensors; the GUI needs only the message and sizes
            self.outOfMemory.emit(exc)
        except FudeError as exc:
            self._keep_last_picture()
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - any engine failure must reach the user, not kill the thread
            self._keep_last_picture()
            self.failed.emit(f"{self.job.describe()}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._run = None  # free the run's tensors on this thread
            if out_of_memory:
                from engine.memory import release_memory

                release_memory()  # now that the run's own tensors are gone too
            # Hand the object back to the GUI thread so it can be deleted there, and end this thread's event
            # loop from inside it (so a GUI thread blocked in QThread.wait() is not needed to deliver a quit).
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            QThread.currentThread().quit()

    def _keep_last_picture(self) -> None:
        """After a failure: send the run's last good picture to the GUI and to the recovery copy."""
        with self._lock:
            run = self._run
        if run is None or run.index == run.first:
            return
        image = run.result()
        self.record.set_latest(image, lam=run.weights.lam)
        self.frameReady.emit(PreviewFrame(run.index, image))
        self._save_recovery(image, run.index, run.total, force=True)

    def _save_recovery(self, image: np.ndarray | None, index: int, total: int, force: bool = False,
                       frame: Frame | None = None) -> None:
        """Save the recovery copy if one is due (or `force`d); the image is made from `frame` only then."""
        session = self._recovery
        if session is None or not (force or session.due()):
            return
        if image is None:
            if frame is None:
                return
            image = frame.image()
        if not session.save(image, self.record.final_settings, index, total, force=force) and session.last_error:
            if not self._recovery_failed:  # say it once, and go on rendering
                self._recovery_failed = True
                self.notice.emit(f"The recovery copy cannot be written ({session.last_error}); the render goes on.")

    def _check_memory(self, backend: Backend) -> None:
        from engine.memory import check_memory, largest_style_shape

        job = self.job
        style_shape = largest_style_shape([style.shape for style in job.styles])
        check = check_memory(job.content.shape, style_shape, job.settings, backend.device,
                             backend.precision.dtype.itemsize, gif_frames=GIF_MAX_FRAMES)
        if not check.enough:
            self.memoryWarning.emit(check)

    def _render(self) -> None:
        settings = self.job.settings
        self.phase.emit("Loading the network…")
        backend = self._backends.get(settings)
        if self._cancelled.is_set():
            return self._finish_cancelled_before_start()
        self._check_memory(backend)
        self.phase.emit("Preparing the pictures…")
        from engine.run import StyleRun

        run = StyleRun(self.job.content, self.job.styles, settings, backend, start=self.job.start_image,
                       start_index=self.job.start_index)
        with self._lock:
            self._run = run
            if self._lam != settings.lam:
                run.set_lam(self._lam)
            if self._style_weights is not None:
                self._apply_style_weights(run, self._style_weights)
            if self._cancelled.is_set():
                run.cancel()
        width, height = run.size
        self.started.emit(run.total, width, height)
        last_preview = last_progress = float("-inf")
        since = time.monotonic()
        unreported: Frame | None = None  # the latest frame whose progress the budget held back
        while not run.done:
            if not self._running.is_set():
                if unreported is not None:  # a paused run shows where it really is
                    self._report(unreported, run)
                    unreported = None
                self._waiting.set()
                self.pausedChanged.emit(True)
                self._running.wait()
                self._waiting.clear()
                self.pausedChanged.emit(False)
                continue
            frame = run.step()
            now = time.monotonic()
            last = frame.index >= frame.total
            if frame.notice:
                self.notice.emit(frame.notice)
            image = None
            if self.record.wants(frame.index):
                image = frame.image()
                self.record.add(frame.index, image)
            self._save_recovery(image, frame.index, frame.total, frame=frame)
            allowed = last or self._display_allowed(now, since)
            if self._frame_drawn.is_set() and allowed and (now - last_preview >= self._min_interval or last):
                if image is None:
                    made = time.monotonic()
                    image = frame.image()
                    self.add_display_cost(time.monotonic() - made)
                self.record.set_latest(image)
                self._frame_drawn.clear()
                last_preview = now
                self.frameReady.emit(PreviewFrame(frame.index, image))
            if allowed and now - last_progress >= self._min_interval or last:
                last_progress = now
                self._report(frame, run)
                unreported = None
            else:
                unreported = frame
        if unreported is not None:  # a stopped run shows where it stopped
            self._report(unreported, run)
        result = run.result()
        self.record.set_latest(result, lam=run.weights.lam)
        self.record.set_style_weights(run.style_weights)
        if run.cancelled and run.index > run.first:
            self._save_recovery(result, run.index, run.total, force=True)  # a stopped picture stays safe too
        self.finished.emit(RunOutcome(image=result, index=run.index, total=run.total,
                                      cancelled=run.cancelled, elapsed=run.elapsed))

    def _report(self, frame: Frame, run: StyleRun) -> None:
        lam = run.weights.lam
        style_weights = run.style_weights
        self.record.set_lam(lam)
        self.record.set_style_weights(style_weights)
        self.progress.emit(Progress(
            index=frame.index, total=frame.total, elapsed=frame.elapsed,
            iterations_per_second=frame.iterations_per_second, seconds_left=frame.seconds_left,
            losses=frame.losses, lam=lam, scale=frame.scale, scales=frame.scales, style_weights=style_weights,
        ))

    def _finish_cancelled_before_start(self) -> None:
        latest = self.record.latest
        image = latest if latest is not None else np.zeros((1, 1, 3), np.uint8)
        self.finished.emit(RunOutcome(image=image, index=0, total=self.job.settings.iteration_count,
                                      cancelled=True, elapsed=0.0))
