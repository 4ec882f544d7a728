"""The window's front end over engine.video: `VideoWorker` renders one queued clip (a VideoRun) on a BackgroundTask
of its own and reports it to the GUI only through signals, each carrying the id of the queue's job it belongs to.

What crosses the thread boundary is little: the clip's plan; per finished frame one ClipProgress, one thumbnail
(at most THUMBNAIL_SIDE px, made here on the worker's thread) and the frame itself (for the canvas); the notes and
how the run ended. Nothing is sent per iteration: a queue row shows frames, not iterations. `cancel()` is
thread-safe and takes effect between two iterations (engine.video keeps the finished frames in the work folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.background import BackgroundTask
from engine.driver import BackendCache
from engine.errors import MAX_REASON_CHARS, FudeError, OutOfMemory
from engine.images import resize_longest
from engine.names import clean_name
from engine.video import ClipListener, ClipOutcome, ClipPlan, ClipProgress, VideoJob, VideoRun

THUMBNAIL_SIDE = 96  # a queue row's icon is 48 px: twice that stays sharp on a high-density screen


class _ClipView(ClipListener):
    """Turns the clip run's calls (on the worker's thread) into the worker's signals."""

    def __init__(self, worker: VideoWorker) -> None:
        self._worker = worker

    def on_plan(self, plan: ClipPlan) -> None:
        self._worker.planned.emit(self._worker.tag, plan)

    def on_frame_started(self, index: int, frames: int | None, fresh: bool) -> None:
        self._worker.frameStarted.emit(self._worker.tag, index)

    def on_frame_done(self, progress: ClipProgress, image: np.ndarray) -> None:
        small = resize_longest(image, THUMBNAIL_SIDE) if max(image.shape[:2]) > THUMBNAIL_SIDE else image
        self._worker.frameDone.emit(self._worker.tag, progress, np.ascontiguousarray(small))
        self._worker.framePicture.emit(self._worker.tag, np.ascontiguousarray(image))

    def on_encoding(self, output: Path, frames: int) -> None:
        self._worker.encoding.emit(self._worker.tag, frames)

    def on_notice(self, text: str) -> None:
        self._worker.notice.emit(self._worker.tag, text)


class VideoWorker(QObject):
    """Renders `job` with `backends` (the session's network): `start()` it, and its signals arrive on the GUI
    thread, each with `tag` (the queue's job id) first; `ended` comes last, once its thread is gone. One start per
    worker."""

    planned = Signal(int, object)  # engine.video.ClipPlan: the frames, their size, the frames already done
    frameStarted = Signal(int, int)  # the frame now rendered, 1-based
    frameDone = Signal(int, object, object)  # ClipProgress, its thumbnail (H x W x 3 uint8, small)
    framePicture = Signal(int, object)  # the finished frame itself (H x W x 3 uint8), once a frame
    encoding = Signal(int, int)  # the frames are being encoded (how many)
    notice = Signal(int, str)  # something the user should know that does not stop the render
    finished = Signal(int, object)  # engine.video.ClipOutcome (cancelled, or the file written)
    failed = Signal(int, str)  # one line, naming the file or the cause
    ended = Signal(int)  # after the last of the others, once the thread has ended

    def __init__(self, job: VideoJob, backends: BackendCache, tag: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.tag = tag
        self._run = VideoRun(job, backends, _ClipView(self))
        self._task = BackgroundTask("video", self)
        self._task.failed.connect(self._on_task_failed)
        self._task.finished.connect(self._on_task_finished)

    def start(self) -> bool:
        """Start rendering on the worker's own thread; False (nothing started) while it is already running."""
        return self._task.start(self._work)

    @property
    def running(self) -> bool:
        return self._task.busy

    def cancel(self) -> None:
        """Stop before the next iteration (thread-safe); the finished frames stay in the work folder."""
        self._run.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the thread has returned; True when nothing is left running. Cancel first."""
        return self._task.wait(timeout_s)

    def _work(self) -> None:
        tag = self.tag
        try:
            outcome: ClipOutcome = self._run.run()
        except OutOfMemory as exc:
            exc.__traceback__ = None  # its frames hold the run's tensors
            self.failed.emit(tag, str(exc))
        except FudeError as exc:
            self.failed.emit(tag, str(exc))
        except Exception as exc:  # noqa: BLE001 - any engine failure must reach the user, not end the thread unsaid
            self.failed.emit(tag, self._describe_unexpected(exc))
        else:
            self.finished.emit(tag, outcome)

    def _describe_unexpected(self, exc: BaseException) -> str:
        return clean_name(f"{self.job.clip.name}: {type(exc).__name__}: {exc}", MAX_REASON_CHARS)

    @Slot(object)
    def _on_task_failed(self, exc: BaseException) -> None:
        self.failed.emit(self.tag, self._describe_unexpected(exc))

    @Slot()
    def _on_task_finished(self) -> None:
        self.ended.emit(self.tag)
