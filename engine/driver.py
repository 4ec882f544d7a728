"""One run as the command line and the window both drive it, so that a fix lands once: `RunDriver.drive()` gets
the network, checks that the run fits in memory, creates the StyleRun (continuing from a start picture, with a lam,
style weights or a cancel that came before the run existed), steps it to its end while recording the evolution's
frames into a `RunRecord` and keeping the recovery copy, and returns a `RunOutcome`. A front end hears of the run
through a `RunListener` (a progress bar, or Qt signals) and decides there what it shows.

Keep colours and the content's transparency are not applied here: the record keeps the pictures as the run made
them (RGB, without alpha), and `RunRecord.presented` gives one as it is shown and saved (the window recolours
them when it shows or saves them, and may switch it off again); `RunRecord.gif_images(keep_colours=True)` gives
the evolution so, as the command line writes it.

No Qt here, and no torch at import time: the window imports these types on the GUI thread, and torch is loaded
when a run starts, on the thread that drives it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.colour import match_note
from engine.errors import OutOfMemory
from engine.export import GIF_MAX_FRAMES, FrameRecorder
from engine.regions import Regions
from engine.schedule import most_iterations
from engine.settings import RenderSettings, join_style_names
from engine.transparency import with_alpha

if TYPE_CHECKING:  # each imports torch, which is loaded only when a run starts
    from engine.memory import MemoryCheck
    from engine.recovery import RecoverySession
    from engine.run import Backend, Frame, StyleRun

PHASE_NETWORK = "Loading the network…"
PHASE_PICTURES = "Preparing the pictures…"


REFINE_ITERATIONS = 50  # what one "refine more" adds at the full size: about as many as the full size settled in


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
    refine: int = 0  # with start_image, a finished picture: this many more iterations at the full size alone
    tile: int | None = None  # compute in tiles of at most this many px (None: tiles only when one pass won't fit)
    # the content's alpha channel (H x W uint8, the content's size), set aside: `content` is the picture over
    # engine.transparency's neutral grey, and what is shown and saved gets this alpha back (RunRecord.presented)
    content_alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        styles = (self.styles,) if isinstance(self.styles, np.ndarray) else tuple(self.styles)
        names = (self.style_names,) if isinstance(self.style_names, str) else tuple(self.style_names)
        object.__setattr__(self, "styles", styles)
        object.__setattr__(self, "style_names", names)
        if not self.styles or len(self.styles) != len(self.style_names):
            raise ValueError(f"{len(self.styles)} style pictures with {len(self.style_names)} names")
        if self.refine and (self.start_image is None or self.start_index or self.refine < 0):
            raise ValueError("a refinement continues a finished picture (start_image), from its first iteration")
        if self.content_alpha is not None and self.content_alpha.shape != self.content.shape[:2]:
            raise ValueError(f"an alpha channel of {self.content_alpha.shape} for a content of "
                             f"{self.content.shape[:2]}")

    @property
    def run_settings(self) -> RenderSettings:
        """The settings the run itself uses: those of the picture, or for a refinement, `refine` iterations at the
        full size (the picture's settings still say how it was made)."""
        if self.refine:
            return self.settings.replaced(multiscale=False, iterations=self.refine)
        return self.settings

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
    fraction: float = 0.0  # how much of the run's work is done, 0..1: what a progress bar shows
    settling: bool = False  # each scale ends when its picture settles: `total` is the most the run may do

    @classmethod
    def of(cls, frame: Frame, lam: float, style_weights: tuple[float, ...]) -> Progress:
        """A frame's numbers (reading its losses waits for the device: make one only when it will be shown)."""
        return cls(index=frame.index, total=frame.total, elapsed=frame.elapsed,
                   iterations_per_second=frame.iterations_per_second, seconds_left=frame.seconds_left,
                   losses=frame.losses, lam=lam, scale=frame.scale, scales=frame.scales,
                   style_weights=style_weights, fraction=frame.fraction, settling=frame.settling)


@dataclass(frozen=True)
class RunOutcome:
    image: np.ndarray  # the picture as it stands when the run ended (as the run made it: no colours kept)
    index: int  # iterations done, counting those of the picture a continued run started from
    total: int
    cancelled: bool
    elapsed: float  # seconds spent stepping


class RunRecord:
    """What a run leaves behind for saving, shared between the thread driving the run (writing) and a front end
    (reading) under a lock: the evolution's frames recorded so far (at most `max_frames`; none when it is 0), the
    latest picture, and the lam and style weights in use. It outlives the run, so the evolution can be saved
    mid-run, after a stop and after a failure."""

    def __init__(self, job: RenderJob, max_frames: int = GIF_MAX_FRAMES) -> None:
        self.settings = job.settings
        self.content = job.content  # what "keep colours" takes the colours from
        self.content_alpha = job.content_alpha  # what every picture shown and saved gets back
        self.content_name = job.content_name
        self.style_names = job.style_names
        self.style_name = job.style_name
        self.max_frames = max(0, max_frames)
        self._lock = threading.Lock()
        # no recorder at all when no evolution is wanted: then no frame's image is ever made for it
        self._recorder = FrameRecorder(max_frames=self.max_frames) if self.max_frames else None
        self._latest: np.ndarray | None = None
        self._lam = job.settings.lam
        self._style_weights = job.settings.style_weights
        self._regions = job.settings.regions

    def wants(self, index: int) -> bool:
        """Whether the frame of iteration `index` would be recorded: ask before making its image."""
        with self._lock:
            return self._recorder is not None and self._recorder.wants(index)

    def add(self, index: int, image: np.ndarray) -> None:
        with self._lock:
            if self._recorder is not None:
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

    def set_regions(self, regions: Regions | None) -> None:
        """The regions in use (painted anew mid-run)."""
        with self._lock:
            self._regions = regions

    @property
    def latest(self) -> np.ndarray | None:
        with self._lock:
            return self._latest

    @property
    def final_settings(self) -> RenderSettings:
        """The run's settings with the lam, style weights and regions it ended on (each may change mid-run)."""
        with self._lock:
            return self.settings.replaced(lam=self._lam, style_weights=self._style_weights, regions=self._regions)

    def presented(self, image: np.ndarray, keep_colours: bool = False) -> np.ndarray:
        """A picture of this run as it is shown and saved: with `keep_colours`, with the content's colours
        (engine.colour.keep_colours); with the content's transparency (H x W x 4) when the content had some."""
        if keep_colours:
            from engine.colour import keep_colours as recolour

            image = recolour(image, self.content)
        return with_alpha(image, self.content_alpha)

    def gif_images(self, keep_colours: bool = False) -> list[np.ndarray]:
        """The evolution so far, evenly spread, ending with the latest picture, each as `presented` (with the
        content's colours when `keep_colours`, with its transparency when it had some)."""
        with self._lock:
            images = self._recorder.images(final=self._latest) if self._recorder is not None else (
                [self._latest] if self._latest is not None else [])
        return [self.presented(image, keep_colours) for image in images]


class BackendCache:
    """The VGG19 network and device choice, created on the thread that drives a run when first needed and reused
    by every later run it suits. Tests inject a ready one."""

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

    def in_use(self) -> tuple[str, str] | None:
        """The device and precision of the network loaded ("cuda:0", "bf16"; the About box says them), or None
        before a run has loaded one."""
        backend = self._backend
        return None if backend is None else (str(backend.device), backend.precision.name)


class RunListener:
    """What a front end hears of a run. Every method does nothing here: override those you need. They are called
    on the thread that drives the run, except `on_notice` about style weights set from another thread (then on
    that thread). None may raise: what one raises ends the run as a failure."""

    def on_phase(self, text: str) -> None:
        """What the run is doing before its first step (PHASE_NETWORK, then PHASE_PICTURES)."""

    def on_memory_warning(self, check: MemoryCheck) -> None:
        """The run will probably not fit in memory; it goes on all the same."""

    def on_started(self, run: StyleRun) -> None:
        """The run exists: `run.total`, `run.size`, `run.backend` and `run.style_weights` may be read."""

    def before_step(self, run: StyleRun) -> None:
        """Called before each step: the place where a pause may wait (a cancel must wake it)."""

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        """One iteration done. `image` is its picture if one was made for the record (None otherwise: call
        `frame.image()` only if one is wanted now, as it copies from the device)."""

    def on_notice(self, text: str) -> None:
        """Something the user should know that does not stop the run (a divergence undone, weights refused, a
        content too flat for Match colours to match fully: engine.colour.match_note, said once at the start)."""

    def on_recovery_failed(self, reason: str) -> None:
        """The recovery copy could not be written (said once per run); the run goes on."""

    def on_kept_picture(self, index: int, image: np.ndarray) -> None:
        """The run failed or was interrupted after `index` iterations: this is its last good picture."""


class RunDriver:
    """Drives one `RenderJob`: `drive()` on the thread that should do the work; `cancel`, `set_lam` and
    `set_style_weights` from any thread. A `recovery` session, when given, gets a copy of the picture every few
    seconds, when the run is stopped and when it fails (it is the caller's to discard)."""

    def __init__(self, job: RenderJob, record: RunRecord, backends: BackendCache,
                 listener: RunListener | None = None, recovery: RecoverySession | None = None) -> None:
        self.job = job
        self.record = record
        self._backends = backends
        self._listener = listener if listener is not None else RunListener()
        self._recovery = recovery
        self._recovery_failed = False
        self._lock = threading.Lock()
        self._run: StyleRun | None = None
        self._lam = job.settings.lam
        self._style_weights: tuple[float, ...] | None = None  # moved before the run existed: applied at its start
        self._regions: tuple[Regions | None] | None = None  # (regions,) painted before the run existed: likewise
        self._cancelled = threading.Event()
        # How the run ended, set whenever it existed, also when drive() raised (then it holds the picture the run
        # had: a front end that writes it after a failure reads it here).
        self.outcome: RunOutcome | None = None

    # ---- controls: any thread ----

    def cancel(self) -> None:
        """Stop before the next step (or before the run starts); drive() then returns a cancelled outcome."""
        self._cancelled.set()
        with self._lock:
            if self._run is not None:
                self._run.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def set_lam(self, lam: float) -> None:
        """Takes effect from the next iteration on; before the run exists it is applied when it starts."""
        with self._lock:
            self._lam = lam
            if self._run is not None:
                self._run.set_lam(lam)

    def set_style_weights(self, weights: Sequence[float]) -> None:
        """One weight per style picture (not all 0): takes effect from the next iteration on, like lam. Weights
        the run cannot use (another count) are ignored: the pictures they were meant for are not this run's."""
        chosen = tuple(float(w) for w in weights)
        if len(chosen) != len(self.job.styles):
            return
        with self._lock:
            self._style_weights = chosen
            if self._run is not None:
                self._apply_style_weights(self._run, chosen)

    def set_regions(self, regions: Regions | None) -> None:
        """New regions (one mask per style picture, or None): take effect from the next iteration on, like lam.
        Masks the run cannot use are refused with a notice; the run goes on with the regions it had."""
        with self._lock:
            self._regions = (regions,)
            if self._run is not None:
                self._apply_regions(self._run, regions)

    def _apply_regions(self, run: StyleRun, regions: Regions | None) -> None:
        try:
            run.set_regions(regions)
        except ValueError as exc:
            self._listener.on_notice(f"The regions were not changed: {exc}")
        else:
            self.record.set_regions(regions)

    def _apply_style_weights(self, run: StyleRun, weights: tuple[float, ...]) -> None:
        try:
            run.set_weights(style_weights=weights)
        except ValueError as exc:
            self._listener.on_notice(f"The style weights were not changed: {exc}")

    # ---- the run: on the driving thread ----

    def drive(self) -> RunOutcome:
        """Run the job to its end (or its cancel) and return how it ended. A failure (OutOfMemory, DivergenceError,
        any other error, an interrupt) propagates, after the last good picture has been kept: in the record, in
        a forced recovery copy, to the listener and in `outcome`."""
        out_of_memory = False
        try:
            return self._drive()
        except BaseException as exc:
            try:
                self._keep_last_picture()
            except Exception:  # noqa: BLE001 - what failed first is what the user must hear of
                pass
            if isinstance(exc, OutOfMemory):
                out_of_memory = True
                # its traceback's frames hold the run's tensors; a front end needs only the message and sizes
                exc.__traceback__ = None
            raise
        finally:
            with self._lock:
                self._run = None  # free the run's tensors on this thread
            if out_of_memory:
                from engine.memory import release_memory

                release_memory()  # now that the run's own tensors are gone too

    def _drive(self) -> RunOutcome:
        job, listener, record = self.job, self._listener, self.record
        if job.run_settings.match_colours:  # said once, before anything else: the paintings are not matched fully
            note = match_note(job.content_name, job.styles, job.content, job.content_alpha)
            if note is not None:
                listener.on_notice(note)
        listener.on_phase(PHASE_NETWORK)
        backend = self._backends.get(job.settings)
        if self._cancelled.is_set():
            return self._cancelled_before_start()
        tile = self._check_memory(backend)
        listener.on_phase(PHASE_PICTURES)
        from engine.run import StyleRun

        run = StyleRun(job.content, job.styles, job.run_settings, backend, start=job.start_image,
                       start_index=job.start_index, tile=tile, content_alpha=job.content_alpha)
        with self._lock:
            self._run = run
            if self._lam != job.settings.lam:
                run.set_lam(self._lam)
            if self._style_weights is not None:
                self._apply_style_weights(run, self._style_weights)
            if self._regions is not None:
                self._apply_regions(run, self._regions[0])
            if self._cancelled.is_set():
                run.cancel()
        listener.on_started(run)
        while not run.done:
            listener.before_step(run)
            if run.done:  # cancelled while the listener waited (a pause)
                break
            frame = run.step()
            if frame.notice:
                listener.on_notice(frame.notice)
            image = None
            if record.wants(frame.index):
                image = frame.image()
                record.add(frame.index, image)
            # the record always holds the weights in use, so a picture saved mid-run stores the right ones
            record.set_lam(run.weights.lam)
            record.set_style_weights(run.style_weights)
            self._save_recovery(image, frame.index, frame.total, frame=frame)
            listener.on_frame(run, frame, image)
        result = run.result()
        record.set_latest(result, lam=run.weights.lam)
        record.set_style_weights(run.style_weights)
        if run.cancelled and run.index > run.first:
            self._save_recovery(result, run.index, run.total, force=True)  # a stopped picture stays safe too
        self.outcome = RunOutcome(image=result, index=run.index, total=run.total, cancelled=run.cancelled,
                                  elapsed=run.elapsed)
        return self.outcome

    def _cancelled_before_start(self) -> RunOutcome:
        latest = self.record.latest
        image = latest if latest is not None else np.zeros((1, 1, 3), np.uint8)
        self.outcome = RunOutcome(image=image, index=0, total=most_iterations(self.job.run_settings), cancelled=True,
                                  elapsed=0.0)
        return self.outcome

    def _check_memory(self, backend: Backend) -> int | None:
        """The tile the run is computed in (None: in one pass): the job's, or when one pass will not fit, with room
        for the evolution's frames, the largest that does. Warn (and go on) when even that will probably not fit."""
        from engine.memory import check_memory, largest_style_shape

        job = self.job
        style_shape = largest_style_shape([style.shape for style in job.styles])
        check = check_memory(job.content.shape, style_shape, job.settings, backend.device,
                             backend.precision.dtype.itemsize, gif_frames=self.record.max_frames, tile=job.tile)
        if not check.enough:
            self._listener.on_memory_warning(check)
        elif check.tile is not None and job.tile is None:
            self._listener.on_notice(f"{job.settings.size} px does not fit in memory in one pass: it is computed in "
                                     f"tiles of {check.tile} px, which gives the same picture more slowly.")
        return check.tile

    def _keep_last_picture(self) -> None:
        """After a failure: the run's last good picture into `outcome`, and, if the run got anywhere, into the
        record, the recovery copy and the listener."""
        with self._lock:
            run = self._run
        if run is None:
            return
        image = run.result()
        self.outcome = RunOutcome(image=image, index=run.index, total=run.total, cancelled=run.cancelled,
                                  elapsed=run.elapsed)
        if run.index == run.first:
            return  # nothing new: what the run started from is not its picture
        self.record.set_latest(image, lam=run.weights.lam)
        self._listener.on_kept_picture(run.index, image)
        self._save_recovery(image, run.index, run.total, force=True)

    def _save_recovery(self, image: np.ndarray | None, index: int, total: int, force: bool = False,
                       frame: Frame | None = None) -> None:
        """Save the recovery copy if one is due (or `force`d); the image is made from `frame` only then. A copy
        that cannot be written is said once, and the run goes on: it must not fail for its safety copy."""
        session = self._recovery
        if session is None or not (force or session.due()):
            return
        if image is None:
            if frame is None:
                return
            image = frame.image()
        if not session.save(image, self.record.final_settings, index, total, force=force) and session.last_error:
            if not self._recovery_failed:
                self._recovery_failed = True
                self._listener.on_recovery_failed(session.last_error)
