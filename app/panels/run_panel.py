"""The run, as the window shows it: Start, Pause, Stop and Refine more (buttons and Run menu actions), the line of
figures and the progress bar under the canvas, the loss plot, the picture on the canvas with the hint before there
is one, and the way out offered when a run fails or may not fit in memory. While the queue renders a clip
(`follow_clips`), the canvas shows the clip's latest finished frame and the line under it how far the clip is; when
the clip ends the canvas shows the session's picture again.

The progress bar shows the share of the run's work done (`Progress.fraction`), not iterations: with the default
iteration count each scale ends when its picture settles, so the total is only the most the run may do."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from app.job_queue import JobQueue, JobStatus, QueueEntry
from app.qimage import to_qimage
from app.session import RunHandle, RunState, Session
from app.widgets.actions import make_action
from app.widgets.loss_plot import LossPlot
from app.widgets.message_bar import MessageBar
from app.widgets.preview_canvas import PreviewCanvas
from app.widgets.render_controls import format_lam
from engine.driver import REFINE_ITERATIONS, Progress, RunOutcome
from engine.errors import OutOfMemory
from engine.recovery import Recovered

if TYPE_CHECKING:
    from engine.memory import MemoryCheck


PROGRESS_STEPS = 1000  # the progress bar's range: the share of the run's work done, in steps of 0.1%


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_clip_render(entry: QueueEntry) -> str:
    """The line under the canvas while the queue renders `entry`'s clip, e.g. "Rendering pan.mp4 (queue job 3):
    frame 2 of 4 done · 3.1 s a frame · 0:06 left"."""
    clip, plan, progress = entry.job.clip, entry.plan, entry.progress
    what = f"Rendering {entry.job.content.name} (queue job {entry.job.id})"
    if clip is not None and entry.encoding:
        return f"{what}: writing {clip.output_name}…"
    total = entry.clip_frames[1]
    of = f" of {total}" if total else ""
    if progress is not None:
        left = f" · {format_duration(progress.seconds_left)} left" if progress.seconds_left is not None else ""
        return f"{what}: frame {progress.index}{of} done · {progress.seconds_per_frame:.1f} s a frame{left}"
    if plan is None:
        return f"{what}: starting…"
    estimate = f" · about {format_duration(plan.seconds)} for the clip" if plan.seconds is not None else ""
    return f"{what}: frame {plan.done + 1}{of}…{estimate}"


def describe_clip_end(entry: QueueEntry) -> str:
    """The line under the canvas once the queue has stopped rendering `entry`'s clip."""
    what = f"{entry.job.content.name} (queue job {entry.job.id})"
    if entry.status is JobStatus.DONE:
        return f"Rendered {what}: {Path(entry.path).name} written."
    if entry.status is JobStatus.CANCELLED:
        return f"Stopped rendering {what}{' ' if entry.message else ''}{entry.message}."
    if entry.status is JobStatus.FAILED:
        return f"Rendering {what} failed: {entry.message}"
    return ""


