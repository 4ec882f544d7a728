"""Crash safety: while a render runs, its current picture (a PNG with its settings), the content and the style are
kept in a recovery folder, written atomically at most every few seconds, so that after a crash or a kill the
next launch can offer the unfinished picture back. A run that finishes, or whose picture is saved or discarded,
removes its folder.

Layout: ROOT/<one folder per run>/{content.png, style.png, picture.png}, with style_2.png, style_3.png, ... for
a run with several style pictures (their weights are in the settings); picture.png is written last, so a folder
without it holds nothing to restore. Its text chunks carry the settings (as any Fude PNG) and a `fude:recovery`
record: iterations done and planned, the style files, when it was saved, and the process that saved it (a
folder whose process is still alive belongs to another window that is running and is not offered). A folder
from before several styles (no style files in its record) has the one style.png.

The data folder may hold anything another version of Fude, a crash or a person left there, so cleaning up
deletes only what Fude can tell is its own and holds nothing worth keeping: a run folder (named as Fude names
them) whose picture it read in full, or one with no picture and only Fude's own files (an abandoned first save).
A folder with a picture or a file Fude cannot read or does not know (settings from a newer Fude, a damaged
record, a stranger's file) is moved aside whole to ROOT-kept/ (beside ROOT: `recovery-kept`), where nothing
lists or prunes it, so a newer Fude or the user can still get at it. A symlink is never followed: a linked run
folder is passed over, and only regular files with Fude's own names are ever deleted."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np

from engine import processes
from engine.errors import FudeError, ImageError
from engine.export import TEMP_PREFIX, TEMP_SUFFIX, save_png
from engine.images import load_image, load_rgba
from engine.settings import RenderSettings, StoredRender, join_style_names, parse_png_text, png_text_chunks
from engine.transparency import with_alpha
from engine.untrusted import (
    is_plain_file,
    is_plain_folder,
    load_json,
    modified_time,
    own_files,
    read_png_text,
    remove_own_files,
)

SAVE_INTERVAL_S = 5.0
KEEP_UNFINISHED = 3  # older unfinished pictures than this many are removed when a new run first saves
INCOMPLETE_GRACE_S = 60.0
RECORD_KEY = "fude:recovery"
PICTURE, CONTENT, STYLE = "picture.png", "content.png", "style.png"
STYLE_FILE = re.compile(r"style(_[0-9]{1,3})?\.png")  # the names a record may give for style pictures
# The names Fude gives what it writes: run folders (tempfile.mkdtemp with a time prefix), their pictures, and the
# temporary files of an atomic write (export.write_atomically's, and ".<name>.<random>.part" from earlier versions).
RUN_FOLDER = re.compile(r"[0-9]{8}-[0-9]{6}-[A-Za-z0-9_]{1,32}")
_OWN_NAME = r"(?:picture\.png|content\.png|style(?:_[0-9]{1,3})?\.png)"
OWN_FILE = re.compile(rf"{_OWN_NAME}|\.{_OWN_NAME}\.[A-Za-z0-9_]{{1,32}}\.part"
                      rf"|{re.escape(TEMP_PREFIX)}[A-Za-z0-9_]{{1,32}}{re.escape(TEMP_SUFFIX)}")
KEPT_SUFFIX = "-kept"
MAX_PID = 2**31 - 1  # os.kill takes a C int; anything larger (or 0, or negative: a process group) is no owner
MAX_COUNT = 2**31 - 1  # iterations as the window's progress bar can show them
LATEST_SAVE = 32_503_680_000.0  # the year 3000: later is no time Fude wrote (and localtime refuses it on Windows)


def style_file(number: int) -> str:
    """The file of the `number`-th (0-based) style picture in a recovery folder."""
    return STYLE if number == 0 else f"style_{number + 1}.png"


def default_folder() -> Path:
    """Where recovery folders live: the user's data directory for Fude (platformdirs), then `recovery`."""
    import platformdirs

    return Path(platformdirs.user_data_dir("Fude", appauthor=False)) / "recovery"


