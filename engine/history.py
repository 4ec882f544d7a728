"""The history of results: every finished or stopped picture kept as a PNG (with the settings that made it) and a
small JPEG thumbnail in a folder in the user's data directory, so it survives a restart; pruned oldest first to
a size limit, the newest always kept.

Layout: FOLDER/<key>.png, FOLDER/thumbnails/<key>.jpg, FOLDER/index.json. Each PNG carries, besides Fude's
settings chunks, a `fude:history` record (when it was made, whether the run finished), so the PNGs alone are the
truth: the index only saves opening every PNG at start-up, and is rebuilt from them when it is missing, damaged
or out of date (another window added a picture). Every write is atomic; a file that is not a history PNG, or
one that is damaged, is passed over and never stops the rest from showing.

The folder may hold anything another version of Fude, a crash or a person left there: only names Fude makes
(keys like 20261129-083000-123456, or -2, -3, ... after it) are listed or deleted, and never through a symlink
(a linked PNG is no history picture; a linked thumbnails folder is neither written to nor cleaned)."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import ExportError, FudeError
from engine.export import save_png, write_atomically
from engine.images import load_rgba
from engine.settings import PNG_SETTINGS_KEY, StoredRender, parse_png_text
from engine.transparency import flatten
from engine.untrusted import (
    MAX_IMAGE_FILE_BYTES,
    MAX_RECORD_FILE_BYTES,
    is_plain,
    is_plain_file,
    load_json,
    open_regular_file,
    plain_status,
    read_file_bytes,
)

RECORD_KEY = "fude:history"
INDEX_NAME = "index.json"
THUMBNAILS = "thumbnails"
THUMBNAIL_SIDE = 128
THUMBNAIL_QUALITY = 85
DEFAULT_LIMIT_BYTES = 200 * 2**20
INDEX_FORMAT = 1
ORPHAN_GRACE_S = 60.0  # a thumbnail without its PNG younger than this may belong to an add still in progress
KEY = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9]{6}(-[0-9]{1,9})?")  # the names _new_key makes, and no others
LATEST_CREATED = 32_503_680_000.0  # the year 3000: later is no time Fude wrote (and localtime refuses it)


def default_folder() -> Path:
    """Where the history lives: the user's data directory for Fude (platformdirs), then `history`."""
    import platformdirs

    return Path(platformdirs.user_data_dir("Fude", appauthor=False)) / "history"


@dataclass(frozen=True)
class HistoryEntry:
    """One picture in the history. `stored` is None when its settings could not be read back."""

    key: str
    created: float  # time.time() when it was added
    png: Path
    thumbnail: Path
    stored: StoredRender | None
    finished: bool  # False: the run was stopped (or failed) before its last iteration
    size_bytes: int  # the PNG and its thumbnail on disk


def _thumbnail_image(image: np.ndarray) -> Image.Image:
    """The JPEG thumbnail of an RGB or RGBA picture (a transparent one over white: JPEG has no alpha)."""
    pil = Image.fromarray(np.ascontiguousarray(flatten(image), dtype=np.uint8))
    pil.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return pil


def _file_size(path: Path) -> int:
    status = plain_status(path)
    return status.st_size if is_plain(status, stat.S_IFREG) else 0


def _stamp(path: Path) -> list[int]:
    """A PNG's size and modification time: when either differs from the index's, the file is read again."""
    status = plain_status(path)
    if status is None:
        return [0, 0]
    return [status.st_size, status.st_mtime_ns]


