"""JobQueue: the window's queue of renders. Each job keeps the pictures and settings it was added with; the queue
runs them one after another through the session (Session.run_job) whenever the session is idle, and writes each
finished picture to the chosen folder, never over an existing file. Each job's run is its own: the session says
which run each of its signals is about (a RunHandle), so the queue follows its job's run and nothing else, and
nothing done in the panes while the job runs changes it. Jobs can be removed, reordered and cancelled without
touching the others. The waiting jobs are kept on disk (engine/queue_store.py) as they are added, moved, run or
removed, and the jobs found there at the start are offered back. This is the queue's one state; its panel only
shows it and calls its commands.

A video job (`add_video`: Render video…) renders a whole clip to the file chosen for it: it runs as a VideoWorker
(app/video_worker.py) of the queue's own, and while it does the session is kept busy (Session.begin_clip), so
neither Start nor another job runs beside it. Its entry follows the clip: the plan, the latest finished frame and
its thumbnail. A video job is kept in the store whole (engine/queue_store.py): a copy of its clip, its frames as
they finish, and only the *name* of its video, so that the next start (after a close or a crash) offers to go on
with it and writes it to the queue's folder. When it is cancelled, removed or discarded, its finished frames move
beside its video as OUTPUT.parts, from which Render video… with the same clip, paintings and settings goes on (as it
does from the frames of a video job that could not be kept)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.loaded_image import LoadedImage
from app.session import STOP_WAIT_S, RunHandle, Session
from app.video_worker import VideoWorker
from engine.clip_folder import move_work_folder, work_folder_for
from engine.driver import RunOutcome
from engine.errors import FudeError, OutOfMemory
from engine.names import render_file_stem
from engine.queue_store import ClipToKeep, QueueStore, StoredJob
from engine.saving import save_result
from engine.settings import RenderSettings
from engine.video import ClipOutcome, ClipPlan, ClipProgress, VideoJob, VideoRun
from engine.video_settings import VideoSettings


class JobStatus(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """The job will not run again (done, cancelled or failed)."""
        return self in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)


@dataclass(frozen=True)
class ClipRender:
    """What a video job adds to a picture job: the clip, the file it is written to, and how it is rendered."""

    clip: Path  # the clip rendered (the store's copy of it while the store keeps the job)
    output: Path | None  # None: a job kept from before, written under `name` in the queue's folder when it starts
    video: VideoSettings
    frames: int | None  # about how many frames the clip gives (None: it does not say)
    size: tuple[int, int]  # the frames' size
    name: str = ""  # the video's file name (when `output` is None)
    kept_frames: Path | None = None  # its work folder in the store (None: OUTPUT.parts beside the output)

    @property
    def output_name(self) -> str:
        return self.output.name if self.output is not None else self.name

    @property
    def frames_left_in(self) -> str:
        """The name of the folder its finished frames are left in when it is not kept: OUTPUT.parts."""
        return work_folder_for(self.output_name).name


@dataclass(frozen=True)
class QueuedJob:
    """One render waiting in the queue: the pictures and the settings as they were when it was added (and, for a
    video job, the clip: `content` is then its first frame)."""

    id: int
    content: LoadedImage
    styles: tuple[LoadedImage, ...]
    settings: RenderSettings
    key: str = ""  # where the queue's store keeps it ("" while it is not kept)
    clip: ClipRender | None = None  # a video job's clip (None: a picture job)

    @property
    def style_names(self) -> tuple[str, ...]:
        return tuple(style.name for style in self.styles)

    @property
    def file_stem(self) -> str:
        """The name its picture is saved under, without the suffix (or a number, when that is taken)."""
        return render_file_stem(self.content.name, self.style_names)


@dataclass(frozen=True)
class QueueEntry:
    """A job and how it stands: its status, a message (why it failed; when it was cancelled, e.g. "at iteration 3
    of 40") and the file written."""

    job: QueuedJob
    status: JobStatus = JobStatus.WAITING
    message: str = ""
    path: str = ""
    # a video job's run so far: its plan, its latest finished frame and that frame's thumbnail, and whether the
    # frames are being encoded
    plan: ClipPlan | None = None
    progress: ClipProgress | None = None
    thumbnail: np.ndarray | None = field(default=None, compare=False, repr=False)
    encoding: bool = False

    @property
    def clip_frames(self) -> tuple[int, int | None]:
        """A video job's frames finished so far, and about how many its clip has (None: unknown)."""
        clip, plan, progress = self.job.clip, self.plan, self.progress
        total = ((progress.frames if progress is not None else None) or (plan.frames if plan is not None else None)
                 or (clip.frames if clip is not None else None))
        return (progress.index if progress is not None else plan.done if plan is not None else 0), total


class JobQueue(QObject):
    """The queue of `session`'s jobs, in the order they run. `start` runs the waiting jobs one after another
    (a run the user starts in between is waited for); `pause` lets the running job end and takes no new one.
    With a `store`, the waiting jobs are kept there (see `load_stored`, `restore_offered`, `discard_waiting`)."""

    jobsChanged = Signal()  # a job was added, removed, moved, or its status changed
    activeChanged = Signal(bool)  # the queue is taking jobs (True) or paused / out of jobs (False)
    folderChanged = Signal(str)  # the folder the pictures are written to
    jobSaved = Signal(int, str)  # a job's id and the PNG its picture was written to
    offeredChanged = Signal(int)  # how many jobs kept from before are offered back (0: none, or answered)
    setAside = Signal(object)  # tuple[Path, ...]: what the store could not read and moved aside
    error = Signal(str)  # something the user must see, naming the job or the file
    info = Signal(str)  # a note that needs no answer
    clipFrame = Signal(int, object)  # a video job's id and its latest finished frame (H x W x 3 uint8)

    def __init__(self, session: Session, parent: QObject | None = None, store: QueueStore | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._store = store
        self._entries: list[QueueEntry] = []
        self._offered: tuple[StoredJob, ...] = ()  # kept from before, until the user answers
        self._next_id = 1
        self._folder = ""
        self._active = False
        self._running: RunHandle | None = None  # the run of a job (whose entry may have been removed since)
        self._clip: VideoWorker | None = None  # the worker of the video job under way (its `tag`: the job's id)
        self._release_later: dict[int, QueuedJob] = {}  # kept video jobs to take out of the store once they stop
        self._cancelling: int | None = None  # the running job's id once it was asked to stop
        self._saved = 0  # pictures written since the queue was last started
        self._written: list[str] = []  # ... and the names of the videos
        self._failed = 0  # jobs that failed (or were not saved) since then
        self._store_failed = False  # a failure to keep the queue was said (once)
        self._closed = False  # the window closed: the store keeps what it holds now
        session.runFinished.connect(self._on_finished)
        session.runFailed.connect(self._on_failed)
        session.runOutOfMemory.connect(self._on_out_of_memory)
        session.runEnded.connect(self._on_run_ended)

    # ---- what there is ----

    @property
    def entries(self) -> tuple[QueueEntry, ...]:
        """Every job, in the order the waiting ones run, with its status."""
        return tuple(self._entries)

    def entry(self, job_id: int) -> QueueEntry | None:
        return next((e for e in self._entries if e.job.id == job_id), None)

    @property
    def folder(self) -> str:
        """Where finished pictures are written ("" until one is chosen)."""
        return self._folder

    @property
    def active(self) -> bool:
        """The queue is running: it starts the next waiting job whenever the session is idle."""
        return self._active

    @property
    def waiting(self) -> int:
        return sum(e.status is JobStatus.WAITING for e in self._entries)

    @property
    def unfinished(self) -> int:
        """Jobs waiting or running: what closing the window would leave undone (none once it has closed)."""
        return 0 if self._closed else sum(not e.status.finished for e in self._entries)

    @property
    def unfinished_clips(self) -> tuple[QueueEntry, ...]:
        """The video jobs waiting or running (none once the window has closed)."""
        return () if self._closed else tuple(e for e in self._entries
                                             if e.job.clip is not None and not e.status.finished)

    @property
    def running_job(self) -> int | None:
        """The id of the job whose run (or clip) is going, or None."""
        if self._clip is not None:
            return self._clip.tag
        return self._running.queue_job if self._running is not None else None

    @property
    def offered(self) -> tuple[StoredJob, ...]:
        """The jobs kept from before (the last window closed, or crashed, with them waiting), until the user
        restores or discards them."""
        return self._offered

    # ---- commands ----

    def add(self, content: LoadedImage | None, styles: Sequence[LoadedImage], settings: RenderSettings) -> int | None:
        """Keep these pictures and settings as a job at the end of the queue (and in the store); its id, or None
        (with an error saying why) when they cannot make a render."""
        if content is None or not styles:
            missing = "a content picture (the creature)" if content is None else "a style picture (the painting)"
            self.error.emit(f"Add to queue: add {missing} first.")
            return None
        try:
            settings.regions_for(len(styles))
            settings.style_mix(len(styles))
        except FudeError as exc:
            self.error.emit(f"Add to queue: the settings cannot be used ({exc.reason}).")
            return None
        job = QueuedJob(self._next_id, content, tuple(styles), settings, self._keep(content, styles, settings))
        self._next_id += 1
        self._entries.append(QueueEntry(job))
        self._write_order()
        self.jobsChanged.emit()
        self._start_soon()
        return job.id

    def add_video(self, content: LoadedImage | None, styles: Sequence[LoadedImage], settings: RenderSettings,
                  output: Path, video: VideoSettings | None = None) -> int | None:
        """Keep the clip that `content` is the first frame of, with these paintings and settings, as a video job
        written to `output` (.mp4, .webp or .gif): checked now as the engine checks it before any work (regions,
        the output's name and folder, the clip), so a refusal comes at once, in one line. Its id, or None."""
        if content is None or content.clip is None:
            self.error.emit("Render video: the content is not a clip; drop a video on the Content pane first.")
            return None
        if not styles:
            self.error.emit("Render video: add a style picture (the painting) first.")
            return None
        clip = ClipRender(content.clip.path, output, video or VideoSettings(), None, (content.width, content.height))
        same = next((e for e in self._entries if e.job.clip is not None and not e.status.finished
                     and e.job.clip.output == output), None)
        if same is not None:
            self.error.emit(f"Render video: {output.name} is already what job {same.job.id} in the queue writes; "
                            "choose another name.")
            return None
        try:
            checked = VideoRun(self._video_job(styles, settings, clip)).check()
        except FudeError as exc:
            self.error.emit(f"Render video: {exc}")
            return None
        clip = replace(clip, frames=checked.frames, size=checked.size)
        key, clip = self._keep_clip(content, styles, settings, clip)
        job = QueuedJob(self._next_id, content, tuple(styles), settings, key, clip)
        self._next_id += 1
        self._entries.append(QueueEntry(job))
        self._write_order()
        self.jobsChanged.emit()
        self._start_soon()
        return job.id

    def _keep_clip(self, content: LoadedImage, styles: Sequence[LoadedImage], settings: RenderSettings,
                   clip: ClipRender) -> tuple[str, ClipRender]:
        """Keep a new video job in the store, with a copy of its clip, its frames going to the store from now on
        (the frames already beside its video, OUTPUT.parts, of the same render, move there first); its key and
        its clip as it runs. ("", `clip`) when it cannot be kept: it then runs as it is, and that is said once."""
        if self._store is None or content.clip is None or clip.output is None:
            return "", clip
        try:
            key = self._store.add(content.array, content.name, [s.array for s in styles], [s.name for s in styles],
                                  settings, content.alpha, ClipToKeep(clip.clip, clip.output.name, clip.video))
        except FudeError as exc:
            self._say_store_failed(exc)
            return "", clip
        stored = self._store.clip_of(key, clip.clip, clip.output.name, clip.video)
        beside = work_folder_for(clip.output)
        if beside.exists() and not move_work_folder(beside, stored.work_folder):
            self._store.remove(key)  # its frames stay beside the video, and it goes on from there
            return "", clip
        return key, replace(clip, clip=stored.file, kept_frames=stored.work_folder)

    def _video_job(self, styles: Sequence[LoadedImage], settings: RenderSettings, clip: ClipRender) -> VideoJob:
        """The engine's job for a video job's clip: written to its output, or, for a job kept from before, under
        its name in the queue's folder, never over a file there."""
        output = self._output_of(clip) or Path(clip.name)  # (a kept job starts only once there is a folder)
        return VideoJob(clip.clip, tuple(s.array for s in styles), tuple(s.name for s in styles), settings, output,
                        clip.video, work_folder=clip.kept_frames, replace_output=clip.output is not None)

    def _output_of(self, clip: ClipRender) -> Path | None:
        """The file a video job writes: its own, or for a job kept from before its name in the queue's folder (None
        while there is no folder)."""
        if clip.output is not None:
            return clip.output
        return Path(self._folder) / clip.name if self._folder else None

    def remove(self, job_id: int) -> bool:
        """Take a job out of the queue; the running one is cancelled first (its picture still reaches the
        history as a stopped one)."""
        entry = self.entry(job_id)
        if entry is None:
            return False
        if entry.status is JobStatus.RUNNING:
            self._stop_running(job_id)
        self._entries.remove(entry)
        self._forget(entry.job)
        self.jobsChanged.emit()
        return True

    def move(self, job_id: int, delta: int) -> bool:
        """Move a waiting job `delta` places among the waiting jobs (negative: earlier); False when it cannot
        move (not waiting, or already first or last)."""
        slots = [i for i, e in enumerate(self._entries) if e.status is JobStatus.WAITING]
        order = [self._entries[i] for i in slots]
        here = next((k for k, e in enumerate(order) if e.job.id == job_id), None)
        if here is None:
            return False
        there = min(max(here + delta, 0), len(order) - 1)
        if there == here:
            return False
        order.insert(there, order.pop(here))
        for slot, entry in zip(slots, order, strict=True):
            self._entries[slot] = entry
        self._write_order()
        self.jobsChanged.emit()
        return True

    def cancel(self, job_id: int) -> bool:
        """Cancel a job: a waiting one is skipped, the running one is stopped; the queue goes on with the next."""
        entry = self.entry(job_id)
        if entry is None or entry.status.finished:
            return False
        if entry.status is JobStatus.RUNNING:
            self._stop_running(job_id)  # it is marked cancelled when its run has stopped
            return True
        self._set(job_id, JobStatus.CANCELLED, "before it ran")
        return True

    def set_folder(self, folder: str) -> bool:
        """Write the finished pictures to `folder` from now on; False, with an error, when it is not a folder."""
        if not folder or not os.path.isdir(folder):
            self.error.emit(f"{folder or 'The queue folder'}: is not a folder; choose the folder for the "
                            "queue's pictures again.")
            return False
        if folder != self._folder:
            self._folder = folder
            self.folderChanged.emit(folder)
        return True

    @property
    def needs_folder(self) -> bool:
        """A picture job (or a video job kept from before) is waiting and there is no folder to write it to (a video
        job added now has its own file)."""
        return not self._folder and any(e.status is JobStatus.WAITING and (e.job.clip is None or e.job.clip.output
                                                                           is None) for e in self._entries)

    def start(self) -> bool:
        """Run the waiting jobs, one after another; False, with an error, when a picture job waits and there is no
        folder to write it to, or no job is waiting."""
        if not self.waiting:
            self.info.emit("The queue has no job waiting: press Add to queue first.")
            return False
        if self.needs_folder:
            self.error.emit("Run queue: choose the folder for the queue's pictures first (Folder…).")
            return False
        if self._folder and (not os.path.isdir(self._folder) or not os.access(self._folder, os.W_OK | os.X_OK)):
            problem = "is not writable" if os.path.isdir(self._folder) else "does not exist any more"
            self.error.emit(f"Run queue: the folder {self._folder} {problem}; choose another folder (Folder…).")
            return False
        self._saved = self._failed = 0
        self._written = []
        self._set_active(True)
        self._start_soon()
        return True

    def pause(self) -> None:
        """Take no new job; the running one goes on to its end."""
        self._set_active(False)

    def toggle(self) -> bool:
        """Run the queue when it is paused, pause it when it runs; whether it runs now."""
        if self._active:
            self.pause()
        else:
            self.start()
        return self._active

    # ---- the jobs kept on disk ----

    def load_stored(self) -> int:
        """Read the jobs kept from before (once, at the start): they are offered (`offered`) until the user
        restores or discards them; what could not be read is said, and what was moved aside `setAside`. How
        many jobs are offered."""
        if self._store is None:
            return 0
        found = self._store.load()
        for problem in found.problems:
            self.error.emit(f"Queue: {problem}.")
        if found.moved_aside:
            self.setAside.emit(found.moved_aside)
        known = {e.job.key for e in self._entries}
        self._offered = tuple(job for job in found.jobs if job.key not in known)
        self.offeredChanged.emit(len(self._offered))
        return len(self._offered)

    def restore_offered(self) -> int:
        """Put the jobs kept from before back in the queue as waiting jobs, before the ones added since; how
        many."""
        offered, self._offered = self._offered, ()
        if not offered:
            return 0
        restored = []
        for stored in offered:
            content = LoadedImage(stored.content, stored.content_name, alpha=stored.content_alpha)
            styles = tuple(LoadedImage(style, name) for style, name in zip(stored.styles, stored.style_names,
                                                                           strict=True))
            clip = None
            if stored.clip is not None:
                kept = stored.clip
                clip = ClipRender(kept.file, None, kept.video, None, (content.width, content.height),
                                  kept.output_name, kept.work_folder)
            restored.append(QueueEntry(QueuedJob(self._next_id, content, styles, stored.settings, stored.key, clip)))
            self._next_id += 1
            if self._store is not None:
                self._store.adopt(stored.key)
        self._entries[:0] = restored
        self._write_order()
        self.offeredChanged.emit(0)
        self.jobsChanged.emit()
        self._start_soon()
        return len(restored)

    def discard_offered(self) -> None:
        """Throw away the jobs kept from before (the user declined them); a video job's finished frames move to
        the queue's folder (as <video name>.parts) when there is one."""
        offered, self._offered = self._offered, ()
        if self._store is not None:
            for stored in offered:
                kept = stored.clip
                if kept is not None and self._folder and kept.work_folder.exists():
                    move_work_folder(kept.work_folder, work_folder_for(Path(self._folder) / kept.output_name))
                self._store.remove(stored.key)
        self._write_order()
        self.offeredChanged.emit(0)

    def close(self, keep: bool) -> None:
        """The window closes: take no new job, and keep the unfinished jobs (waiting, and the running one, which
        the closing stops) for the next start, or (`keep` False) forget them on disk. A clip under way is stopped
        and waited for: its finished frames stay in its work folder either way."""
        self.pause()
        worker = self._clip
        if worker is not None:
            worker.cancel()
            worker.wait(STOP_WAIT_S)
        if not keep and self._store is not None:
            for entry in self._entries:
                if not entry.status.finished and entry.job.key:
                    self._release(entry.job)
            try:
                self._store.set_order([job.key for job in self._offered])
            except FudeError:
                pass  # (a missing job in the order is passed over when it is read)
        self._closed = True

    def _keep(self, content: LoadedImage, styles: Sequence[LoadedImage], settings: RenderSettings) -> str:
        """Keep a new job in the store; its key, or "" (said once) when it cannot be kept."""
        if self._store is None:
            return ""
        try:
            return self._store.add(content.array, content.name, [s.array for s in styles],
                                   [s.name for s in styles], settings, content.alpha)
        except FudeError as exc:
            self._say_store_failed(exc)
            return ""

    def _forget(self, job: QueuedJob) -> None:
        if self._store is not None and job.key:
            if self._clip is not None and self._clip.tag == job.id:
                self._release_later[job.id] = job  # its clip is still rendering: once it has stopped
            else:
                self._release(job)
            self._write_order()

    def _release(self, job: QueuedJob) -> None:
        """Take `job` out of the store. A video job's finished frames move beside its video first (OUTPUT.parts,
        as the command line leaves them: Render video… with the same clip and settings goes on from them, or only
        encodes them again); where they cannot move (no folder for its video yet, or that folder is taken), the
        job is left in the store, to be offered at the next start."""
        store, clip = self._store, job.clip
        if store is None or not job.key:
            return
        frames = clip.kept_frames if clip is not None else None
        if clip is not None and frames is not None and frames.exists():
            output = self._output_of(clip)
            if output is None or not move_work_folder(frames, work_folder_for(output)):
                self.info.emit(f"Queue job {job.id}: its finished frames are kept in Fude's data folder; the next "
                               "start offers to go on with it.")
                return
        store.remove(job.key)

    def _write_order(self) -> None:
        """Keep the order of the jobs still to run (those offered from before first, while unanswered)."""
        if self._store is None or self._closed:
            return
        keys = [job.key for job in self._offered]
        keys += [e.job.key for e in self._entries if not e.status.finished and e.job.key]
        try:
            self._store.set_order(keys)
        except FudeError as exc:
            self._say_store_failed(exc)

    def _say_store_failed(self, exc: FudeError) -> None:
        if not self._store_failed:
            self._store_failed = True
            self.error.emit(f"Queue: {exc}; the queue works, but its waiting jobs are not kept for the next start.")

    # ---- running the jobs ----

    def _start_soon(self) -> None:
        """Start the next job once the events under way are handled (a run the session is about to start itself,
        a retry, goes first)."""
        if self._active:
            QTimer.singleShot(0, self, self._start_next)

    @Slot()
    def _start_next(self) -> None:
        session = self._session
        if not self._active or self._running is not None or self._clip is not None or session.busy:
            return  # the session's runEnded (or the clip's end) brings us back
        for entry in list(self._entries):
            if entry.status is not JobStatus.WAITING:
                continue
            job = entry.job
            if job.clip is not None:
                if self._start_clip(job):
                    return
                continue
            if not self._folder:
                self._set(job.id, JobStatus.FAILED, "there is no folder for its picture (Folder…)")
                continue
            run = session.run_job(job.content, job.styles, job.settings, job.id)
            if run is not None:
                self._running = run
                self._set(job.id, JobStatus.RUNNING)
                return
            self._set(job.id, JobStatus.FAILED, "it could not start (see the message above)")
        self._set_active(False)
        self._say_done()

    def _say_done(self) -> None:
        """Say what the queue did, as an error when some job failed (its row in the list says why)."""
        saved, failed, written = self._saved, self._failed, self._written
        parts = [f"{saved} picture{'s' if saved != 1 else ''} saved in {self._folder}"] if saved or not written else []
        if written:
            parts.append(f"{len(written)} video{'s' if len(written) != 1 else ''} written ({', '.join(written)})")
        done = "The queue is done: " + "; ".join(parts)
        if failed:
            self.error.emit(f"{done}; {failed} job{'s' if failed != 1 else ''} failed (the queue's list says why).")
        elif saved or written:
            self.info.emit(f"{done}.")

    def _stop_running(self, job_id: int) -> None:
        self._cancelling = job_id
        if self._clip is not None and self._clip.tag == job_id:
            self._clip.cancel()
        elif self._running is not None:
            self._session.stop_run(self._running)

    # ---- a video job ----

    def _start_clip(self, job: QueuedJob) -> bool:
        """Start rendering video job `job`'s clip on a worker of its own, the session kept busy meanwhile; False,
        with the job marked failed, when it cannot start."""
        clip = job.clip
        if clip is None:
            return False
        if clip.output is None and not self._folder:
            self._set(job.id, JobStatus.FAILED, "there is no folder for its video (Folder…); its frames are kept")
            return False
        if not self._session.begin_clip(job.id):
            return False
        worker = VideoWorker(self._video_job(job.styles, job.settings, clip), self._session.backends, job.id, self)
        worker.planned.connect(self._on_clip_planned)
        worker.frameDone.connect(self._on_clip_frame)
        worker.framePicture.connect(self.clipFrame)
        worker.encoding.connect(self._on_clip_encoding)
        worker.notice.connect(self._on_clip_notice)
        worker.finished.connect(self._on_clip_finished)
        worker.failed.connect(self._on_clip_failed)
        worker.ended.connect(self._on_clip_ended)
        self._clip = worker
        self._set(job.id, JobStatus.RUNNING)
        if not worker.start():  # (a new worker always starts)
            self._clip = None
            self._session.end_clip(job.id)
            self._set(job.id, JobStatus.FAILED, "it could not start")
            return False
        return True

    def _update_clip(self, job_id: int, **changes: object) -> None:
        for i, entry in enumerate(self._entries):
            if entry.job.id == job_id:
                self._entries[i] = replace(entry, **changes)  # type: ignore[arg-type]
                self.jobsChanged.emit()
                return

    @Slot(int, object)
    def _on_clip_planned(self, job_id: int, plan: ClipPlan) -> None:
        self._update_clip(job_id, plan=plan)

    @Slot(int, object, object)
    def _on_clip_frame(self, job_id: int, progress: ClipProgress, thumbnail: np.ndarray) -> None:
        self._update_clip(job_id, progress=progress, thumbnail=thumbnail)

    @Slot(int, int)
    def _on_clip_encoding(self, job_id: int, frames: int) -> None:
        self._update_clip(job_id, encoding=True)

    @Slot(int, str)
    def _on_clip_notice(self, job_id: int, text: str) -> None:
        self.info.emit(f"Queue job {job_id}: {text}")

    @Slot(int, object)
    def _on_clip_finished(self, job_id: int, outcome: ClipOutcome) -> None:
        entry = self.entry(job_id)
        if entry is None or entry.job.clip is None:
            return  # removed while it ran
        clip = entry.job.clip
        if outcome.cancelled or outcome.output is None:
            total = f" of {clip.frames}" if clip.frames else ""
            if self._cancelling != job_id and entry.job.key:
                where = "kept for the next start"
            else:
                where = f"kept in {clip.frames_left_in}: Render video… again goes on from there"
            how = "" if self._cancelling == job_id else "by closing "
            self._set(job_id, JobStatus.CANCELLED, f"{how}after {outcome.frames}{total} frames ({where})")
            return
        self._written.append(outcome.output.name)
        problem = f"the clip breaks part-way ({outcome.problem.reason}); what was decoded is written" \
            if outcome.problem is not None else ""
        if clip.output is None:  # a job kept from before: its frames go beside the file it was written to
            self._entries[self._entries.index(entry)] = replace(entry, job=replace(
                entry.job, clip=replace(clip, output=outcome.output)))
        self._set(job_id, JobStatus.DONE, problem, path=str(outcome.output))
        self.jobSaved.emit(job_id, str(outcome.output))

    @Slot(int, str)
    def _on_clip_failed(self, job_id: int, message: str) -> None:
        if self.entry(job_id) is not None:
            self._set(job_id, JobStatus.FAILED, message)

    @Slot(int)
    def _on_clip_ended(self, job_id: int) -> None:
        worker, self._clip = self._clip, None
        if worker is not None:
            worker.deleteLater()
        cancelling, self._cancelling = self._cancelling, None
        entry = self.entry(job_id)
        if entry is not None and entry.status is JobStatus.RUNNING:
            if cancelling == job_id:
                self._set(job_id, JobStatus.CANCELLED, "before its first frame")
            else:
                self._set(job_id, JobStatus.FAILED, "it ended without a result")
        later = self._release_later.pop(job_id, None)
        if later is not None:
            self._release(later)
        self._session.end_clip(job_id)  # after the entry is settled: a run waiting on the session may start now
        self._start_soon()

    def _job_of(self, run: RunHandle) -> int | None:
        """The id of the queue's job that `run` runs, while it is still in the queue; None for any other run
        (the user's own, from the panes)."""
        if self._running is None or run != self._running or run.queue_job is None:
            return None
        return run.queue_job if self.entry(run.queue_job) is not None else None

    @Slot(object, object)
    def _on_finished(self, run: RunHandle, outcome: RunOutcome) -> None:
        job_id = self._job_of(run)
        if job_id is None:
            return  # the user's own run, or a job removed while it ran
        if outcome.cancelled:
            how = "" if self._cancelling == job_id else "by Stop "  # (the window's Stop stops a job as well)
            self._set(job_id, JobStatus.CANCELLED, f"{how}at iteration {outcome.index} of {outcome.total}")
            return
        self._save(job_id, run, outcome)

    def _save(self, job_id: int, run: RunHandle, outcome: RunOutcome) -> None:
        """Write job `job_id`'s finished picture as its own settings present it (with Keep colours as it was when
        the job was added, whatever the window shows now) and with the settings it was finished with stored in
        it, under a name Fude makes up (engine.saving: never over an existing file)."""
        entry, record = self.entry(job_id), run.record
        if entry is None or record is None:
            return
        try:
            path = save_result(Path(self._folder) / f"{entry.job.file_stem}.png", record, outcome.image,
                               keep_colours=entry.job.settings.keep_colours, replace=False)
        except FudeError as exc:
            self._set(job_id, JobStatus.FAILED, f"not saved: {exc.reason}")
            goes_on = "; the queue goes on with the next job" if self._active and self.waiting else ""
            self.error.emit(f"Queue: {exc}. The picture is in the history{goes_on}.")
            return
        self._saved += 1
        self._set(job_id, JobStatus.DONE, path=str(path))
        self.jobSaved.emit(job_id, str(path))

    @Slot(object, str)
    def _on_failed(self, run: RunHandle, message: str) -> None:
        job_id = self._job_of(run)
        if job_id is not None:
            self._set(job_id, JobStatus.FAILED, message)

    @Slot(object, object)
    def _on_out_of_memory(self, run: RunHandle, error: OutOfMemory) -> None:
        job_id = self._job_of(run)
        if job_id is not None:
            self._set(job_id, JobStatus.FAILED, str(error))

    @Slot(object)
    def _on_run_ended(self, run: RunHandle) -> None:
        if self._running is None or run != self._running:
            self._start_soon()  # the user's own run: the queue may go on now
            return
        job_id, self._running = run.queue_job, None
        cancelling, self._cancelling = self._cancelling, None
        entry = self.entry(job_id) if job_id is not None else None
        if entry is not None and entry.status is JobStatus.RUNNING:  # it ended before it made a picture
            if cancelling == job_id:
                self._set(entry.job.id, JobStatus.CANCELLED, "before its first iteration")
            else:
                self._set(entry.job.id, JobStatus.FAILED, "it ended without a picture")
        self._start_soon()

    def _set(self, job_id: int, status: JobStatus, message: str = "", path: str = "") -> None:
        for i, entry in enumerate(self._entries):
            if entry.job.id == job_id:
                self._failed += status is JobStatus.FAILED
                self._entries[i] = replace(entry, status=status, message=message, path=path)
                if status.finished and not self._closed:  # (a job the closing stops is kept as it was)
                    self._forget(entry.job)
                self.jobsChanged.emit()
                return

    def _set_active(self, active: bool) -> None:
        if active != self._active:
            self._active = active
            self.activeChanged.emit(active)
