"""Read files that may be hostile: a dropped path, a PNG's text chunks, a JSON record in the data folder. Only
regular files are opened (never a FIFO, a device such as /dev/zero, or a folder), without blocking, and never
read past a size cap; JSON nested deeper than Python can parse is a damaged file like any other; a PNG's text
chunks are read without decoding a single frame."""

from __future__ import annotations

import json
import os
import stat
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from re import Pattern
from typing import Any, BinaryIO, TypeGuard, TypeVar

from PIL import Image, UnidentifiedImageError

from engine.errors import FudeError, ImageError

_T = TypeVar("_T")

# A picture file larger than this is refused before it is read: the largest picture Pillow will decode (about
# 179 megapixels at its 2x bomb limit) is far smaller than this as PNG, JPEG or WebP; only an uncompressed TIFF
# or BMP of that size would be larger, and such a picture is too large to paint anyway.
MAX_IMAGE_FILE_BYTES = 256 * 2**20
# Fude's own small files (presets, the history index): far larger than any that Fude writes.
MAX_RECORD_FILE_BYTES = 16 * 2**20
# The raster formats Fude reads, from every source. Anything else (EPS and PDF, which start Ghostscript; the
# many rare formats Pillow also knows) is refused before a plugin sees it.
RASTER_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# What Pillow's plugins raise on crafted or damaged data, besides their own UnidentifiedImageError and
# DecompressionBombError: "image file is truncated" is an OSError, a short header a struct.error, a nonsense
# field a ZeroDivisionError or OverflowError, an unknown compression a NotImplementedError.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error, ArithmeticError,
    NotImplementedError,
)


def plain_status(path: str | os.PathLike[str]) -> os.stat_result | None:
    """`path`'s own status (a symlink is not followed), or None when it is not there."""
    try:
        return os.lstat(path)
    except (OSError, ValueError):
        return None


def is_plain(status: os.stat_result | None, kind: int) -> TypeGuard[os.stat_result]:
    """Whether `status` is of `kind` (stat.S_IFREG, S_IFDIR) and no symlink, nor (Windows) a junction or other
    reparse point, which lstat may report as a folder."""
    if status is None:
        return False
    reparse = getattr(status, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_REPARSE_POINT
    return stat.S_IFMT(status.st_mode) == kind and not reparse


def is_plain_file(path: str | os.PathLike[str]) -> bool:
    """A regular file in its own right: cleaning the data folder deletes nothing else, and never through a link."""
    return is_plain(plain_status(path), stat.S_IFREG)


def is_plain_folder(path: str | os.PathLike[str]) -> bool:
    """A folder in its own right, not a symlink or junction to one."""
    return is_plain(plain_status(path), stat.S_IFDIR)


def format_bytes(n: int) -> str:
    """A byte count for a message: "12 MB" or "512 bytes"."""
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def open_regular_file(path: str | os.PathLike[str], limit: int = MAX_IMAGE_FILE_BYTES,
                      error: type[FudeError] = ImageError) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file of at most `limit` bytes; otherwise an
    `error` that names the file and says what it is. Opening never blocks (a FIFO with no writer would)."""
    p = Path(path)
    # The kind is checked before opening too: opening a device can itself do something (a terminal becomes the
    # controlling one, a tape rewinds), and the check on the open descriptor below catches a swap in between.
    _check_regular(p, _status(p, lambda: os.stat(p), error), limit, error)
    # O_NONBLOCK: a FIFO swapped in after the check must not block the open; O_NOCTTY: nor a terminal be adopted
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0))
    fd = _status(p, lambda: os.open(p, flags), error)
    try:
        _check_regular(p, os.fstat(fd), limit, error)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _status(p: Path, call: Callable[[], _T], error: type[FudeError]) -> _T:
    """`call()` (a stat or an open of `p`), with what can go wrong as an `error` naming the file."""
    try:
        return call()
    except FileNotFoundError:
        raise error(p, "no such file") from None
    except IsADirectoryError:
        raise error(p, "is a folder, not a file") from None
    except PermissionError:
        if _is_dir(p):  # Windows refuses to open a folder as a file with "permission denied"
            raise error(p, "is a folder, not a file") from None
        raise error(p, "permission denied: the file cannot be read") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(str(p).replace("\0", "\\0"), f"cannot be opened ({reason})") from None


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except (OSError, ValueError):
        return False


def _check_regular(p: Path, status: os.stat_result, limit: int, error: type[FudeError]) -> None:
    if stat.S_ISDIR(status.st_mode):
        raise error(p, "is a folder, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise error(p, "is not a regular file (a device, a pipe or a socket); only files are read")
    if status.st_size > limit:
        raise error(p, f"is too large ({format_bytes(status.st_size)}; the limit is {format_bytes(limit)})")


def read_file_bytes(path: str | os.PathLike[str], limit: int = MAX_IMAGE_FILE_BYTES,
                    error: type[FudeError] = ImageError) -> bytes:
    """The whole of a regular file of at most `limit` bytes (also if it grows while it is read), or an `error`."""
    with open_regular_file(path, limit, error) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(path, f"cannot be read ({exc.strerror or exc})") from None
        except MemoryError:
            raise error(path, "is too large to read with the memory available") from None
    if len(data) > limit:
        raise error(path, f"is too large (more than {format_bytes(limit)})")
    return data


def load_json(text: str | bytes) -> Any:
    """json.loads, with nesting too deep to parse reported as the ValueError of any other damaged JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def read_png_text(path: str | os.PathLike[str], limit: int = MAX_IMAGE_FILE_BYTES) -> dict[str, str]:
    """The text chunks of the PNG at `path` that come before its picture data (where Fude writes its own),
    read without decoding any frame; an ImageError when it is not a readable PNG (or any file Fude would not
    open)."""
    with open_regular_file(path, limit) as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(handle, formats=["PNG"]) as im:
                    info = dict(im.info)
        except (UnidentifiedImageError, Image.DecompressionBombError):
            raise ImageError(path, "is not a PNG Fude can read") from None
        except MemoryError:
            raise ImageError(path, "is too large to read with the memory available") from None
        except DECODE_ERRORS as exc:
            raise ImageError(path, f"is a damaged PNG ({exc or type(exc).__name__})") from None
    return {key: str(value) for key, value in info.items() if isinstance(key, str) and isinstance(value, str)}


def own_files(folder: Path, own: Pattern[str]) -> dict[str, bool] | None:
    """Each name in `folder` -> whether it is one of Fude's own files there: its name matches `own` whole and it is a
    regular file (not a symlink); None when the folder cannot be listed."""
    try:
        with os.scandir(folder) as found:
            names = [entry.name for entry in found]
    except OSError:
        return None
    return {name: own.fullmatch(name) is not None and is_plain_file(folder / name) for name in names}


def remove_own_files(folder: Path, own: Pattern[str]) -> None:
    """Delete the regular files in `folder` whose names match `own` (never a symlink, nor through one), then the
    folder if that leaves it empty; anything else stays."""
    if not is_plain_folder(folder):
        return
    for name, mine in (own_files(folder, own) or {}).items():
        if mine:
            try:
                os.unlink(folder / name)
            except OSError:
                pass
    try:
        folder.rmdir()
    except OSError:
        pass


def modified_time(path: Path) -> float:
    """When `path` itself (not what a symlink points to) was last modified; 0 when it cannot be told."""
    try:
        return os.lstat(path).st_mtime
    except (OSError, ValueError):
        return 0.0