def _usable_time(value: object) -> bool:
    """Whether `value` is a time Fude could have written (one the window can show: time.localtime takes it)."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value < LATEST_CREATED)


def _read_thumbnail(path: Path) -> np.ndarray | None:
    """The thumbnail JPEG at `path`, or None when it is missing, damaged, or anything but a small JPEG in a
    regular file (a larger picture is no thumbnail Fude made, and is not decoded)."""
    if not is_plain_file(path):
        return None
    try:
        with warnings.catch_warnings(), open_regular_file(path, MAX_RECORD_FILE_BYTES) as handle:
            warnings.simplefilter("ignore")
            with Image.open(handle, formats=["JPEG"]) as im:
                if max(im.size) > THUMBNAIL_SIDE:
                    return None
                im.load()
                return np.asarray(im.convert("RGB"))
    except (FudeError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None


class HistoryStore:
    """The history in `folder`. Safe to use from several threads; several processes (two windows) may share
    the folder: each sees the other's pictures the next time it lists them."""

    def __init__(self, folder: str | os.PathLike[str], limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self.folder = Path(folder)
        self._limit = self._checked_limit(limit_bytes)
        self._lock = threading.RLock()

    # the limit ------------------------------------------------------------------------------------------------

    @staticmethod
    def _checked_limit(limit_bytes: int) -> int:
        if not isinstance(limit_bytes, int) or isinstance(limit_bytes, bool) or limit_bytes < 0:
            raise ExportError("history", f"the size limit must be a whole number of bytes, 0 or more, "
                                         f"not {limit_bytes!r}")
        return limit_bytes

    @property
    def limit_bytes(self) -> int:
        return self._limit

    def set_limit(self, limit_bytes: int) -> list[HistoryEntry]:
        """Change the size limit and prune to it now; returns the entries removed (oldest first)."""
        with self._lock:
            self._limit = self._checked_limit(limit_bytes)
            return self._prune()

    def total_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.entries())

    # adding ---------------------------------------------------------------------------------------------------

    def add(self, image: np.ndarray, text_chunks: dict[str, str], finished: bool) -> HistoryEntry:
        """Keep `image` (H x W x 3 uint8, or H x W x 4 RGBA with transparency) with its PNG text chunks
        (settings.png_text_chunks), then prune to the limit (never this newest picture). Raises ExportError when it
        cannot be written (folder, disk)."""
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] in (3, 4) and image.size):
            raise ExportError(self.folder, "a history picture must be an H x W x 3 uint8 array (or H x W x 4 with "
                                           f"transparency), not {getattr(image, 'shape', type(image).__name__)}")
        with self._lock:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExportError(self.folder, f"the history folder cannot be made ({exc.strerror or exc})") from None
            try:
                (self.folder / THUMBNAILS).mkdir(exist_ok=True)
            except OSError:
                pass  # thumbnails are only a shortcut: without the folder they are made from the PNGs when shown
            created = time.time()
            key = self._new_key(created)
            png, thumbnail = self._paths(key)
            record = {"format": INDEX_FORMAT, "created": created, "finished": bool(finished)}
            text = {**text_chunks, RECORD_KEY: json.dumps(record)}
            wrote_thumbnail = self._write_thumbnail(thumbnail, image)
            try:
                save_png(png, image, text)  # written last: a history picture exists once its PNG does
            except BaseException:
                if wrote_thumbnail:
                    thumbnail.unlink(missing_ok=True)
                raise
            entry = self._entry(key, record, text.get(PNG_SETTINGS_KEY), _file_size(png) + _file_size(thumbnail))
            index = self._read_index()
            index[key] = self._index_record(record, text.get(PNG_SETTINGS_KEY), _stamp(png))
            self._write_index(index)
            self._prune()
            return entry

    def _new_key(self, created: float) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(created)) + f"-{int(created * 1e6) % 1_000_000:06d}"
        key, n = stamp, 1
        while any(os.path.lexists(path) for path in self._paths(key)):
            key, n = f"{stamp}-{n}", n + 1
        return key

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.png", self.folder / THUMBNAILS / f"{key}.jpg"

    def _thumbnails_folder(self) -> bool:
        """Whether the thumbnails folder is a real folder of the history's own: one that is a symlink (or a
        junction) leads somewhere else, where Fude neither writes nor deletes."""
        return is_plain(plain_status(self.folder / THUMBNAILS), stat.S_IFDIR)

    def _write_thumbnail(self, path: Path, image: np.ndarray | Image.Image) -> bool:
        """Keep the thumbnail of `image` at `path`; False (nothing written) where there is no thumbnails folder
        of the history's own. Raises ExportError when it cannot be written."""
        if not self._thumbnails_folder():
            return False
        small = image if isinstance(image, Image.Image) else _thumbnail_image(image)
        write_atomically(path, lambda handle: small.save(handle, format="JPEG", quality=THUMBNAIL_QUALITY))
        return True

    # reading --------------------------------------------------------------------------------------------------

    def entries(self) -> list[HistoryEntry]:
        """Every picture in the history, newest first. Damaged, half-written or foreign files are passed over."""
        with self._lock:
            try:
                with os.scandir(self.folder) as found:
                    keys = {name[:-4] for name in (entry.name for entry in found)
                            if name.endswith(".png") and KEY.fullmatch(name[:-4])}
            except OSError:
                return []  # no history yet (or the folder cannot be read): nothing to show
            # a key's PNG that is a symlink or a folder is no picture the history made: not shown, never deleted
            names = [self._paths(key)[0] for key in keys if is_plain_file(self._paths(key)[0])]
            index = self._read_index()
            fresh: dict[str, dict[str, Any]] = {}
            entries = []
            for png in names:
                key = png.stem
                stamp = _stamp(png)
                known = index.get(key)
                if known is None or known.get("png") != stamp:
                    known = self._read_record(png, stamp)  # not in the index, or changed since: read the PNG
                if known is None:
                    continue
                fresh[key] = known
                thumbnail = self._paths(key)[1]
                entries.append(self._entry(key, known, known.get("settings"), stamp[0] + _file_size(thumbnail)))
            if fresh != index:
                self._write_index(fresh)
                self._remove_orphan_thumbnails(keys)  # a PNG that could not be read keeps its thumbnail
            entries.sort(key=lambda e: (e.created, e.key), reverse=True)
            return entries

    def image(self, entry: HistoryEntry) -> np.ndarray:
        """The full picture of `entry`, exactly as it was added (RGBA when it has transparency); an ImageError if
        its file is gone or damaged."""
        return load_rgba(entry.png)

    def thumbnail(self, entry: HistoryEntry) -> np.ndarray:
        """The small picture of `entry` (longest side 128); made again from the PNG if it is missing or damaged."""
        if self._thumbnails_folder():
            kept = _read_thumbnail(entry.thumbnail)
            if kept is not None:
                return kept
        small = _thumbnail_image(self.image(entry))
        try:
            with self._lock:
                self._write_thumbnail(entry.thumbnail, small)
        except FudeError:
            pass  # shown from memory this time; a later call tries to keep it again
        return np.asarray(small)

    def remove(self, entry: HistoryEntry) -> None:
        """Delete `entry`'s picture and thumbnail (nothing happens if they are already gone)."""
        with self._lock:
            self._delete(entry.key)
            index = self._read_index()
            if index.pop(entry.key, None) is not None:
                self._write_index(index)

    # internals ------------------------------------------------------------------------------------------------

    def _delete(self, key: str) -> None:
        """Remove a picture: its PNG first (then it is gone from the history even if its thumbnail stays). Only
        the regular files of a key Fude made, in the history's own folders: never a symlink, nor through one."""
        if not KEY.fullmatch(key):
            return
        png, thumbnail = self._paths(key)
        for path in (png, thumbnail) if self._thumbnails_folder() else (png,):
            if not is_plain_file(path):
                continue  # already gone, or not a file the history wrote
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise ExportError(path, f"cannot be removed from the history ({exc.strerror or exc})") from None

    def _prune(self) -> list[HistoryEntry]:
        """Remove the oldest pictures until the history fits in the limit; the newest one always stays."""
        entries = self.entries()  # newest first
        total = sum(e.size_bytes for e in entries)
        removed = []
        while total > self._limit and len(entries) > 1:
            oldest = entries.pop()
            try:
                self._delete(oldest.key)
            except ExportError:
                continue  # a file this user may not remove: pass over it and prune the next oldest instead
            total -= oldest.size_bytes
            removed.append(oldest)
        if removed:
            index = self._read_index()
            for entry in removed:
                index.pop(entry.key, None)
            self._write_index(index)
        return removed

    def _entry(self, key: str, record: dict[str, Any], settings: str | None, size: int) -> HistoryEntry:
        png, thumbnail = self._paths(key)
        stored = None
        if settings is not None:
            try:
                stored = parse_png_text({PNG_SETTINGS_KEY: settings}, str(png))
            except (FudeError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply to read
                stored = None  # the picture is still worth showing; only its settings are lost
        return HistoryEntry(key=key, created=float(record["created"]), png=png, thumbnail=thumbnail,
                            stored=stored, finished=bool(record["finished"]), size_bytes=size)

    @staticmethod
    def _index_record(record: dict[str, Any], settings: str | None, png: list[int]) -> dict[str, Any]:
        return {"created": float(record["created"]), "finished": bool(record["finished"]), "settings": settings,
                "png": png}

    def _read_record(self, png: Path, stamp: list[int]) -> dict[str, Any] | None:
        """The index record of a history PNG read from the file itself, or None if it is not one or is damaged."""
        try:
            with warnings.catch_warnings(), open_regular_file(png, MAX_IMAGE_FILE_BYTES) as handle:
                warnings.simplefilter("ignore")
                with Image.open(handle, formats=["PNG"]) as im:
                    if im.format != "PNG":
                        return None
                    info = dict(im.info)
                    im.verify()  # every chunk's checksum, to the end: a truncated or damaged file is refused
            record = load_json(info[RECORD_KEY])
            if not isinstance(record.get("finished"), bool) or not _usable_time(record.get("created")):
                return None
        except (FudeError, OSError, SyntaxError, ValueError, EOFError, KeyError, TypeError, AttributeError,
                Image.DecompressionBombError):
            return None
        settings = info.get(PNG_SETTINGS_KEY)
        return self._index_record(record, str(settings) if isinstance(settings, str) else None, stamp)

    def _read_index(self) -> dict[str, dict[str, Any]]:
        """The index as key -> record; empty when it is missing or damaged (it is then rebuilt from the PNGs)."""
        try:
            raw = load_json(read_file_bytes(self.folder / INDEX_NAME, MAX_RECORD_FILE_BYTES, ExportError))
            if raw.get("format") != INDEX_FORMAT or not isinstance(raw.get("entries"), dict):
                return {}
            index = {}
            for key, record in raw["entries"].items():
                if (KEY.fullmatch(key) and isinstance(record, dict) and isinstance(record.get("finished"), bool)
                        and _usable_time(record.get("created")) and isinstance(record.get("png"), list)
                        and isinstance(record.get("settings"), str | None)):
                    index[key] = record
            return index
        except (FudeError, OSError, ValueError, AttributeError):  # ValueError: damaged JSON, or not UTF-8
            return {}

    def _write_index(self, index: dict[str, dict[str, Any]]) -> None:
        """Keep the index; if it cannot be written, the next listing reads the PNGs instead (it is only a cache)."""
        data = json.dumps({"format": INDEX_FORMAT, "entries": index}, indent=1).encode("utf-8")
        try:
            write_atomically(self.folder / INDEX_NAME, lambda handle: handle.write(data))
        except ExportError:
            pass

    def _remove_orphan_thumbnails(self, keys: set[str]) -> None:
        """Thumbnails whose PNG is gone (removed by another window, or an add that never finished): only the
        regular files named `<key>.jpg` for a key Fude made, in a thumbnails folder that is no symlink."""
        folder = self.folder / THUMBNAILS
        if not self._thumbnails_folder():
            return  # a link to another folder: nothing in it is the history's to delete
        try:
            with os.scandir(folder) as found:
                names = [entry.name for entry in found]
        except OSError:
            return
        now = time.time()
        for name in names:
            key = name[:-4] if name.endswith(".jpg") else ""
            if not KEY.fullmatch(key) or key in keys:
                continue
            path = folder / name
            status = plain_status(path)
            if is_plain(status, stat.S_IFREG) and now - status.st_mtime > ORPHAN_GRACE_S:
                try:
                    path.unlink()
                except OSError:
                    pass

