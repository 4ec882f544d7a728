"""Crash safety: while a render runs, its current picture (a PNG with its settings), the content and the style are
kept in a recovery folder, written atomically at most every few seconds, so that after a crash or a kill the
next launch can offer the unfinished picture back. A run that finishes, or whose picture is saved or discarded,
removes its folder.

Layout: ROOT/<one folder per run>/{content.png, style.png, picture.png}, with style_2.png, style_3.png, ... for
a run with several style pictures (their weights are in the settings); picture.png is written last, so a folder
without it holds nothing to restore. Its text chunks carry the settings (as any Fude PNG) and a `fude:recovery`
record: iterations done and planned, the style files, when it was saved, and the process that saved it (a
folder whose process is still alive belongs to another window that is running and is not offered). A folder
from before several styles (no style files in its record) has the one style.png."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import FudeError
from engine.export import save_png
from engine.images import load_image
from engine.settings import RenderSettings, StoredRender, join_style_names, parse_png_text, png_text_chunks

SAVE_INTERVAL_S = 5.0
KEEP_UNFINISHED = 3  # older unfinished pictures than this many are removed when a new run first saves
INCOMPLETE_GRACE_S = 60.0
RECORD_KEY = "fude:recovery"
PICTURE, CONTENT, STYLE = "picture.png", "content.png", "style.png"
STYLE_FILE = re.compile(r"style(_[0-9]{1,3})?\.png")  # the names a record may give for style pictures


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

    def __post_init__(self) -> None:
        if not self.styles:
            object.__setattr__(self, "styles", (self.style,))
        if not self.style_names:
            object.__setattr__(self, "style_names", (self.style_name,))

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return (f"{self.content_name} in the style of {self.style_name}, iteration {self.index} of {self.total}, "
                f"saved {when}")


def _process_start(pid: int) -> str | None:
    """When process `pid` started (Linux: /proc), to tell a live owner from a later process that got its pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    """Whether process `pid` (which started at `started`, when known) is still running."""
    if os.name == "nt":
        return False  # os.kill would end the process there; an offer too many is the safe side
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    now = _process_start(pid)
    return started is None or now is None or now == started


class RecoverySession:
    """The recovery copy of one run. `save` is throttled to one write per `interval_s` (unless forced), never
    raises (a run must not fail because its safety copy could not be written: `last_error` says why), and does
    nothing once the session is discarded. Thread-safe: a worker saves while the window may discard."""

    def __init__(self, store: RecoveryStore, content: np.ndarray, style: np.ndarray | Sequence[np.ndarray],
                 content_name: str, style_name: str | Sequence[str], folder: Path | None = None) -> None:
        self._store = store
        self._content = content
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
            save_png(folder / CONTENT, self._content)
            for number, style in enumerate(self._styles):
                save_png(folder / style_file(number), style)
            self.folder = folder
        pid = os.getpid()
        record = {"index": index, "total": total, "saved_at": time.time(), "pid": pid, "started": _process_start(pid),
                  "style_files": [style_file(number) for number in range(len(self._styles))]}
        text = png_text_chunks(settings, self.content_name, self.style_names)
        text[RECORD_KEY] = json.dumps(record)
        save_png(self.folder / PICTURE, image, text)

    def discard(self) -> None:
        """Remove the recovery copy (the run finished, or its picture was saved or thrown away); no more saves."""
        with self._lock:
            self._closed = True
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)


