"""The window's queue kept on disk: the jobs waiting in it, with their pictures and settings, in the user's data
folder, so that neither closing the window (when the user keeps them) nor a crash loses one; the next start offers
them back. No Qt.

Layout: ROOT/order.json lists the job folders in the order they run; ROOT/<one folder per job>/ holds
content.png (with the content's transparency), style.png, style_2.png, ... and owner.json (the process that keeps
the job). content.png is written last and carries the job: its settings as every Fude PNG stores them (read back
through engine.settings.parse_png_text, the checks a dropped PNG's settings get) and a `fude:queue` record (the
format, the style files, when it was added). Every write is atomic (engine.export.write_atomically).

A video job (Render video…) is kept whole, so that nothing of it names a path outside its folder: content.png is
the clip's first frame, clip.<suffix> is the store's own copy of the clip (a hard link where the disk allows, else a
copy, after checking the free space), parts/ is the work folder its finished frames go to as they finish
(engine.clip_folder), and the record adds the video settings and the *name* the video is written under: where
it goes is the queue's folder, chosen in the window, never a path read from here.

What is found there is hostile input, read as the recovery copies are (engine/recovery.py): only regular files
are read, never through a symlink; names are cleaned (engine.names.clean_name, by parse_png_text); a file a record
names must be one of Fude's own names, never a path; a job folder that cannot be read in full is moved aside whole
to the kept folder (`recovery-kept`, beside ROOT, shared with the recovery copies) under "queue-<its name>", never
deleted; files written by another Fude (a newer format) are left exactly as they are; a job kept by another Fude
window that is still running is not offered."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np

from engine import processes
from engine.clip_folder import FRAME_DIGITS, MANIFEST_NAME
from engine.errors import ExportError, FudeError, ImageError, VideoError
from engine.export import TEMP_PREFIX, TEMP_SUFFIX, save_png, write_atomically
from engine.images import load_image, load_rgba
from engine.names import render_file_stem
from engine.recovery import CONTENT, KEPT_SUFFIX, MAX_PID, RUN_FOLDER, STYLE_FILE, move_aside, style_file
from engine.settings import MAX_STORED_STYLES, RenderSettings, parse_png_text, png_text_chunks
from engine.transparency import with_alpha
from engine.untrusted import (
    MAX_RECORD_FILE_BYTES,
    format_bytes,
    is_plain_file,
    is_plain_folder,
    load_json,
    modified_time,
    own_files,
    read_file_bytes,
    read_png_text,
    remove_own_files,
)
from engine.video_settings import VideoSettings

FORMAT = 1  # the layout written here; a larger number is another (newer) Fude's, left as it is
ORDER = "order.json"
OWNER = "owner.json"
RECORD_KEY = "fude:queue"
KEPT_PREFIX = "queue-"  # what the queue moves aside is named so in the kept folder
INCOMPLETE_GRACE_S = 60.0  # a job folder without its content.png this young may be an add under way
LATEST_TIME = 32_503_680_000.0  # the year 3000: later is no time Fude wrote
_TEMP = rf"{re.escape(TEMP_PREFIX)}[A-Za-z0-9_]{{1,32}}{re.escape(TEMP_SUFFIX)}"
CLIP_FILE = re.compile(r"clip\.[a-z0-9]{1,8}")  # the store's copy of a video job's clip
OWN_FILE = re.compile(rf"(?:content\.png|style(?:_[0-9]{{1,3}})?\.png|owner\.json|{CLIP_FILE.pattern}|{_TEMP})")
PARTS = "parts"  # a video job's work folder (engine.clip_folder.ClipFolder), inside its job folder
OWN_PARTS_FILE = re.compile(rf"(?:{re.escape(MANIFEST_NAME)}|encoded\.mp4|{_TEMP})")
OWN_FRAME_FILE = re.compile(rf"(?:[0-9]{{{FRAME_DIGITS}}}\.png|{_TEMP})")
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".webp", ".gif")
COPY_MARGIN_BYTES = 256 << 20  # what a copied clip leaves free on the disk at least


def default_folder() -> Path:
    """Where the queue is kept: the user's data directory for Fude (platformdirs), then `queue`."""
    import platformdirs

    return Path(platformdirs.user_data_dir("Fude", appauthor=False)) / "queue"


