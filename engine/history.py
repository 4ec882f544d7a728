"""The history of results: every finished or stopped picture kept as a PNG (with the settings that made it) and a
small JPEG thumbnail in a folder in the user's data directory, so it survives a restart; pruned oldest first to
a size limit, the newest always kept.

Layout: FOLDER/<key>.png, FOLDER/thumbnails/<key>.jpg, FOLDER/index.json. Each PNG carries, besides Fude's
settings chunks, a `fude:history` record (when it was made, whether the run finished), so the PNGs alone are the
truth: the index only saves opening every PNG at start-up, and is rebuilt from them when it is missing, damaged
or out of date (another window added a picture). Every write is atomic; a file that is not a history PNG, or
one that is damaged, is passed over and never stops the rest from showing."""

from __future__ import annotations

import json
import os
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
from engine.images import load_image
from engine.settings import PNG_SETTINGS_KEY, StoredRender, parse_png_text

RECORD_KEY = "fude:history"
INDEX_NAME = "index.json"
THUMBNAILS = "thumbnails"
THUMBNAIL_SIDE = 128
THUMBNAIL_QUALITY = 85
DEFAULT_LIMIT_BYTES = 200 * 2**20
INDEX_FORMAT = 1
ORPHAN_GRACE_S = 60.0  # a thumbnail without its PNG younger than this may belong to an add still in progress


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
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    pil.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return pil


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stamp(path: Path) -> list[int]:
    """A PNG's size and modification time: when either differs from the index's, the file is read again."""
    try:
        status = path.stat()
    except OSError:
        return [0, 0]
    return [status.st_size, status.st_mtime_ns]


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
        """Keep `image` (H x W x 3 uint8) with its PNG text chunks (settings.png_text_chunks), then prune to the
        limit (never this newest picture). Raises ExportError when it cannot be written (folder, disk)."""
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
                and image.size):
            raise ExportError(self.folder, "a history picture must be an H x W x 3 uint8 array, not "
                                           f"{getattr(image, 'shape', type(image).__name__)}")
        with self._lock:
            try:
                (self.folder / THUMBNAILS).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExportError(self.folder, f"the history folder cannot be made ({exc.strerror or exc})") from None
            created = time.time()
            key = self._new_key(created)
            png, thumbnail = self._paths(key)
            record = {"format": INDEX_FORMAT, "created": created, "finished": bool(finished)}
            text = {**text_chunks, RECORD_KEY: json.dumps(record)}
            self._write_thumbnail(thumbnail, image)
            try:
                save_png(png, image, text)  # written last: a history picture exists once its PNG does
            except BaseException:
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
        while self._paths(key)[0].exists() or self._paths(key)[1].exists():
            key, n = f"{stamp}-{n}", n + 1
        return key

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.png", self.folder / THUMBNAILS / f"{key}.jpg"

    def _write_thumbnail(self, path: Path, image: np.ndarray) -> None:
        small = _thumbnail_image(image)
        write_atomically(path, lambda handle: small.save(handle, format="JPEG", quality=THUMBNAIL_QUALITY))

    # reading --------------------------------------------------------------------------------------------------

    def entries(self) -> list[HistoryEntry]:
        """Every picture in the history, newest first. Damaged, half-written or foreign files are passed over."""
        with self._lock:
            try:
                names = [p for p in self.folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()]
            except OSError:
                return []  # no history yet (or the folder cannot be read): nothing to show
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
                self._remove_orphan_thumbnails(set(fresh))
            entries.sort(key=lambda e: (e.created, e.key), reverse=True)
            return entries

    def image(self, entry: HistoryEntry) -> np.ndarray:
        """The full picture of `entry`, exactly as it was added; an ImageError if its file is gone or damaged."""
        return load_image(entry.png)

    def thumbnail(self, entry: HistoryEntry) -> np.ndarray:
        """The small picture of `entry` (longest side 128); made again from the PNG if it is missing or damaged."""
        try:
            with Image.open(entry.thumbnail) as im:
                im.load()
                return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError):
            pass
        small = _thumbnail_image(self.image(entry))
        try:
            with self._lock:
                write_atomically(entry.thumbnail,
                                 lambda handle: small.save(handle, format="JPEG", quality=THUMBNAIL_QUALITY))
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
        """Remove a picture: its PNG first (then it is gone from the history even if its thumbnail stays)."""
        for path in self._paths(key):
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
            except FudeError:
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(png) as im:
                    if im.format != "PNG":
                        return None
                    info = dict(im.info)
                    im.verify()  # every chunk's checksum, to the end: a truncated or damaged file is refused
            record = json.loads(info[RECORD_KEY])
            if not isinstance(record.get("finished"), bool):
                return None
            float(record["created"])
        except (OSError, SyntaxError, ValueError, KeyError, TypeError, AttributeError, Image.DecompressionBombError):
            return None
        settings = info.get(PNG_SETTINGS_KEY)
        return self._index_record(record, str(settings) if isinstance(settings, str) else None, stamp)

    def _read_index(self) -> dict[str, dict[str, Any]]:
        """The index as key -> record; empty when it is missing or damaged (it is then rebuilt from the PNGs)."""
        try:
            raw = json.loads((self.folder / INDEX_NAME).read_text(encoding="utf-8"))
            if raw.get("format") != INDEX_FORMAT or not isinstance(raw.get("entries"), dict):
                return {}
            index = {}
            for key, record in raw["entries"].items():
                if (isinstance(record, dict) and isinstance(record.get("finished"), bool)
                        and isinstance(record.get("created"), int | float) and isinstance(record.get("png"), list)
                        and isinstance(record.get("settings"), str | None)):
                    index[key] = record
            return index
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_index(self, index: dict[str, dict[str, Any]]) -> None:
        """Keep the index; if it cannot be written, the next listing reads the PNGs instead (it is only a cache)."""
        data = json.dumps({"format": INDEX_FORMAT, "entries": index}, indent=1).encode("utf-8")
        try:
            write_atomically(self.folder / INDEX_NAME, lambda handle: handle.write(data))
        except ExportError:
            pass

    def _remove_orphan_thumbnails(self, keys: set[str]) -> None:
        """Thumbnails whose PNG is gone (removed by another window, or an add that never finished)."""
        try:
            thumbnails = list((self.folder / THUMBNAILS).glob("*.jpg"))
        except OSError:
            return
        now = time.time()
        for path in thumbnails:
            try:
                if path.stem not in keys and now - path.stat().st_mtime > ORPHAN_GRACE_S:
                    path.unlink()
            except OSError:
                pass