class RunPanel(QObject):
    """Shows `session`'s run on `canvas`, `stats`, `progress_bar` and `loss_plot`, and makes the Start, Pause,
    Stop and Refine more buttons and actions."""

    def __init__(self, session: Session, canvas: PreviewCanvas, stats: QLabel, progress_bar: QProgressBar,
                 loss_plot: LossPlot, messages: MessageBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._canvas = canvas
        self._stats = stats
        self._progress = progress_bar
        self._plot = loss_plot
        self._messages = messages
        self._queue: JobQueue | None = None  # the queue whose clips are followed (see `follow_clips`)
        self._clip_shown: int | None = None  # the queued job whose clip the canvas shows while it renders
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setToolTip("Start the render (Ctrl+Enter)")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setToolTip("Pause or resume the render (Ctrl+P)")
        self.pause_button.clicked.connect(session.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the render and keep the picture so far (Esc)")
        self.stop_button.clicked.connect(session.stop)
        self.refine_button = QPushButton("Refine more")
        self.refine_button.setObjectName("refineButton")
        self.refine_button.setToolTip(
            f"Run {REFINE_ITERATIONS} more iterations at the full size, starting from the picture as it is: finer "
            "grain, for printing it large (Ctrl+Shift+R)")
        self.refine_button.clicked.connect(session.refine)
        self.start_action = make_action(self, "&Start", self.start, ["Ctrl+Return", "Ctrl+Enter"])
        self.pause_action = make_action(self, "&Pause / Resume", session.toggle_pause, ["Ctrl+P"])
        self.stop_action = make_action(self, "S&top", session.stop, ["Esc"])
        self.refine_action = make_action(self, "&Refine more", session.refine, ["Ctrl+Shift+R"])
        session.stateChanged.connect(self._on_state)
        session.contentChanged.connect(self._on_pictures)
        session.stylesChanged.connect(self._on_pictures)
        session.resultChanged.connect(self._on_result)
        session.runStarting.connect(self._on_starting)
        session.phaseChanged.connect(stats.setText)
        session.runStarted.connect(self._on_started)
        session.progressChanged.connect(self._on_progress)
        session.runFinished.connect(self._on_finished)
        session.runFailed.connect(self._on_failed)
        session.runOutOfMemory.connect(self._on_out_of_memory)
        session.memoryWarning.connect(self._on_memory_warning)
        session.restoredChanged.connect(self._on_restored)
        session.canRefineChanged.connect(self._on_can_refine)
        session.clipJobChanged.connect(self._on_clip_job)
        self._progress.setRange(0, PROGRESS_STEPS)
        self._on_pictures()
        self._on_state(session.state)
        self._on_can_refine(session.can_refine)

    def follow_clips(self, queue: JobQueue) -> None:
        """While `queue` renders a clip, show its latest finished frame on the canvas and how far it is under it."""
        self._queue = queue
        queue.clipFrame.connect(self._on_clip_frame)
        queue.jobsChanged.connect(self._show_clip_progress)

    def start(self) -> bool:
        """Start a run (a slot for the button and the action); what went wrong is shown, not raised."""
        session = self._session
        if self._messages.kind == "error" and session.ready and session.state is RunState.IDLE and not session.running:
            self._messages.dismiss()  # a new start answers the last error
        return session.start()

    @Slot(object)
    def _on_state(self, state: RunState) -> None:
        self.start_button.setEnabled(state is RunState.IDLE and self._session.ready
                                     and self._session.clip_job is None)
        self.start_action.setEnabled(state is RunState.IDLE)
        self.pause_button.setEnabled(state.active)
        self.pause_button.setText("Resume" if state is RunState.PAUSED else "Pause")
        self.pause_action.setEnabled(state.active)
        self.stop_button.setEnabled(state.active)
        self.stop_action.setEnabled(state.active)
        if state is RunState.STOPPING:
            self._stats.setText(self._stats.text() + " · stopping…")
        elif state is RunState.PAUSED and self._session.last_progress is not None:
            self._on_progress(self._session.last_progress)

    @Slot(object)
    def _on_clip_job(self, job: int | None) -> None:
        """While the queue renders a clip nothing else runs (Start waits) and the canvas follows the clip: its
        frames as they finish, the hint and the line under it saying so; after it, the session's picture again."""
        self._on_state(self._session.state)
        if job is not None:
            self._clip_shown = job
            self._canvas.set_result(None)  # (the picture before is not the clip's: the hint says what comes)
            self._show_share(0.0)
            self._stats.setText(f"The queue is rendering a clip (job {job}); Start waits for it.")
            self._show_clip_progress()
        else:
            ended, self._clip_shown = self._clip_shown, None
            result = self._session.result
            self._canvas.set_result(None if result is None else to_qimage(result))
            entry = self._queue.entry(ended) if self._queue is not None and ended is not None else None
            self._stats.setText(describe_clip_end(entry) if entry is not None else "")
        self._on_pictures()

    @Slot(int, object)
    def _on_clip_frame(self, job: int, frame: np.ndarray) -> None:
        if job == self._clip_shown:
            self._canvas.set_result(to_qimage(frame))

    @Slot()
    def _show_clip_progress(self) -> None:
        """The line under the canvas and the progress bar: how far the clip the queue renders is."""
        job = self._clip_shown
        entry = self._queue.entry(job) if self._queue is not None and job is not None else None
        if entry is None:
            return
        self._stats.setText(describe_clip_render(entry))
        done, total = entry.clip_frames
        self._show_share(done / total if total else 0.0)

    def _clip_hint(self, job: int) -> str:
        entry = self._queue.entry(job) if self._queue is not None else None
        what = f"{entry.job.content.name} (job {job})" if entry is not None else f"a clip (job {job})"
        return (f"The queue is rendering {what}: each frame shows here once it is finished. Start waits until the "
                "clip is done.")

    @Slot(bool)
    def _on_can_refine(self, can: bool) -> None:
        self.refine_button.setEnabled(can)
        self.refine_action.setEnabled(can)

    def _show_share(self, done: float) -> None:
        """The progress bar at `done` (0..1) of the run's work."""
        self._progress.setValue(round(min(1.0, max(0.0, done)) * PROGRESS_STEPS))

    def _settling(self) -> bool:
        """The run under way ends each scale when its picture settles: its total is the most it may do."""
        job = self._session.job
        return job is not None and job.run_settings.iterations is None

    def _refining(self) -> bool:
        job = self._session.job
        return job is not None and job.refine > 0

    @Slot()
    def _on_pictures(self, *_: object) -> None:
        session = self._session
        content = session.content
        self._canvas.set_content(None if content is None else to_qimage(content.shown))
        self.start_button.setEnabled(session.state is RunState.IDLE and session.ready and session.clip_job is None)
        if self._clip_shown is not None:
            hint = self._clip_hint(self._clip_shown)
        elif content is None and not session.styles:
            hint = ("Drop a photo of a creature on Content and a painting on Style (from your files or a web "
                    "browser, or paste them), then press Start.")
        elif content is None:
            hint = "Now add the creature: drop or paste a photo on the Content pane."
        elif not session.styles:
            hint = "Now add a painting: drop or paste one on the Style pane."
        else:
            hint = "Press Start (Ctrl+Enter) and watch the picture grow out of the noise."
        self._canvas.set_hint(hint)
        self._canvas.set_welcome_wanted(content is None and not session.styles)

    @Slot(object)
    def _on_result(self, image: np.ndarray | None) -> None:
        if self._clip_shown is not None:
            return  # the canvas shows the clip; the session's picture comes back when the clip ends
        started = time.perf_counter()
        self._canvas.set_result(None if image is None else to_qimage(image))
        # what this frame cost to show, plus what painting the last one cost (painting comes later)
        self._session.report_display_cost(time.perf_counter() - started + self._canvas.take_paint_seconds())

    @Slot(object, int, int)
    def _on_starting(self, run: RunHandle, total: int, done: int) -> None:
        self._show_share(done / max(1, total))
        self._stats.setText("Starting…")

    @Slot(int, int, int)
    def _on_started(self, total: int, width: int, height: int) -> None:
        self._plot.clear(total)
        if self._refining():
            what = f"{total} more iterations at the full size"
        elif self._settling():
            what = f"up to {total} iterations (each scale ends when its picture settles)"
        else:
            what = f"{total} iterations"
        self._stats.setText(f"{'Refining' if self._refining() else 'Running'}: {width} × {height} px, {what}")

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        started = time.perf_counter()
        self._show_share(progress.fraction)
        self._plot.set_total(progress.total)  # shrinks when a scale ends early
        self._plot.add(progress.index, progress.losses)
        paused = " · paused" if self._session.state is RunState.PAUSED else ""
        of = "" if progress.settling else f" of {progress.total}"
        scale = f" · scale {progress.scale} of {progress.scales}" if progress.scales > 1 else ""
        self._stats.setText(
            f"Iteration {progress.index}{of}{scale} · {progress.iterations_per_second:.2f} it/s · "
            f"{format_duration(progress.seconds_left)} left · lam {format_lam(progress.lam)}{paused}")
        self._session.report_display_cost(time.perf_counter() - started + self._plot.take_paint_seconds())

    @Slot(object, object)
    def _on_finished(self, run: RunHandle, outcome: RunOutcome) -> None:
        more = " more" if self._refining() else ""
        took = f"{outcome.index}{more} iterations in {format_duration(outcome.elapsed)}"
        if outcome.cancelled:  # the bar stays where the run stopped
            again = "Start again or Refine more" if outcome.index > 0 else "or Start again"
            self._stats.setText(f"Stopped after {took}. The picture so far is kept: save it, {again}.")
        else:
            self._show_share(1.0)
            self._stats.setText(f"Done: {took}. Save it as PNG (Ctrl+S) or its evolution (Ctrl+Shift+S), or "
                                "Refine more.")

    @Slot(object, str)
    def _on_failed(self, run: RunHandle, message: str) -> None:
        self._messages.show_error(message)
        kept = " The last picture is kept." if self._session.result is not None else ""
        self._stats.setText(f"The render failed.{kept}")

    @Slot(object, object)
    def _on_out_of_memory(self, run: RunHandle, error: OutOfMemory) -> None:
        kept = " The last good picture is kept." if self._session.result is not None else ""
        text = f"{error}.{kept}"
        if not run.from_panes:  # a retry would run the panes' pictures, not the job's: the queue's row says why
            self._messages.show_error(f"{text} The queued job is marked failed in the queue.")
        elif error.fits is not None:
            self._messages.show_error(text, f"Retry at {error.fits} px", partial(self._session.retry_at, error.fits))
        elif error.path != "cpu":
            self._messages.show_error(text, "Retry on the CPU", partial(self._session.retry_at, None, "cpu"))
        else:
            self._messages.show_error(text)
        self._stats.setText(f"Out of memory.{kept}")

    @Slot(object)
    def _on_memory_warning(self, check: MemoryCheck) -> None:
        text = f"{check.warning()}. The render goes on, but may run out of memory."
        run = self._session.run
        if check.fits is not None and run is not None and run.from_panes:  # (a restart runs the panes' pictures)
            self._messages.show_info(text, f"Restart at {check.fits} px", partial(self._session.retry_at, check.fits))
        else:
            self._messages.show_info(text)

    @Slot(object)
    def _on_restored(self, found: Recovered | None) -> None:
        if found is None:
            return
        index, total = found.index, found.total
        self._plot.clear(total)
        self._show_share(index / max(1, total))
        of = f"of at most {total}" if found.settings.iterations is None else f"of {total}"
        self._stats.setText(f"Restored at iteration {index} {of}.")
        if index < total:
            self._messages.show_info("The unfinished picture is back: save it (Ctrl+S), or continue the render from "
                                     "it.", "Continue", self._session.continue_restored)
        else:
            self._messages.show_info("The unfinished picture is back: save it (Ctrl+S).")