@dataclass(frozen=True)
class ClipToKeep:
    """What keeping a video job adds to a picture job: the clip (copied into the store), the name its video is
    written under (only the name: the folder is the queue's) and how it is rendered."""

    source: Path
    output_name: str
    video: VideoSettings


@dataclass(frozen=True)
class StoredClip:
    """A kept video job's clip: the store's own copy, the work folder for its frames (both inside the job's
    folder), the file name its video is written under and its video settings."""

    file: Path
    work_folder: Path
    output_name: str
    video: VideoSettings


@dataclass(frozen=True)
class StoredJob:
    """A job read back from the kept queue: everything needed to put it back in the queue as a waiting job."""

    key: str  # its folder's name in ROOT
    content: np.ndarray  # H x W x 3 uint8
    content_name: str
    styles: tuple[np.ndarray, ...]
    style_names: tuple[str, ...]
    settings: RenderSettings
    added_at: float
    content_alpha: np.ndarray | None = None
    clip: StoredClip | None = None  # a video job's clip (None: a picture job)


@dataclass(frozen=True)
class FoundQueue:
    """What `QueueStore.load` found: the jobs it can offer back, in their order, the folders it moved aside, and
    one line for each thing it could not use (naming the file and the problem, and what was done with it)."""

    jobs: tuple[StoredJob, ...] = ()
    moved_aside: tuple[Path, ...] = ()
    problems: tuple[str, ...] = ()