class RecoveryStore:
    """The recovery folder: `begin` a session per run, find the `latest` unfinished picture, `discard` one.
    `folder` defaults to the user's data directory; `clock` (seconds, monotonic) is injectable for tests."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, interval_s: float = SAVE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, keep: int = KEEP_UNFINISHED) -> None:
        self.root = Path(folder) if folder is not None else default_folder()
        self.interval_s = interval_s
        self.clock = clock
        self.keep = max(1, keep)

    def begin(self, content: np.ndarray, style: np.ndarray | Sequence[np.ndarray], content_name: str,
              style_name: str | Sequence[str]) -> RecoverySession:
        """A session for a new run (with one style picture and its name, or several and one name each); nothing
        is written until its first save."""
        return RecoverySession(self, content, style, content_name, style_name)

    def adopt(self, recovered: Recovered) -> RecoverySession:
        """Take over a restored picture's folder (it is removed when the picture is saved or discarded)."""
        session = RecoverySession(self, recovered.content, recovered.styles, recovered.content_name,
                                  recovered.style_names, folder=recovered.folder)
        session.save(recovered.image, recovered.settings, recovered.index, recovered.total, force=True)
        return session

    def _folders(self) -> list[Path]:
        """Run folders, newest first."""
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir()]
        except OSError:
            return []
        return sorted(folders, key=lambda p: _mtime(p / PICTURE), reverse=True)

    def _meta(self, folder: Path) -> tuple[dict, StoredRender] | None:
        """The recovery record and the stored settings of `folder`'s picture, read from its text chunks only;
        None for a folder without a complete picture."""
        try:
            with Image.open(folder / PICTURE) as im:
                text = dict(getattr(im, "text", {}) or {})
            record = json.loads(text[RECORD_KEY])
            stored = parse_png_text(text, str(folder / PICTURE))
            if stored is None or not isinstance(record, dict):
                return None
            for key, kind in (("pid", int), ("index", int), ("total", int), ("saved_at", float)):
                kind(record[key])  # present and a number, or the folder is not usable
            _style_files(record)
        except (OSError, ValueError, KeyError, TypeError, SyntaxError, FudeError):
            return None
        return record, stored

    @staticmethod
    def _owned(record: dict) -> bool:
        """Whether another Fude that is still running wrote this record (its run is not unfinished: it is live)."""
        pid = int(record["pid"])
        return pid != os.getpid() and _alive(pid, record.get("started"))

    def _load(self, folder: Path, record: dict, stored: StoredRender) -> Recovered | None:
        try:
            styles = tuple(load_image(folder / name) for name in _style_files(record))
            names = stored.style_names
            if len(names) != len(styles):
                generic = tuple(f"style {n}" for n in range(1, len(styles) + 1))
                names = (stored.style_name,) if len(styles) == 1 else generic
            return Recovered(
                folder=folder, image=load_image(folder / PICTURE), content=load_image(folder / CONTENT),
                style=styles[0], content_name=stored.content_name, style_name=join_style_names(names),
                settings=stored.settings, index=int(record["index"]), total=int(record["total"]),
                saved_at=float(record["saved_at"]), styles=styles, style_names=names)
        except FudeError:
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
        """Remove one unfinished picture (or its folder)."""
        folder = recovered.folder if isinstance(recovered, Recovered) else Path(recovered)
        if folder.parent == self.root:
            shutil.rmtree(folder, ignore_errors=True)

    def prune(self, keep: int) -> None:
        """Remove all but the `keep` newest unfinished pictures, and incomplete folders older than a minute (a
        younger one may be another window's first save under way); folders of running Fudes are left alone."""
        kept = 0
        for folder in self._folders():
            meta = self._meta(folder)
            if meta is None:
                if time.time() - _mtime(folder) > INCOMPLETE_GRACE_S:
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            if self._owned(meta[0]):
                continue
            if kept < keep:
                kept += 1
                continue
            shutil.rmtree(folder, ignore_errors=True)


def _style_files(record: dict) -> list[str]:
    """The style pictures' file names in a recovery record (one style.png in a record from before several
    styles); raises ValueError for a record that names anything else."""
    files = record.get("style_files", [STYLE])
    if not isinstance(files, list) or not files or not all(
            isinstance(name, str) and STYLE_FILE.fullmatch(name) for name in files):
        raise ValueError(f"unusable style files {files!r}")
    return files


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
