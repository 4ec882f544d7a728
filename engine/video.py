"""One clip repainted frame by frame, steady from frame to frame (Ruder, Dosovitskiy & Brox 2016): `VideoRun` decodes
the clip, renders its first frame as a picture is rendered (coarse to fine, from noise), and every later frame at
the full size from the frame before carried over by the optical flow (engine.flow), held there by the temporal
loss wherever the flow is reliable and started from the content frame where it is not; a scene cut (little
reliable area) starts afresh. Finished frames go to the resumable work folder (engine.clip_folder) as they finish,
and the clip is encoded at its own frame rate with its sound (engine.video_io).

A front end drives it as it drives a picture: one object per clip run, `run()` on a worker thread, `cancel()` from
any thread (it takes effect between two iterations; the frame in progress is not kept), and a `ClipListener` that
hears of the clip (its plan and time estimate, each frame finished with its picture) and, as a RunListener, of each
frame's iterations. No Qt here, and no torch at import time."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.clip_folder import ClipFolder, clip_identity, render_identity
from engine.colour import keep_colours, match_colours, match_note
from engine.driver import PHASE_NETWORK, BackendCache, RunListener
from engine.errors import ExportError, SettingsError, VideoError
from engine.export import animation_format, check_writable
from engine.images import fit_size
from engine.settings import RenderSettings
from engine.untrusted import format_bytes
from engine.video_io import MAX_ANIMATION_FRAMES, ClipInfo, FrameReader, encode_video, even_size, probe
from engine.video_settings import VideoSettings

if TYPE_CHECKING:  # each imports torch, which is loaded only when a clip starts
    from engine.flow import FrameMotion
    from engine.run import Backend, StyleRun

# A later frame whose flow is reliable over less than this share of the picture starts afresh, as a first frame:
# a scene cut (or motion too fast for the flow), where carrying the frame before over would paint the old scene in.
SCENE_CUT_SHARE = 0.3
# ... and so does one where, over the reliable part, the previous content frame carried over differs from this one
# by more than SCENE_CUT_LEVELS (mean over the colours) on more than SCENE_CUT_MISMATCH of it: a cut between two
# shots whose flat areas happen to give a consistent flow.
SCENE_CUT_LEVELS = 30.0
SCENE_CUT_MISMATCH = 0.5
DISK_MARGIN_BYTES = 64 << 20
PNG_SHARE = 0.8  # a painted frame's PNG is about this share of its raw size (texture compresses poorly)


@dataclass(frozen=True)
class VideoJob:
    """What to render: the clip, the style pictures (H x W x 3 uint8) and their names, the settings of each frame
    and of the clip, and where the result goes (.mp4, .webp or .gif; its work folder is beside it)."""

    clip: Path
    styles: tuple[np.ndarray, ...]
    style_names: tuple[str, ...]
    settings: RenderSettings
    output: Path
    video: VideoSettings = field(default_factory=VideoSettings)
    tile: int | None = None  # compute in tiles of at most this many px (None: only when one pass won't fit)
    work_folder: Path | None = None  # where the finished frames are kept (None: OUTPUT.parts beside the output)
    replace_output: bool = True  # False: `output` is a name Fude made up, and a file there is never replaced

    def __post_init__(self) -> None:
        if not self.styles or len(self.styles) != len(self.style_names):
            raise ValueError(f"{len(self.styles)} style pictures with {len(self.style_names)} names")


@dataclass(frozen=True)
class CheckedClip:
    """A clip found fit to render, before any work (VideoRun.check)."""

    info: ClipInfo
    identity: dict[str, Any]  # what tells the clip file apart (engine.clip_folder.clip_identity)
    fps: Fraction  # the frame rate rendered
    size: tuple[int, int]  # the frames' size
    frames: int | None  # about how many frames the part asked for gives (None: unknown)
    render: dict[str, Any]  # everything that decides the frames (engine.clip_folder.render_identity)


@dataclass(frozen=True)
class ClipPlan:
    """What a clip's run will do, known before its first frame is rendered."""

    clip: ClipInfo
    width: int  # the frames' size (even, as H.264 needs)
    height: int
    fps: Fraction
    frames: int | None  # about how many frames the clip gives (None: it does not say its length)
    done: int  # frames already finished in the work folder
    work_folder: Path
    first_seconds: float  # the estimated time of a first frame (coarse to fine), on this machine
    later_seconds: float  # ... and of each later frame

    @property
    def seconds(self) -> float | None:
        """The estimated time of the frames still to render (None: the clip's length is unknown)."""
        if self.frames is None:
            return None
        left = max(0, self.frames - self.done)
        if left == 0:
            return 0.0
        first = self.first_seconds if self.done == 0 else self.later_seconds
        return first + (left - 1) * self.later_seconds


