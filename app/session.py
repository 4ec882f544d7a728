"""Session: the window's one source of truth. It holds the pictures (the content and the style mix), the
RenderSettings (and the VideoSettings the next clip is rendered with: its steadiness), the run state, the picture
on the canvas and the record of the run that made it, the recovery copy of that picture, and (while Match colours
is on) small previews of the paintings in the content's colours; it starts, pauses and stops the render, and
refines a finished picture (Refine more). While the queue renders a clip (`begin_clip` / `end_clip`: the clip's
frames take the same network and the same cores) no run starts.

Data flows one way: a widget's intent -> a command here -> the render worker -> back here through the worker's
signals -> a `*_changed` signal -> the widgets. Widgets and panels never hold a copy of this state; this module
imports no widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal, Slot

from app.loaded_image import LoadedImage
from app.worker import PreviewFrame, RenderWorker
from engine.colour import match_colours, match_note
from engine.driver import REFINE_ITERATIONS, BackendCache, Progress, RenderJob, RunOutcome, RunRecord
from engine.errors import FudeError, OutOfMemory
from engine.images import resize_longest
from engine.recovery import Recovered, RecoverySession, RecoveryStore
from engine.schedule import most_iterations
from engine.settings import RenderSettings, StoredRender, describe_changes, png_text_chunks
from engine.transparency import resize_alpha
from engine.video_settings import VideoSettings

if TYPE_CHECKING:  # engine.memory imports torch, which is loaded on the worker's thread, never by the window
    from engine.memory import MemoryCheck

# closing waits this long at most: a run stops within one iteration, but loading the network takes longer
STOP_WAIT_S = 30.0
# the Match colours previews are made from copies of the pictures at most this large: quick, and the colours the
# map finds there are those it finds on the whole pictures
MATCH_PREVIEW_SIDE = 512


def _at_most(image: np.ndarray, side: int) -> np.ndarray:
    """`image` scaled down to a longest side of at most `side` px."""
    return image if max(image.shape[:2]) <= side else resize_longest(image, side)


class RunState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"

    @property
    def active(self) -> bool:
        """A run is going (running or paused): it can be paused, resumed or stopped."""
        return self in (RunState.RUNNING, RunState.PAUSED)


@dataclass(frozen=True)
class RunHandle:
    """One run the session started: its `id` (new for every run of the session), where it came from, and its
    `record` (what it leaves behind: its settings as it ended, its names, its evolution). A run started from the
    panes (Start, Continue, Refine more, a retry) has `queue_job` None and is the only kind that takes the changes
    made in the panes while it runs (lam, style weights, regions); a queued job's run (`queue_job`: the job's id)
    is its own run, and nothing done in the panes changes it."""

    id: int
    queue_job: int | None = None
    record: RunRecord | None = field(default=None, compare=False, repr=False)

    @property
    def from_panes(self) -> bool:
        return self.queue_job is None

    @property
    def origin(self) -> str:
        """Where the run came from, in words: "panes" or "queue job N"."""
        return "panes" if self.queue_job is None else f"queue job {self.queue_job}"


class _RunEnds(QObject):
    """Hands one worker's ends (finished, failed, out of memory, ended) to the session on the GUI thread, each
    with the handle of the worker's run. (A QObject of the GUI thread, so that the worker's signals, sent from
    its own thread, reach it queued, as they would a method of the session itself.)"""

    def __init__(self, run: RunHandle, worker: RenderWorker, finished: Callable[[RunHandle, RunOutcome], None],
                 failed: Callable[[RunHandle, str], None], out_of_memory: Callable[[RunHandle, OutOfMemory], None],
                 ended: Callable[[RunHandle], None]) -> None:
        super().__init__(worker)
        self._run = run
        self._calls = (finished, failed, out_of_memory, ended)
        worker.finished.connect(self.finished)
        worker.failed.connect(self.failed)
        worker.outOfMemory.connect(self.out_of_memory)
        worker.ended.connect(self.ended)

    @Slot(object)
    def finished(self, outcome: RunOutcome) -> None:
        self._calls[0](self._run, outcome)

    @Slot(str)
    def failed(self, message: str) -> None:
        self._calls[1](self._run, message)

    @Slot(object)
    def out_of_memory(self, error: OutOfMemory) -> None:
        self._calls[2](self._run, error)

    @Slot()
    def ended(self) -> None:
        self._calls[3](self._run)


class Session(QObject):
    """The state of one window. Every property has a signal that says it changed; every change goes through a
    command (a method). `backends` (the network, reused between runs) and `recovery` (where unfinished pictures
    are kept) may be injected, e.g. by tests; `video` is what a clip is rendered with (default: VideoSettings())."""

    contentChanged = Signal(object)  # LoadedImage | None
    stylesChanged = Signal(object)  # tuple[LoadedImage, ...]
    settingsChanged = Signal(object)  # RenderSettings
    videoChanged = Signal(object)  # VideoSettings: see `video`
    stateChanged = Signal(object)  # RunState
    resultChanged = Signal(object)  # np.ndarray | None: the picture on the canvas, as it is shown and saved
    progressChanged = Signal(object)  # Progress of the run under way
    phaseChanged = Signal(str)  # "Loading the network…": what the run is doing before its first iteration
    # Every signal about one run says which run (its RunHandle) first, so no listener has to guess whose it is.
    # the run, its total iterations (the most, when each scale ends as its picture settles: see `job`), and the
    # iterations already done
    runStarting = Signal(object, int, int)
    runStarted = Signal(int, int, int)  # total iterations (likewise), width, height: the first iteration is under way
    runFinished = Signal(object, object)  # RunHandle, RunOutcome: the run ended (done or stopped) with this picture
    runFailed = Signal(object, str)  # RunHandle, why (naming the cause): it failed; the last good picture is kept
    runOutOfMemory = Signal(object, object)  # RunHandle, engine.errors.OutOfMemory (its `fits` says what size would)
    memoryWarning = Signal(object)  # engine.memory.MemoryCheck of a run that will probably not fit
    runEnded = Signal(object)  # RunHandle: its worker is gone; a new run may start
    restoredChanged = Signal(object)  # Recovered | None: the unfinished picture that Continue goes on from
    matchPreviewsChanged = Signal(object)  # tuple[np.ndarray, ...]: see `match_previews`
    resultSettled = Signal(bool)  # a run's picture is final (True: finished; False: stopped or failed)
    canRefineChanged = Signal(bool)  # see `can_refine`
    clipJobChanged = Signal(object)  # int | None: see `clip_job`
    error = Signal(str)  # something the user must see, naming the file or setting and the problem
    info = Signal(str)  # a note that needs no answer

    def __init__(self, settings: RenderSettings | None = None, backends: BackendCache | None = None,
                 recovery: RecoveryStore | None = None, parent: QObject | None = None,
                 video: VideoSettings | None = None) -> None:
        super().__init__(parent)
        self.backends = backends if backends is not None else BackendCache()
        self.recovery = recovery if recovery is not None else RecoveryStore()
        self._settings = settings if settings is not None else RenderSettings()
        self._video = video if video is not None else VideoSettings()
        self._content: LoadedImage | None = None
        self._styles: tuple[LoadedImage, ...] = ()
        self._state = RunState.IDLE
        self._worker: RenderWorker | None = None
        self._job: RenderJob | None = None  # of the run under way, or of the last one
        self._run: RunHandle | None = None  # the run under way, or the last one
        self._run_ids = 0  # runs started so far: each run's id is the next number
        self._record: RunRecord | None = None
        # the picture the last run ended with, as it made it, while it is the one on the canvas: what `refine`
        # goes on from (with `_job` and `_record`, which are that run's)
        self._refinable: np.ndarray | None = None
        self._can_refine = False
        self._result: np.ndarray | None = None
        self._raw_result: np.ndarray | None = None  # the run's picture as it came, before Keep colours
        self._last_progress: Progress | None = None
        self._restored: Recovered | None = None
        self._recovery_copy: RecoverySession | None = None  # of the picture on the canvas
        self._start_after_stop = False  # start again when the run now stopping has ended (a retry)
        self._match_previews: tuple[np.ndarray, ...] = ()
        self._clip_job: int | None = None  # the queued job whose clip is being rendered

    # ---- what there is ----

    @property
    def content(self) -> LoadedImage | None:
        return self._content

    @property
    def styles(self) -> tuple[LoadedImage, ...]:
        return self._styles

    @property
    def ready(self) -> bool:
        """There is a content and a style picture: a run can start."""
        return self._content is not None and bool(self._styles)

    @property
    def settings(self) -> RenderSettings:
        return self._settings

    @property
    def video(self) -> VideoSettings:
        """How the next clip is rendered beyond its RenderSettings (its steadiness): what Render video… queues. A
        clip already in the queue keeps the VideoSettings it was queued with."""
        return self._video

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def clip_job(self) -> int | None:
        """The queued job whose clip the queue is rendering, or None. While there is one no run starts: Start says
        so, and Refine more waits."""
        return self._clip_job

    @property
    def busy(self) -> bool:
        """A run is going (or stopping), or the queue is rendering a clip: nothing else may start."""
        return self._state is not RunState.IDLE or self.running or self._clip_job is not None

    def begin_clip(self, queue_job: int) -> bool:
        """The queue is about to render the clip of its job `queue_job` (on a thread of its own): no run starts
        until `end_clip`. False when something is going already."""
        if self.busy:
            return False
        self._clip_job = queue_job
        self._update_can_refine()
        self.clipJobChanged.emit(queue_job)
        return True

    def end_clip(self, queue_job: int) -> None:
        """The clip of job `queue_job` is no longer rendering (its thread has ended): runs may start again."""
        if self._clip_job == queue_job:
            self._clip_job = None
            self._update_can_refine()
            self.clipJobChanged.emit(None)

    @property
    def worker(self) -> RenderWorker | None:
        """The worker of the run under way (or of the last one, until the next starts)."""
        return self._worker

    @property
    def running(self) -> bool:
        """A worker thread is going (it may still be loading the network or stopping)."""
        return self._worker is not None and self._worker.running

    @property
    def run(self) -> RunHandle | None:
        """The run under way, or the last one (None before any)."""
        return self._run

    @property
    def job(self) -> RenderJob | None:
        """The job of the run under way, or of the last run (None before any). Its `run_settings` say what the run
        does: with `iterations` None, each scale ends when its picture settles and the total is the most."""
        return self._job

    @property
    def can_refine(self) -> bool:
        """`refine` can start: no run is going, and the picture on the canvas is one a run (finished or stopped)
        ended with, not a restored one."""
        return self._can_refine

    @property
    def record(self) -> RunRecord | None:
        """What the run that made the picture on the canvas left behind: its evolution, names and settings."""
        return self._record

    @property
    def result(self) -> np.ndarray | None:
        """The picture on the canvas, as it is shown (with the content's colours while Keep colours is on)."""
        return self._result

    @property
    def raw_result(self) -> np.ndarray | None:
        """The picture on the canvas as the run made it (before Keep colours)."""
        return self._raw_result

    @property
    def last_progress(self) -> Progress | None:
        return self._last_progress

    @property
    def match_previews(self) -> tuple[np.ndarray, ...]:
        """While Match colours is on and there is a content picture: each painting (in order) with its colours
        moved onto the content's, as the next run will paint with it, at most MATCH_PREVIEW_SIDE px (H x W x 3
        uint8). Empty otherwise."""
        return self._match_previews

    @property
    def restored(self) -> Recovered | None:
        """A restored unfinished picture that `continue_restored` goes on from."""
        return self._restored

    # ---- pictures ----

    def set_content(self, image: LoadedImage | None) -> None:
        """A new content picture; the regions painted on the one before are cleared (said in a note)."""
        if image is self._content:
            return
        self._content = image
        if self._settings.regions is not None:
            self.update_settings(regions=None)
            self.info.emit("The regions were cleared: they were painted on the content picture before.")
        self.contentChanged.emit(image)
        self._update_match_previews()

    def set_styles(self, images: Sequence[LoadedImage]) -> None:
        """A new list of paintings. Regions follow their paintings: a painting moved keeps its region, a new one
        goes where nothing is painted yet, and a removed one's region goes to the paintings left."""
        images = tuple(images)
        before = self._styles
        if len(images) == len(before) and all(a is b for a, b in zip(images, before)):
            return
        self._styles = images
        regions = self._settings.regions
        if regions is not None and regions.count == len(before):
            if not images:
                self.update_settings(regions=None)
            else:
                sources = [next((k for k, old in enumerate(before) if old is new), None) for new in images]
                self.update_settings(regions=regions.remapped(sources))
        self.stylesChanged.emit(images)
        self._update_match_previews()

    def set_style_weights(self, weights: Sequence[float]) -> None:
        """How much of each painting (normalised, one per painting): a run of these same paintings takes them
        from its next iteration on, like lam."""
        weights = tuple(float(w) for w in weights)
        self.update_settings(style_weights=tuple(round(w, 4) for w in weights) if len(weights) > 1 else ())
        worker = self._live_worker()
        if worker is not None and self._runs_these_styles(worker):
            worker.set_style_weights(weights)

    def _live_worker(self) -> RenderWorker | None:
        """The worker of the run under way when it takes changes made in the panes: a run started from them
        (a queued job is its own run, whatever the panes do while it runs); None otherwise."""
        run = self._run
        if self._worker is None or not self._state.active or run is None or not run.from_panes:
            return None
        return self._worker

    def _runs_these_styles(self, worker: RenderWorker) -> bool:
        """Whether the run under way paints with the paintings now in the Style pane (weights and regions set
        for other paintings are not its)."""
        pictures = tuple(image.array for image in self._styles)
        return len(pictures) == len(worker.job.styles) and all(a is b for a, b in zip(pictures, worker.job.styles))

    def swap(self) -> bool:
        """Exchange the content with the (one) painting; False, with a note, when several paintings are mixed."""
        if len(self._styles) > 1:
            self.info.emit("Swap exchanges the content with one painting: remove the other paintings from the Style "
                           "pane first.")
            return False
        content, style = self._content, self._styles[0] if self._styles else None
        self.set_content(style)
        self.set_styles(() if content is None else (content,))
        return True

    # ---- settings ----

    def set_settings(self, settings: RenderSettings) -> None:
        """Use `settings` from now on: a run started from the panes takes lam (and style weights and regions) at
        once, the rest at the next Start; a queued job's run takes nothing (it is its own run); the picture shown
        follows Keep colours at once (a queued job's file keeps the job's own)."""
        if settings == self._settings:
            return
        before, self._settings = self._settings, settings
        worker = self._live_worker()
        if worker is not None and settings.lam != before.lam:
            worker.set_lam(settings.lam)
        # regions painted on another content picture, or for other paintings, are not the run's
        if (worker is not None and settings.regions != before.regions and self._content is not None
                and self._content.array is worker.job.content and self._runs_these_styles(worker)):
            worker.set_regions(settings.regions)
        self.settingsChanged.emit(settings)
        if settings.keep_colours != before.keep_colours and self._raw_result is not None:
            self._show(self._raw_result)
        if settings.match_colours != before.match_colours:
            self._update_match_previews()

    def _update_match_previews(self) -> None:
        """Make `match_previews` again for the pictures and Match colours now in use, and say so when they change."""
        content = self._content
        previews: tuple[np.ndarray, ...] = ()
        if self._settings.match_colours and content is not None and self._styles:
            small = _at_most(content.array, MATCH_PREVIEW_SIDE)
            alpha = None if content.alpha is None else resize_alpha(content.alpha, small.shape[1], small.shape[0])
            paintings = [_at_most(style.array, MATCH_PREVIEW_SIDE) for style in self._styles]
            previews = tuple(match_colours(painting, small, alpha) for painting in paintings)
            note = match_note(content.name, paintings, small, alpha)
            if note is not None:  # a flat content: the paintings keep (some of) their own colours
                self.info.emit(note)
        if previews or self._match_previews:
            self._match_previews = previews
            self.matchPreviewsChanged.emit(previews)

    def update_settings(self, **changes: object) -> bool:
        """Change some settings (see `set_settings`); False, with an error, when they are not valid together."""
        try:
            settings = self._settings.replaced(**changes)
        except FudeError as exc:
            self.error.emit(str(exc))
            return False
        self.set_settings(settings)
        return True

    def set_lam(self, lam: float) -> bool:
        return self.update_settings(lam=lam)

    def set_video(self, video: VideoSettings) -> None:
        """Render the next clip with `video`."""
        if video != self._video:
            self._video = video
            self.videoChanged.emit(video)

    def set_steadiness(self, steadiness: float) -> bool:
        """How steadily the next clip's frames are held (VideoSettings.steadiness); False, with an error, when it
        is out of range."""
        try:
            video = replace(self._video, steadiness=steadiness)
        except FudeError as exc:
            self.error.emit(str(exc))
            return False
        self.set_video(video)
        return True

    def restore_settings(self, stored: StoredRender, name: str) -> None:
        """Use the settings a Fude PNG called `name` stores, and say what that changed."""
        before = self._settings
        weights = stored.settings.style_weights
        usable = len(weights) > 1 and len(weights) == len(self._styles)
        regions, content = stored.settings.regions, self._content
        regions_usable = regions is not None and regions.count == len(self._styles) and content is not None
        if regions is not None and content is not None and regions_usable:
            regions = regions.resized(content.array.shape[1], content.array.shape[0])
        self.set_settings(stored.settings.replaced(style_weights=weights if usable else before.style_weights,
                                                   regions=regions if regions_usable else before.regions))
        changes = describe_changes(before, self._settings)
        changed = f": {'; '.join(changes)}." if changes else ": they were the settings already in use."
        ignored = (f" It names the weights file {stored.ignored_weights}, which is not used: a picture never "
                   "chooses a file to open." if stored.ignored_weights else "")
        unused = ""
        if len(weights) > 1 and not usable:
            count = len(self._styles)
            unused = (f" Its {len(weights)} style weights were not restored: the Style pane holds {count} "
                      f"painting{'' if count == 1 else 's'}.")
        if stored.settings.regions is not None and not regions_usable:
            count = len(self._styles)
            unused += (f" Its regions ({stored.settings.regions.count} mask"
                       f"{'' if stored.settings.regions.count == 1 else 's'}) were not restored: the Style pane "
                       f"holds {count} painting{'' if count == 1 else 's'}.")
        self.info.emit(f"Settings restored from {name}{changed}{ignored}{unused}")

    # ---- the run ----

    def start(self) -> bool:
        """Start a run with the pictures and settings in use; False, with an error saying why, when it cannot."""
        return self._start_run(None)

    def continue_restored(self) -> bool:
        """Go on with a restored picture's run from where it was left."""
        found = self._restored
        if found is None:
            return False
        return self._start_run((found.image, found.index))

    def run_job(self, content: LoadedImage, styles: Sequence[LoadedImage], settings: RenderSettings,
                queue_job: int) -> RunHandle | None:
        """Start a run of these pictures and settings (the queued job `queue_job`) without changing the panes or
        the settings in use; nothing done in the panes while it runs changes it. Its handle, or None, with an
        error saying why, when it cannot (a run is going, or the settings do not suit)."""
        if not styles:
            self.error.emit("Start: add a style picture (the painting) first.")
            return None
        return self._start(content, tuple(styles), settings, None, queue_job)

    def _start_run(self, resume: tuple[np.ndarray, int] | None) -> bool:
        content, styles = self._content, self._styles
        if content is None or not styles:
            if self._state is RunState.IDLE and not self.running:
                missing = "a content picture (the creature)" if content is None else "a style picture (the painting)"
                self.error.emit(f"Start: add {missing} first.")
            return False
        return self._start(content, styles, self._settings, resume, None) is not None

    def _start(self, content: LoadedImage, styles: tuple[LoadedImage, ...], settings: RenderSettings,
               resume: tuple[np.ndarray, int] | None, queue_job: int | None) -> RunHandle | None:
        if self._state is not RunState.IDLE or self.running:
            return None
        if self._clip_job is not None:
            self.error.emit(f"Start: the queue is rendering a clip (job {self._clip_job}); a run can start once it "
                            "is done, or cancel it in the queue.")
            return None
        try:
            settings.regions_for(len(styles))
        except FudeError as exc:
            self.error.emit(f"Start: the regions cannot be used ({getattr(exc, 'reason', exc)}).")
            return None
        start_image, start_index = resume if resume is not None else (None, 0)
        job = RenderJob(content.array, tuple(s.array for s in styles), settings, content.name,
                        tuple(s.name for s in styles), start_image, start_index, content_alpha=content.alpha)
        return self._launch(job, queue_job)

    def refine(self) -> bool:
        """Refine more: REFINE_ITERATIONS more iterations at the full size, from the picture the last run ended
        with (as it made it), with that run's own pictures and the settings it ended on (its lam, style weights
        and regions), whatever the panes hold now; the settings in use are not changed. False when it cannot
        (see `can_refine`)."""
        job, record, image = self._job, self._record, self._refinable
        if not self._can_refine or job is None or record is None or image is None:
            return False
        self._launch(replace(job, settings=record.final_settings, start_image=image, start_index=0,
                             refine=REFINE_ITERATIONS))
        return True

    def _launch(self, job: RenderJob, queue_job: int | None = None) -> RunHandle:
        """Start a worker on `job` (no run may be going), for the panes or for the queued job `queue_job`; the
        new run's handle."""
        self._job = job
        self._refinable = None
        self._record = RunRecord(job)
        self._run_ids += 1
        run = self._run = RunHandle(self._run_ids, queue_job, self._record)
        self._last_progress = None
        self.discard_recovery_copy()  # the picture on the canvas is being replaced
        self._set_restored(None)
        self._recovery_copy = self.recovery.begin(job.content, job.styles, job.content_name, job.style_names,
                                                  content_alpha=job.content_alpha)
        worker = RenderWorker(job, self._record, self.backends, recovery=self._recovery_copy)
        worker.setParent(self)
        worker.phase.connect(self.phaseChanged)
        worker.started.connect(self.runStarted)
        worker.progress.connect(self._on_progress)
        worker.frameReady.connect(self._on_frame)
        # the worker's ends are said with its run's handle, bound here: no one has to guess whose run ended
        _RunEnds(run, worker, self._on_finished, self._on_failed, self._on_out_of_memory, self._on_worker_ended)
        worker.memoryWarning.connect(self._on_memory_warning)
        worker.notice.connect(self.info)
        worker.pausedChanged.connect(self._on_paused_changed)
        old, self._worker = self._worker, worker
        if old is not None:
            old.deleteLater()
        self._set_state(RunState.RUNNING)
        self.runStarting.emit(run, most_iterations(job.run_settings), job.start_index)
        worker.start()
        return run

    def toggle_pause(self) -> None:
        if self._state is RunState.RUNNING:
            self.pause()
        elif self._state is RunState.PAUSED:
            self.resume()

    def pause(self) -> None:
        if self._worker is not None and self._state is RunState.RUNNING:
            self._worker.pause()
            self._set_state(RunState.PAUSED)

    def resume(self) -> None:
        if self._worker is not None and self._state is RunState.PAUSED:
            self._worker.resume()
            self._set_state(RunState.RUNNING)

    def stop_run(self, run: RunHandle) -> None:
        """Stop `run` if it is the run under way (a queued job's, say); the picture so far is kept."""
        if run == self._run:
            self.stop()

    def stop(self) -> None:
        """Stop the run under way; the picture so far is kept."""
        if self._worker is not None and self._state.active:
            self._worker.cancel()
            self._set_state(RunState.STOPPING)

    def retry_at(self, size: int | None, device: str | None = None) -> bool:
        """Render again at `size` px (and on `device`), stopping the run under way first if there is one."""
        changes: dict[str, object] = {}
        if size is not None:
            changes["size"] = size
        if device is not None:
            changes["device"] = device
        if changes and not self.update_settings(**changes):
            return False
        if self._state is RunState.IDLE and not self.running:
            return self.start()
        self._start_after_stop = True
        self.stop()
        return True

    def stop_worker(self, timeout_s: float = STOP_WAIT_S) -> bool:
        """Cancel any run and wait for its thread to end; True when no thread is left running."""
        worker = self._worker
        if worker is None:
            return True
        worker.cancel()
        return worker.wait(timeout_s)

    def report_display_cost(self, seconds: float) -> None:
        """What showing the run cost on the GUI thread (painting the canvas, the plot): the worker sends fewer
        previews when showing takes more than its share of the run's time."""
        if self._worker is not None:
            self._worker.add_display_cost(seconds)

    def _set_state(self, state: RunState) -> None:
        self._state = state
        self.stateChanged.emit(state)
        self._update_can_refine()

    def _update_can_refine(self) -> None:
        can = self._refinable is not None and not self.busy
        if can != self._can_refine:
            self._can_refine = can
            self.canRefineChanged.emit(can)

    @Slot(object)
    def _on_frame(self, frame: PreviewFrame) -> None:
        recolour_s = self._show(frame.image)  # (what showing it costs, the widgets report: report_display_cost)
        worker = self._worker
        if worker is not None:
            worker.add_display_cost(recolour_s)
            worker.acknowledge_frame()

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        self._last_progress = progress
        self.progressChanged.emit(progress)

    @Slot(bool)
    def _on_paused_changed(self, paused: bool) -> None:
        if paused and self._last_progress is not None:
            self.progressChanged.emit(self._last_progress)  # where a paused run really is

    def _on_finished(self, run: RunHandle, outcome: RunOutcome) -> None:
        if outcome.index > 0:
            self._show(outcome.image)
            self._refinable = outcome.image
            self.resultSettled.emit(not outcome.cancelled)
        elif self._job is not None and self._job.refine:
            self._refinable = self._job.start_image  # stopped before its first step: that picture is still shown
        if not outcome.cancelled:
            self.discard_recovery_copy()  # a finished run leaves no recovery copy behind
        self.runFinished.emit(run, outcome)

    def _on_failed(self, run: RunHandle, message: str) -> None:
        self._settle_failed()
        self.runFailed.emit(run, message)

    def _on_out_of_memory(self, run: RunHandle, error: OutOfMemory) -> None:
        self._settle_failed()
        self.runOutOfMemory.emit(run, error)

    def _settle_failed(self) -> None:
        if self._record is not None and self._record.latest is not None and self._result is not None:
            self.resultSettled.emit(False)  # its last good picture (on the canvas already) is kept as stopped

    @Slot(object)
    def _on_memory_warning(self, check: MemoryCheck) -> None:
        self.memoryWarning.emit(check)

    def _on_worker_ended(self, run: RunHandle) -> None:
        self._set_state(RunState.IDLE)
        self.runEnded.emit(run)
        if self._start_after_stop:
            self._start_after_stop = False
            self.start()

    # ---- the picture on the canvas ----

    def _show(self, image: np.ndarray) -> float:
        """Put `image` on the canvas (recoloured while Keep colours is on); the seconds the recolouring took."""
        started = time.perf_counter()
        self._raw_result = image
        self._result = self._recoloured(image)
        recolour_s = time.perf_counter() - started
        self.resultChanged.emit(self._result)
        return recolour_s

    def _recoloured(self, image: np.ndarray) -> np.ndarray:
        """`image` as its run presents it (RunRecord.presented): with the colours of the content of the run that
        made it while Keep colours is on, and with that content's transparency (every picture shown comes with
        its run's record: a run's frames, its outcome, or a restored run's)."""
        if self._record is None:
            return image
        return self._record.presented(image, self._settings.keep_colours)

    def result_settings(self) -> RenderSettings | None:
        """The settings of the picture on the canvas, as its PNG stores them: the run's (with the lam and style
        weights it ended on) and Keep colours as shown."""
        if self._record is None:
            return None
        return self._record.final_settings.replaced(keep_colours=self._settings.keep_colours)

    def result_text_chunks(self) -> dict[str, str]:
        """The PNG text chunks of the picture on the canvas: the settings that made it (none when unknown)."""
        settings = self.result_settings()
        if self._record is None or settings is None:
            return {}
        return png_text_chunks(settings, self._record.content_name, self._record.style_names)

    def evolution_images(self) -> list[np.ndarray]:
        """The run's evolution as it is shown: with the content's colours while Keep colours is on."""
        record = self._record
        return record.gif_images(keep_colours=self._settings.keep_colours) if record is not None else []

    def picture_saved(self, image: np.ndarray) -> None:
        """`image` was written to a file: if it is the finished picture on the canvas, its recovery copy goes."""
        if not self.running and image is self._result:
            self.discard_recovery_copy()

    # ---- the recovery copy ----

    def discard_recovery_copy(self) -> None:
        copy, self._recovery_copy = self._recovery_copy, None
        if copy is not None:
            copy.discard()

    def latest_unfinished(self) -> Recovered | None:
        """An unfinished picture left behind by a crash or a kill, if there is one."""
        return self.recovery.latest()

    def restore(self, found: Recovered) -> bool:
        """Take the pictures, the settings and the picture of an unfinished run, so it can be saved or continued."""
        if self._state is not RunState.IDLE or self.running:
            self.info.emit("Stop the render first, then restore the unfinished picture.")
            return False
        self.discard_recovery_copy()
        self.set_settings(self._settings.replaced(regions=None))  # (no note that the old regions were cleared)
        self.set_content(LoadedImage(found.content, found.content_name, alpha=found.content_alpha))
        self.set_styles([LoadedImage(style, name) for style, name in zip(found.styles, found.style_names,
                                                                         strict=True)])
        self.set_settings(found.settings)
        self._record = RunRecord(RenderJob(found.content, found.styles, found.settings, found.content_name,
                                           found.style_names, content_alpha=found.content_alpha))
        self._refinable = None  # (Continue goes on from it; Refine more is for a picture a run ended with)
        self._update_can_refine()
        self._record.set_latest(found.image, lam=found.settings.lam)
        self._last_progress = None
        self._show(found.image)
        self._recovery_copy = self.recovery.adopt(found)  # kept until the picture is saved, replaced or closed
        self._set_restored(found)
        return True

    def _set_restored(self, found: Recovered | None) -> None:
        if found is not self._restored:
            self._restored = found
            self.restoredChanged.emit(found)

    def close(self) -> None:
        """The window is closing: stop the run and drop the recovery copy (closing is a choice: only a crash or a
        kill leaves a picture to restore)."""
        self._start_after_stop = False
        if self.stop_worker():
            # what the stopped run sent is delivered now, not after the window has gone: its picture reaches the
            # history, and the worker's end is known
            QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall.value)
        self.discard_recovery_copy()