@dataclass(frozen=True)
class Recovered:
    """An unfinished picture found in the recovery folder, with everything needed to show, save or continue it."""

    folder: Path
    image: np.ndarray  # H x W x 3 uint8
    content: np.ndarray
    style: np.ndarray  # the first style picture
    content_name: str
    style_name: str  # every style picture's name, joined with " + "
    settings: RenderSettings
    index: int  # iterations done
    total: int  # iterations planned
    saved_at: float  # time.time() of the save
    styles: tuple[np.ndarray, ...] = ()  # every style picture (the first is `style`); empty means (style,)
    style_names: tuple[str, ...] = ()  # one per style picture
    content_alpha: np.ndarray | None = None  # the content's alpha channel, set aside (engine.transparency)

    def __post_init__(self) -> None:
        if not self.styles:
            object.__setattr__(self, "styles", (self.style,))
        if not self.style_names:
            object.__setattr__(self, "style_names", (self.style_name,))

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return (f"{self.content_name} in the style of {self.style_name}, iteration {self.index} of {self.total}, "
                f"saved {when}")


# ---- the session and the store ----------------------------------------------------------------------------------


class RecoverySession:
    """The recovery copy of one run. `save` is throttled to one write per `interval_s` (unless forced), never
    raises (a run must not fail because its safety copy could not be written: `last_error` says why), and does
    nothing once the session is discarded. Thread-safe: a worker saves while the window may discard."""

    def __init__(self, store: RecoveryStore, content: np.ndarray, style: np.ndarray | Sequence[np.ndarray],
                 content_name: str, style_name: str | Sequence[str], folder: Path | None = None,
                 content_alpha: np.ndarray | None = None) -> None:
        self._store = store
        self._content = content
        self._content_alpha = content_alpha
        self._styles = (style,) if isinstance(style, np.ndarray) else tuple(style)
        self.content_name = content_name
        self.style_names = (style_name,) if isinstance(style_name, str) else tuple(style_name)
        self.style_name = join_style_names(self.style_names)
        self.folder = folder  # made on the first save
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._last_save = store.clock()

    @property
    def closed(self) -> bool:
        return self._closed

    def due(self) -> bool:
        """Whether a save now would be written (the interval has passed since the last one)."""
        return not self._closed and self._store.clock() - self._last_save >= self._store.interval_s

    def save(self, image: np.ndarray, settings: RenderSettings, index: int, total: int, force: bool = False) -> bool:
        """Write `image` (after `index` of `total` iterations) if due or `force`d; True when it was written."""
        with self._lock:
            if self._closed or not (force or self.due()):
                return False
            self._last_save = self._store.clock()
            try:
                self._write(image, settings, index, total)
            except (FudeError, OSError) as exc:
                self.last_error = str(exc)
                return False
            self.last_error = None
            return True

    def _write(self, image: np.ndarray, settings: RenderSettings, index: int, total: int) -> None:
        if self.folder is None:
            self._store.root.mkdir(parents=True, exist_ok=True)
            self._store.prune(keep=self._store.keep - 1)
            folder = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=self._store.root))
            save_png(folder / CONTENT, with_alpha(self._content, self._content_alpha))  # RGBA with transparency
            for number, style in enumerate(self._styles):
                save_png(folder / style_file(number), style)
            self.folder = folder
        pid = os.getpid()
        record = {"index": index, "total": total, "saved_at": time.time(), "pid": pid,
                  "started": processes.process_start(pid),
                  "style_files": [style_file(number) for number in range(len(self._styles))]}
        text = png_text_chunks(settings, self.content_name, self.style_names)
        text[RECORD_KEY] = json.dumps(record)
        save_png(self.folder / PICTURE, image, text)

    def discard(self) -> None:
        """Remove the recovery copy (the run finished, or its picture was saved or thrown away); no more saves."""
        with self._lock:
            self._closed = True
            if self.folder is not None:
                remove_own_files(self.folder, OWN_FILE)