@dataclass(frozen=True)
class ClipProgress:
    """One finished frame, as a progress bar or a queue row shows it."""

    index: int  # the frame just finished, 1-based
    frames: int | None  # about how many the clip has
    rendered: int  # frames rendered by this run so far
    fresh: bool  # rendered afresh (the first frame, or after a scene cut) rather than carried over
    seconds: float  # this frame's time
    seconds_per_frame: float  # the mean of this run's later frames (the first frame's time until there is one)
    seconds_left: float | None  # for the rest of the clip (None: its length is unknown)
    iterations: int  # this frame's iterations
    reliable_share: float | None  # the share of the frame the flow from the frame before held for


@dataclass(frozen=True)
class ClipOutcome:
    """How a clip's run ended."""

    output: Path | None  # the file written (None when cancelled before the end)
    frames: int  # frames finished in the work folder
    rendered: int  # of them, rendered by this run
    cancelled: bool
    work_folder: Path
    problem: VideoError | None = None  # the clip broke part-way: what was decoded is rendered and written
    notes: tuple[str, ...] = ()


class ClipListener(RunListener):
    """What a front end hears of a clip's run, on the thread that runs it; each frame's own run is heard of through
    the RunListener methods (on_started, before_step, on_frame...), so a picture's progress bar serves a frame.
    Every method does nothing here: override those you need. None may raise."""

    def on_plan(self, plan: ClipPlan) -> None:
        """The clip is known and the frames left are about to be rendered: its size, frames and time estimate."""

    def on_frame_started(self, index: int, frames: int | None, fresh: bool) -> None:
        """Frame `index` begins (`fresh`: from noise, the first frame or after a scene cut)."""

    def on_frame_done(self, progress: ClipProgress, image: np.ndarray) -> None:
        """A frame is finished and kept; `image` is its picture as shown (Keep colours applied)."""

    def on_encoding(self, output: Path, frames: int) -> None:
        """The frames are being encoded into `output`."""


def frame_size(clip: ClipInfo, settings: RenderSettings) -> tuple[int, int]:
    """The size a clip's frames are rendered at: its longest side `settings.size`, both sides even (H.264)."""
    return even_size(*fit_size(clip.width, clip.height, settings.size))


def is_scene_cut(motion: FrameMotion, previous: np.ndarray, current: np.ndarray) -> bool:
    """Whether `current` should start afresh rather than go on from the frame before (content frames, uint8)."""
    share = motion.reliable_share
    if share < SCENE_CUT_SHARE:
        return True
    carried = motion.carry(previous).astype(np.float32)
    differs = np.abs(carried - current.astype(np.float32)).mean(axis=2) > SCENE_CUT_LEVELS
    return float((motion.reliable * differs).sum()) > SCENE_CUT_MISMATCH * float(motion.reliable.sum())