class QueueStore:
    """The kept queue in `folder` (the user's data folder unless given); `kept` is where what cannot be read is
    moved aside (`recovery-kept` beside it unless given). `writable` turns False once the folder is found to hold
    another (newer) Fude's queue: nothing is written or removed there then."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, kept: str | os.PathLike[str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = Path(folder) if folder is not None else default_folder()
        self.kept = Path(kept) if kept is not None else self.root.with_name("recovery" + KEPT_SUFFIX)
        self.clock = clock
        self.writable = True

    # ---- writing ----

    def add(self, content: np.ndarray, content_name: str, styles: Sequence[np.ndarray], style_names: Sequence[str],
            settings: RenderSettings, content_alpha: np.ndarray | None = None, clip: ClipToKeep | None = None) -> str:
        """Keep one job (its pictures first, and a video job's clip, then content.png with its settings); its key.
        An ExportError (a FudeError) says why it could not be kept; nothing half-written is left to offer."""
        if not self.writable:
            raise ExportError(self.root, "holds a queue kept by another version of Fude; this one is not kept")
        if not 0 < len(styles) <= MAX_STORED_STYLES or len(styles) != len(style_names):
            raise ExportError(self.root, f"a job needs 1 to {MAX_STORED_STYLES} paintings, each with a name")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not is_plain_folder(self.root):
                raise ExportError(self.root, "is not a folder")
            now = time.time()  # (named by the time, to the microsecond: unlisted jobs come back in that order)
            prefix = time.strftime("%Y%m%d-%H%M%S-", time.localtime(now)) + f"{int(now * 1e6) % 1_000_000:06d}"
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        except OSError as exc:
            raise ExportError(self.root, exc.strerror or str(exc)) from None
        try:
            self._write_owner(folder)  # first: an add that takes a while (a clip's copy) is not taken for abandoned
            for number, style in enumerate(styles):
                save_png(folder / style_file(number), style)
            record: dict[str, object] = {"format": FORMAT, "added_at": self.clock(),
                                         "style_files": [style_file(n) for n in range(len(styles))]}
            if clip is not None:
                name = clip_file_name(clip.source)
                _copy_clip(clip.source, folder / name)
                record["clip"] = {"file": name, "output_name": video_output_name(clip.output_name),
                                  "video": clip.video.to_dict()}
            text = png_text_chunks(settings, content_name, list(style_names))
            text[RECORD_KEY] = json.dumps(record)
            save_png(folder / CONTENT, with_alpha(content, content_alpha), text)
        except FudeError:
            remove_own_files(folder, OWN_FILE)
            raise
        return folder.name

    def clip_of(self, key: str, source: Path, output_name: str, video: VideoSettings) -> StoredClip:
        """Where the video job `key`, just added with the clip `source`, keeps its clip and its frames."""
        folder = self.root / key
        return StoredClip(folder / clip_file_name(source), folder / PARTS, video_output_name(output_name), video)

    def adopt(self, key: str) -> None:
        """This process keeps the job `key` from now on (a restored job: another window started later does not
        offer it while this one runs)."""
        folder = self._job_folder(key)
        if folder is not None and self.writable:
            try:
                self._write_owner(folder)
            except FudeError:
                pass  # it is still kept; another window might offer it too, which loses nothing

    @staticmethod
    def _write_owner(folder: Path) -> None:
        pid = os.getpid()
        owner = json.dumps({"pid": pid, "started": processes.process_start(pid)}).encode()
        write_atomically(folder / OWNER, lambda handle: handle.write(owner))

    def remove(self, key: str) -> None:
        """Forget the job `key` (it ran, or was removed or discarded): Fude's own files in its folder (and in a video
        job's work folder), then the folders that empties. Never raises, never follows a symlink."""
        folder = self._job_folder(key)
        if folder is not None and self.writable:
            parts = folder / PARTS
            if is_plain_folder(parts):
                for frames in (parts / "frames", parts / "shown"):
                    remove_own_files(frames, OWN_FRAME_FILE)
                remove_own_files(parts, OWN_PARTS_FILE)
            remove_own_files(folder, OWN_FILE)

    def set_order(self, keys: Sequence[str]) -> None:
        """The jobs kept, in the order they run; an ExportError when it cannot be written."""
        if not self.writable:
            return
        names = [key for key in keys if RUN_FOLDER.fullmatch(key)]
        if not names and not self.root.exists():
            return
        data = json.dumps({"format": FORMAT, "jobs": names}).encode()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(self.root, exc.strerror or str(exc)) from None
        write_atomically(self.root / ORDER, lambda handle: handle.write(data))

    def _job_folder(self, key: str) -> Path | None:
        """ROOT/key when `key` is a name Fude gives a job folder and that is a folder in its own right."""
        if not isinstance(key, str) or RUN_FOLDER.fullmatch(key) is None:
            return None
        folder = self.root / key
        return folder if is_plain_folder(folder) else None

    # ---- reading ----

    def load(self) -> FoundQueue:
        """The jobs kept, in their order, that no running Fude keeps; a job folder that cannot be read is moved
        aside (and said), an abandoned add (pictures without content.png, older than a minute) removed."""
        if not is_plain_folder(self.root):
            return FoundQueue()
        problems: list[str] = []
        moved: list[Path] = []
        order = self._read_order(problems, moved)
        if order is None:
            self.writable = False
            return FoundQueue(problems=tuple(problems))
        folders = self._folders()
        ranked = [name for name in dict.fromkeys(order) if name in folders]
        ranked += sorted(name for name in folders if name not in ranked)
        jobs: list[StoredJob] = []
        for name in ranked:
            folder = self.root / name
            try:
                job = self._read_job(folder)
            except _Leave as leave:
                if leave.reason:
                    problems.append(f"{folder}: {leave.reason}")
                continue
            except (FudeError, ValueError, KeyError, TypeError, RecursionError) as exc:
                target = self._move_aside(folder)
                where = f"moved aside to {target}" if target is not None else "left where it is"
                problems.append(f"{folder}: a queued job that cannot be read ({_reason(exc)}); {where}")
                if target is not None:
                    moved.append(target)
                continue
            if job is not None:
                jobs.append(job)
        return FoundQueue(tuple(jobs), tuple(moved), tuple(problems))

    def _read_order(self, problems: list[str], moved: list[Path]) -> list[str] | None:
        """The job folders' names as order.json lists them ([] when there is none, or it is damaged: then it is
        moved aside and said); None when it is another (newer) Fude's."""
        path = self.root / ORDER
        if not os.path.lexists(path):
            return []
        try:
            record = load_json(read_file_bytes(path, MAX_RECORD_FILE_BYTES, ImageError))
            if not isinstance(record, dict) or not _whole(record.get("format")) or record["format"] < 1:
                raise ValueError("not a queue order Fude wrote")
            if record["format"] > FORMAT:
                problems.append(f"{self.root}: holds a queue kept by a newer version of Fude; it is left as it is")
                return None
            jobs = record.get("jobs")
            if not isinstance(jobs, list) or not all(isinstance(name, str) for name in jobs):
                raise ValueError("its list of jobs is damaged")
        except (FudeError, ValueError) as exc:
            target = self._move_aside(path)
            if target is not None:
                moved.append(target)
            where = f"moved aside to {target}" if target is not None else "left where it is"
            problems.append(f"{path}: the queue's order cannot be read ({_reason(exc)}); {where}; the jobs are "
                            "taken in the order they were added")
            return []
        return [name for name in jobs if RUN_FOLDER.fullmatch(name)]

    def _folders(self) -> set[str]:
        """The job folders in ROOT: named as Fude names them, folders in their own right (never a symlink)."""
        try:
            with os.scandir(self.root) as found:
                names = [entry.name for entry in found]
        except OSError:
            return set()
        return {name for name in names if RUN_FOLDER.fullmatch(name) and is_plain_folder(self.root / name)}

    def _read_job(self, folder: Path) -> StoredJob | None:
        """The job kept in `folder`; raises _Leave for a folder to leave as it is (another Fude's, a job under
        way), or another exception for one that cannot be read (moved aside by the caller); None for an
        abandoned add, which is removed."""
        if self._kept_by_another(folder):
            raise _Leave("")  # another window that is running keeps it: its own queue
        picture = folder / CONTENT
        if not os.path.lexists(picture):
            listing = own_files(folder, OWN_FILE)
            if listing is None:
                raise _Leave("cannot be listed; left where it is")
            if self.clock() - modified_time(folder) <= INCOMPLETE_GRACE_S:
                raise _Leave("")  # perhaps an add under way
            if all(listing.values()):
                remove_own_files(folder, OWN_FILE)  # an abandoned add: only its pictures, never offered
                return None
            raise ValueError("it holds no content.png")
        if not is_plain_file(picture):
            raise ImageError(picture, "is not a picture Fude wrote")
        text = read_png_text(picture)
        record = load_json(text[RECORD_KEY])
        if not isinstance(record, dict) or not _whole(record.get("format")) or record["format"] < 1:
            raise ValueError("the job's record is damaged")
        if record["format"] > FORMAT:
            raise _Leave("a job kept by a newer version of Fude; left as it is")
        added_at = record.get("added_at")
        if not (isinstance(added_at, int | float) and not isinstance(added_at, bool) and 0 <= added_at < LATEST_TIME):
            raise ValueError(f"unusable time {added_at!r}")
        files = record.get("style_files")
        if not (isinstance(files, list) and 0 < len(files) <= MAX_STORED_STYLES
                and all(isinstance(name, str) and STYLE_FILE.fullmatch(name) for name in files)):
            raise ValueError(f"unusable style files {files!r}")
        stored = parse_png_text(text, str(picture))
        if stored is None:
            raise ValueError("no settings are stored in it")
        for name in files:
            if not is_plain_file(folder / name):
                raise ImageError(folder / name, "is not a picture Fude wrote")
        styles = tuple(load_image(folder / name) for name in files)
        names = stored.style_names if len(stored.style_names) == len(styles) else tuple(
            f"style {n}" for n in range(1, len(styles) + 1))
        stored.settings.regions_for(len(styles))  # masks for another number of paintings: not this job's
        stored.settings.style_mix(len(styles))
        clip = _read_clip(folder, record["clip"]) if "clip" in record else None
        content = load_rgba(picture)
        alpha = np.ascontiguousarray(content[..., 3]) if content.shape[2] == 4 else None
        return StoredJob(folder.name, np.ascontiguousarray(content[..., :3]), stored.content_name or "content",
                         styles, names, stored.settings, float(added_at), alpha, clip)

    def _kept_by_another(self, folder: Path) -> bool:
        """Whether another Fude that is still running keeps the job in `folder` (its owner.json says so)."""
        path = folder / OWNER
        if not is_plain_file(path):
            return False
        try:
            owner = load_json(read_file_bytes(path, 4096, ImageError))
        except (FudeError, ValueError):
            return False
        if not isinstance(owner, dict):
            return False
        pid = owner.get("pid")
        if not _whole(pid) or not 0 < pid <= MAX_PID or pid == os.getpid():
            return False
        started = owner.get("started")
        return isinstance(started, str | None) and processes.alive(pid, started)

    def _move_aside(self, path: Path) -> Path | None:
        """Move `path` (a job folder or a file) whole into `kept` as "queue-<name>" (or with -2, -3, ...); None
        when it cannot be moved (it then stays as it was)."""
        return move_aside(path, self.kept, f"{KEPT_PREFIX}{path.name}")


def clip_file_name(source: Path) -> str:
    """The name the store gives its copy of the clip `source`: "clip" with the clip's suffix (lower case), or
    ".video" when that suffix is not a plain one."""
    suffix = source.suffix.lower()
    return "clip" + suffix if CLIP_FILE.fullmatch("clip" + suffix) else "clip.video"


def video_output_name(name: str) -> str:
    """`name` as a file name the queue may write a video under in its folder: only its last part, made safe as
    picture names are (engine.names.render_file_stem), with .mp4 unless it ends in .webp or .gif."""
    path = Path(name.replace("\\", "/").split("/")[-1])
    suffix = path.suffix.lower() if path.suffix.lower() in VIDEO_OUTPUT_SUFFIXES else ".mp4"
    return render_file_stem(path.stem if path.suffix.lower() in VIDEO_OUTPUT_SUFFIXES else path.name, ()) + suffix


def _copy_clip(source: Path, target: Path) -> None:
    """`source` as `target`: a hard link where the disk allows (instant, no space), else a copy written atomically
    after checking that it leaves the disk COPY_MARGIN_BYTES free. An ExportError naming the clip otherwise."""
    try:
        os.link(source, target)
        return
    except OSError:
        pass
    try:
        size = os.stat(source).st_size
        free = shutil.disk_usage(target.parent).free
    except OSError as exc:
        raise ExportError(source, f"cannot be kept in the queue ({exc.strerror or exc})") from None
    if free < size + COPY_MARGIN_BYTES:
        raise ExportError(source, f"cannot be kept in the queue: its copy needs {format_bytes(size)} and the disk "
                          f"of {target.parent.parent} has {format_bytes(free)} free")
    try:
        with open(source, "rb") as handle:
            write_atomically(target, lambda out: shutil.copyfileobj(handle, out, 1 << 20))
    except OSError as exc:
        raise ExportError(source, f"cannot be kept in the queue ({exc.strerror or exc})") from None


def _read_clip(folder: Path, record: object) -> StoredClip:
    """A kept video job's clip record, checked: its copy must be one of the store's own names and a regular file,
    its work folder (when there is one) a folder in its own right; the output's name is made a safe file name
    and the video settings are checked against their ranges (engine.video_settings)."""
    if not isinstance(record, dict) or set(record) != {"file", "output_name", "video"}:
        raise ValueError("its clip record is damaged")
    name, output, video = record["file"], record["output_name"], record["video"]
    if not (isinstance(name, str) and CLIP_FILE.fullmatch(name)):
        raise ValueError(f"unusable clip file {name!r}")
    if not is_plain_file(folder / name):
        raise VideoError(folder / name, "is not the copy of a clip Fude kept")
    if not isinstance(output, str) or not output:
        raise ValueError(f"unusable video name {output!r}")
    fields = {"steadiness", "fps", "start", "duration"}
    if not isinstance(video, dict) or not set(video) <= fields:
        raise ValueError("its video settings are damaged")
    settings = VideoSettings(**video)  # a SettingsError (a FudeError) for a value out of range
    parts = folder / PARTS
    if os.path.lexists(parts) and not is_plain_folder(parts):
        raise ValueError("its work folder is not a folder")
    return StoredClip(folder / name, parts, video_output_name(output), settings)


class _Leave(Exception):  # not an error: a folder to leave as it is, and why ("" to say nothing)
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FudeError):
        return exc.reason
    if isinstance(exc, KeyError):
        return "it holds no queue record"
    if isinstance(exc, RecursionError):
        return "a record nested too deeply to read"
    return str(exc) or type(exc).__name__


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