class RecoveryStore:
    """The recovery folder: `begin` a session per run, find the `latest` unfinished picture, `discard` one.
    `folder` defaults to the user's data directory; `clock` (seconds, monotonic) is injectable for tests.
    `kept` is where folders that cannot be read are moved aside rather than deleted (ROOT-kept, beside ROOT)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, interval_s: float = SAVE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, keep: int = KEEP_UNFINISHED) -> None:
        self.root = Path(folder) if folder is not None else default_folder()
        self.kept = self.root.with_name(self.root.name + KEPT_SUFFIX)
        self.interval_s = interval_s
        self.clock = clock
        self.keep = max(1, keep)
        self._moved_aside: list[Path] = []  # where folders were moved since `take_moved_aside` last asked
        self._moved_lock = threading.Lock()  # (a run's first save prunes on the render thread)

    def take_moved_aside(self) -> tuple[Path, ...]:
        """The folders this store moved aside into `kept` since the last call (so the window can say so)."""
        with self._moved_lock:
            moved, self._moved_aside = tuple(self._moved_aside), []
        return moved

    def begin(self, content: np.ndarray, style: np.ndarray | Sequence[np.ndarray], content_name: str,
              style_name: str | Sequence[str], content_alpha: np.ndarray | None = None) -> RecoverySession:
        """A session for a new run (with one style picture and its name, or several and one name each, and the
        content's alpha channel if it has one); nothing is written until its first save."""
        return RecoverySession(self, content, style, content_name, style_name, content_alpha=content_alpha)

    def adopt(self, recovered: Recovered) -> RecoverySession:
        """Take over a restored picture's folder (it is removed when the picture is saved or discarded)."""
        session = RecoverySession(self, recovered.content, recovered.styles, recovered.content_name,
                                  recovered.style_names, folder=recovered.folder,
                                  content_alpha=recovered.content_alpha)
        session.save(recovered.image, recovered.settings, recovered.index, recovered.total, force=True)
        return session

    def _folders(self) -> list[Path]:
        """Run folders, newest first: the folders in ROOT itself, never a symlink (or Windows junction) to one."""
        try:
            with os.scandir(self.root) as found:
                folders = [Path(entry.path) for entry in found]
        except OSError:
            return []
        folders = [p for p in folders if is_plain_folder(p)]
        return sorted(folders, key=lambda p: modified_time(p / PICTURE), reverse=True)

    def _meta(self, folder: Path) -> tuple[dict, StoredRender] | None:
        """The recovery record and the stored settings of `folder`'s picture, read from its text chunks only;
        None for a folder without a complete picture Fude can read in full (a damaged or foreign record,
        settings it does not know, a picture that is a symlink)."""
        try:
            text = _picture_text(folder)
            record = _record(text)
            stored = parse_png_text(text, str(folder / PICTURE))
        except (FudeError, ValueError, RecursionError):  # RecursionError: settings JSON nested too deeply
            return None
        if stored is None:
            return None
        return record, stored

    @staticmethod
    def _owned(record: dict) -> bool:
        """Whether another Fude that is still running wrote this record (its run is not unfinished: it is live)."""
        pid = record.get("pid")
        if not _whole(pid) or not 0 < pid <= MAX_PID:
            return False
        return pid != os.getpid() and processes.alive(pid, record.get("started"))

    def _owned_folder(self, folder: Path) -> bool:
        """Whether a folder whose picture could not be read in full names a running Fude as its writer (a newer
        Fude may write settings this one does not know, and its run must not be moved from under it)."""
        try:
            record = load_json(_picture_text(folder)[RECORD_KEY])
        except (FudeError, ValueError, KeyError, RecursionError):
            return False
        return isinstance(record, dict) and self._owned(record)

    def _load(self, folder: Path, record: dict, stored: StoredRender) -> Recovered | None:
        try:
            files = [PICTURE, CONTENT, *_style_files(record)]
            for name in files:
                if not is_plain_file(folder / name):  # a symlink, a folder: not a picture this run wrote
                    raise ImageError(folder / name, "is not a picture Fude wrote")
            styles = tuple(load_image(folder / name) for name in _style_files(record))
            names = stored.style_names
            if len(names) != len(styles):
                generic = tuple(f"style {n}" for n in range(1, len(styles) + 1))
                names = (stored.style_name,) if len(styles) == 1 else generic
            content = load_rgba(folder / CONTENT)  # its colours as the run saw them, and its alpha if it had one
            alpha = np.ascontiguousarray(content[..., 3]) if content.shape[2] == 4 else None
            return Recovered(
                folder=folder, image=load_image(folder / PICTURE), content=np.ascontiguousarray(content[..., :3]),
                content_alpha=alpha,
                style=styles[0], content_name=stored.content_name, style_name=join_style_names(names),
                settings=stored.settings, index=int(record["index"]), total=int(record["total"]),
                saved_at=float(record["saved_at"]), styles=styles, style_names=names)
        except (FudeError, ValueError):
            return None

    def latest(self) -> Recovered | None:
        """The most recently saved unfinished picture that no running Fude owns, or None."""
        for folder in self._folders():
            meta = self._meta(folder)
            if meta is not None and not self._owned(meta[0]):
                recovered = self._load(folder, *meta)
                if recovered is not None:
                    return recovered
        return None

    def discard(self, recovered: Recovered | Path) -> None:
        """Remove one unfinished picture (or its folder): Fude's own files in it, then the folder if that empties
        it; never through a symlink."""
        folder = recovered.folder if isinstance(recovered, Recovered) else Path(recovered)
        if folder.parent == self.root and is_plain_folder(folder):
            remove_own_files(folder, OWN_FILE)

    def prune(self, keep: int) -> None:
        """Remove all but the `keep` newest unfinished pictures, and abandoned first saves (no picture, only
        Fude's own files) older than a minute (a younger one may be another window's first save under way);
        move aside, never delete, what cannot be read in full or holds anything else; folders of running Fudes
        are left alone. Never raises: a folder that cannot be cleaned stays as it is."""
        kept = 0
        now = time.time()
        for folder in self._folders():
            names = own_files(folder, OWN_FILE)
            if names is None:
                continue  # cannot even be listed: nothing to tell about it, so nothing is done to it
            own = RUN_FOLDER.fullmatch(folder.name) is not None and all(names.values())
            meta = self._meta(folder)
            if meta is not None:
                if self._owned(meta[0]):
                    continue
                if kept < keep:
                    kept += 1
                elif own:
                    remove_own_files(folder, OWN_FILE)
                else:
                    self._move_aside(folder)
                continue
            if now - max(modified_time(folder), modified_time(folder / PICTURE)) <= INCOMPLETE_GRACE_S:
                continue  # perhaps a save under way (another window's, or a newer Fude's)
            if self._owned_folder(folder):
                continue
            if own and PICTURE not in names:
                remove_own_files(folder, OWN_FILE)  # an abandoned first save: only the content and styles
            else:
                self._move_aside(folder)

    def _move_aside(self, folder: Path) -> Path | None:
        """Move `folder` whole into `kept` (see move_aside) and remember it for `take_moved_aside`."""
        target = move_aside(folder, self.kept, folder.name)
        if target is not None:
            with self._moved_lock:
                self._moved_aside.append(target)
        return target


def move_aside(path: Path, kept: Path, name: str) -> Path | None:
    """Move `path` (a folder or a file that cannot be read) whole into the folder `kept` as `name`, or with -2, -3,
    ... when that is taken, never over anything kept before; where it went, or None when it cannot be moved (it
    then stays where it is, as it was). Nothing is deleted."""
    try:
        kept.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not is_plain_folder(kept):
        return None  # a symlink (or a file): moving into it would put the folder who knows where
    for number in range(1, 1000):
        target = kept / (name if number == 1 else f"{name}-{number}")
        if os.path.lexists(target):
            continue
        try:
            os.rename(path, target)  # never os.replace: that could put it over another kept folder
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # taken since it was looked at: the next name
            return None
        return target
    return None


# ---- reading and cleaning a run folder --------------------------------------------------------------------------


def _picture_text(folder: Path) -> dict[str, str]:
    """The text chunks of `folder`'s picture.png, which must be a regular file (a symlink is not read through)."""
    picture = folder / PICTURE
    if not is_plain_file(picture):
        raise ImageError(picture, "is not a picture Fude wrote")
    return read_png_text(picture)


def _record(text: dict[str, str]) -> dict:
    """The recovery record in a picture's text chunks; ValueError unless every field Fude reads is there and of
    the kind and range Fude writes."""
    if RECORD_KEY not in text:
        raise ValueError("no recovery record")
    record = load_json(text[RECORD_KEY])
    if not isinstance(record, dict):
        raise ValueError("the recovery record is not a JSON object")
    pid, index, total, saved_at = (record.get(key) for key in ("pid", "index", "total", "saved_at"))
    if not (_whole(pid) and 0 < pid <= MAX_PID):
        raise ValueError(f"unusable process id {pid!r}")
    if not (_whole(index) and _whole(total) and 0 <= index <= MAX_COUNT and 0 <= total <= MAX_COUNT):
        raise ValueError(f"unusable iterations {index!r} of {total!r}")
    if not (isinstance(saved_at, int | float) and not isinstance(saved_at, bool) and math.isfinite(saved_at)
            and 0 <= saved_at < LATEST_SAVE):
        raise ValueError(f"unusable save time {saved_at!r}")
    if not isinstance(record.get("started"), str | None):
        raise ValueError(f"unusable process start {record.get('started')!r}")
    _style_files(record)
    return record


def _style_files(record: dict) -> list[str]:
    """The style pictures' file names in a recovery record (one style.png in a record from before several
    styles); raises ValueError for a record that names anything else."""
    files = record.get("style_files", [STYLE])
    if not isinstance(files, list) or not files or not all(
            isinstance(name, str) and STYLE_FILE.fullmatch(name) for name in files):
        raise ValueError(f"unusable style files {files!r}")
    return files


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