def warm_start(warped: np.ndarray, content: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """A later frame's start: the frame before carried over where the flow is reliable, the content frame where it
    is not, blended by the reliability."""
    weight = reliable.astype(np.float32)[..., None]
    start = weight * warped.astype(np.float32) + (1 - weight) * content.astype(np.float32)
    return np.clip(np.rint(start), 0, 255).astype(np.uint8)


class VideoRun:
    """Renders one `VideoJob`: `run()` on the thread that should do the work, `cancel()` from any."""

    def __init__(self, job: VideoJob, backends: BackendCache | None = None,
                 listener: ClipListener | None = None) -> None:
        self.job = job
        self._backends = backends if backends is not None else BackendCache()
        self._listener = listener if listener is not None else ClipListener()
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._run: StyleRun | None = None
        self._notes: list[str] = []

    def cancel(self) -> None:
        """Stop before the next iteration; the frame in progress is not kept, the finished ones are."""
        self._cancelled.set()
        with self._lock:
            if self._run is not None:
                self._run.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _note(self, text: str) -> None:
        self._notes.append(text)
        self._listener.on_notice(text)

    def check(self) -> CheckedClip:
        """Everything that can be refused before any work: the settings, the output's name and folder, the clip
        (missing, empty, not a video, no frames in the part asked for), a work folder holding another render's
        frames; a FudeError otherwise."""
        job, settings = self.job, self.job.settings
        if settings.regions is not None:
            raise SettingsError("regions", "regions cannot be used for a video yet; every style goes everywhere "
                                "in every frame")
        settings.style_mix(len(job.styles))  # a SettingsError when the weights do not match the styles
        fmt = animation_format(job.output)
        check_writable(job.output)
        identity = clip_identity(job.clip)  # a VideoError for a missing file, a folder, a device...
        if identity["bytes"] == 0:
            raise VideoError(job.clip, "is empty (0 bytes)")
        clip = probe(job.clip)
        fps = clip.fps if job.video.fps is None else Fraction(job.video.fps).limit_denominator(1001)
        frames = clip.frame_count(fps, job.video.start, job.video.duration)
        if frames == 0:
            length = f"{clip.duration:.2f} s long" if clip.duration is not None else "short"
            raise VideoError(job.clip, f"has no frames from {job.video.start:g} s on (it is {length})")
        if fmt in ("webp", "gif") and frames is not None and frames > MAX_ANIMATION_FRAMES:
            raise ExportError(job.output, f"an animated {fmt.upper()} holds at most {MAX_ANIMATION_FRAMES} frames "
                              f"and this clip gives about {frames}; write an .mp4, or render a shorter part")
        size = frame_size(clip, settings)
        render = render_identity(identity, job.styles, settings, job.video.to_dict(), _flow_method(), size,
                                 f"{fps.numerator}/{fps.denominator}")
        self._folder().check(render)
        return CheckedClip(clip, identity, fps, size, frames, render)

    def _folder(self) -> ClipFolder:
        job = self.job
        return ClipFolder(job.output, keep_colours=job.settings.keep_colours, path=job.work_folder)

    def run(self) -> ClipOutcome:
        """Render the frames not yet finished, then encode the clip. A FudeError when something cannot be used
        (settings, clip, output, work folder of another render, a full disk); OutOfMemory or DivergenceError
        when a frame fails. Whatever happens, the finished frames stay in the work folder for the next run."""
        job, listener = self.job, self._listener
        checked = self.check()
        clip, fps, size, frames = checked.info, checked.fps, checked.size, checked.frames
        if clip.alpha:
            self._note(f"{job.clip.name} has transparency: a video keeps none, so it is rendered over white.")
        if not clip.fps_known and job.video.fps is None:
            self._note(f"{job.clip.name} does not say its frame rate: it is rendered at {float(fps):g} frames a "
                       "second.")
        folder = self._folder()
        self._check_disk(folder.path, size, frames, folder.finished())  # before the folder is made
        manifest = folder.open(checked.render)
        done = folder.finished()
        rendered, problem = 0, manifest.problem
        if manifest.frames is None or done < manifest.frames:
            rendered, total, problem = self._render(clip, fps, size, frames, folder, done)
            if self.cancelled:
                return ClipOutcome(None, folder.finished(), rendered, True, folder.path, notes=tuple(self._notes))
            folder.finish(total, problem)
        count = folder.finished()
        listener.on_encoding(job.output, count)
        written, note = encode_video(job.output, folder.encoded_frames(count), fps, folder.path, clip,
                                     job.video.start, job.video.duration, replace=job.replace_output)
        if note:
            self._note(note)
        failure = VideoError(job.clip, problem) if problem else None
        return ClipOutcome(written, count, rendered, False, folder.path, failure, tuple(self._notes))

    def _check_disk(self, folder: Path, size: tuple[int, int], frames: int | None, done: int) -> None:
        """Refuse to start when the frames left will clearly not fit on the disk of the work `folder` (which may not
        exist yet: the disk is the one of the folder it goes in)."""
        copies = 2 if self.job.settings.keep_colours else 1
        left = max(0, (frames or done + 1) - done)
        needed = int(left * size[0] * size[1] * 3 * PNG_SHARE * copies) + DISK_MARGIN_BYTES
        free = shutil.disk_usage(folder if folder.is_dir() else folder.parent).free
        if free < needed:
            raise ExportError(folder, f"the frames of this clip need about {format_bytes(needed)} and the disk has "
                              f"{format_bytes(free)} free; free some space, render a shorter part, or write "
                              "elsewhere")

    def _render(self, clip: ClipInfo, fps: Fraction, size: tuple[int, int], frames: int | None,
                folder: ClipFolder, done: int) -> tuple[int, int, str | None]:
        """Decode the clip and render every frame after the first `done`; (frames rendered, frames decoded, why
        decoding stopped early or None). Stops early when cancelled."""
        from engine.flow import motion_between

        job, listener = self.job, self._listener
        listener.on_phase(PHASE_NETWORK)
        backend = self._backends.get(job.settings)
        tile = self._check_memory(backend, size)
        plan = self._plan(clip, fps, size, frames, folder.path, done, backend, tile)
        listener.on_plan(plan)
        reader = FrameReader(clip, size, fps, job.video.start, job.video.duration)
        styles: tuple[np.ndarray, ...] = job.styles
        previous_content: np.ndarray | None = None
        previous: np.ndarray | None = None  # the frame before, as the run made it
        rendered, later_times = 0, []
        index = 0
        try:
            for index, content in enumerate(reader, start=1):
                if index == 1 and job.settings.match_colours:  # once per clip, onto its first frame
                    note = match_note(clip.path.name, styles, content)
                    if note is not None:
                        self._note(note)
                    styles = tuple(match_colours(style, content) for style in styles)
                if index <= done:
                    previous_content = content
                    continue
                if self.cancelled:
                    return rendered, index - 1, None
                if previous is None and index > 1:
                    previous = folder.read_frame(index - 1)
                motion = None
                if previous is not None and previous_content is not None:
                    motion = motion_between(previous_content, content)
                    if is_scene_cut(motion, previous_content, content):
                        motion = None
                fresh = motion is None
                listener.on_frame_started(index, frames, fresh)
                started = time.perf_counter()
                run = self._frame_run(content, styles, backend, tile, None if fresh else motion, previous)
                image = self._drive(run)
                if run.cancelled:
                    return rendered, index - 1, None
                shown = keep_colours(image, content) if job.settings.keep_colours else image
                folder.write_frame(index, image, shown if job.settings.keep_colours else None)
                seconds = time.perf_counter() - started
                rendered += 1
                if not fresh:
                    later_times.append(seconds)
                per_frame = float(np.mean(later_times)) if later_times else seconds
                left = None if frames is None else max(0, frames - index) * (
                    per_frame if later_times else plan.later_seconds)
                listener.on_frame_done(ClipProgress(index, frames, rendered, fresh, seconds, per_frame, left,
                                                    run.index, None if motion is None else motion.reliable_share),
                                       shown)
                previous, previous_content = image, content
        finally:
            reader.close()
        if index == 0:
            raise VideoError(clip.path, "has no frames that can be decoded in the part asked for")
        return rendered, index, reader.problem

    def _frame_run(self, content: np.ndarray, styles: tuple[np.ndarray, ...], backend: Backend, tile: int | None,
                   motion: FrameMotion | None, previous: np.ndarray | None) -> StyleRun:
        """The run of one frame: afresh (no `motion`), or from `previous` carried over, held by the temporal loss."""
        from engine.run import StyleRun, TemporalTarget

        height, width = content.shape[:2]
        # the frame is decoded at the result's size; the colours were matched once for the clip
        settings = self.job.settings.replaced(size=max(width, height), match_colours=False)
        if motion is None or previous is None:
            return StyleRun(content, styles, settings, backend, tile=tile)
        warped = motion.carry(previous)
        temporal = TemporalTarget(warped, motion.reliable, self.job.video.steadiness)
        start = warm_start(warped, content, motion.reliable)
        return StyleRun(content, styles, settings, backend, start=start, tile=tile, temporal=temporal)

    def _drive(self, run: StyleRun) -> np.ndarray:
        """Step one frame's run to its end (or a cancel), telling the listener; its picture."""
        listener = self._listener
        with self._lock:
            self._run = run
            if self._cancelled.is_set():
                run.cancel()
        try:
            listener.on_started(run)
            while not run.done:
                listener.before_step(run)
                if run.done:
                    break
                frame = run.step()
                if frame.notice:
                    listener.on_notice(frame.notice)
                listener.on_frame(run, frame, None)
            return run.result()
        finally:
            with self._lock:
                self._run = None

    def _check_memory(self, backend: Backend, size: tuple[int, int]) -> int | None:
        """The tile the frames are computed in (None: one pass), as a picture's run decides it; warns when even
        that will probably not fit."""
        from engine.memory import check_memory, largest_style_shape

        job = self.job
        settings = job.settings.replaced(size=max(size))
        check = check_memory((size[1], size[0], 3), largest_style_shape([s.shape for s in job.styles]), settings,
                             backend.device, backend.precision.dtype.itemsize, tile=job.tile)
        if not check.enough:
            self._listener.on_memory_warning(check)
        elif check.tile is not None and job.tile is None:
            self._note(f"{settings.size} px does not fit in memory in one pass: each frame is computed in tiles "
                       f"of {check.tile} px, which gives the same picture more slowly.")
        return check.tile

    def _plan(self, clip: ClipInfo, fps: Fraction, size: tuple[int, int], frames: int | None, folder: Path,
              done: int, backend: Backend, tile: int | None) -> ClipPlan:
        """The clip's plan with the time of a first and of a later frame estimated from the speed measured here
        (engine.schedule, the model a picture's estimate comes from)."""
        from engine.schedule import ITERATION_COST, SPEED_PROBE_SIDE, Schedule, measure_speed

        width, height = size
        settings = self.job.settings.replaced(size=max(size))
        seconds_per_pixel = measure_speed(backend.network, backend.device, side=min(SPEED_PROBE_SIDE, max(size)))
        schedule = Schedule.of(settings, width, height, tile)
        first = schedule.expected_work * ITERATION_COST * seconds_per_pixel
        later = schedule.warm_frame(settings.optimizer).expected_work * ITERATION_COST * seconds_per_pixel
        return ClipPlan(clip, width, height, fps, frames, done, folder, first, later)


def _flow_method() -> str:
    from engine.flow import FLOW_METHOD

    return FLOW_METHOD
