"""Errors a user can act on: each names the file (or thing) at fault and says what is wrong with it."""

from __future__ import annotations

import os

from engine.names import MAX_NAME_CHARS, clean_name

# A reason long enough for any sentence Fude writes; a longer one quotes something hostile at length.
MAX_REASON_CHARS = 1000


class FudeError(Exception):
    """An error raised at the edge (loading, saving, choosing weights or a device), shown to the user as-is."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        # always one line, and bounded: it is shown as `error: PATH: reason`, and the path may be a hostile name
        self.reason = clean_name(reason, MAX_REASON_CHARS)
        super().__init__(f"{clean_name(self.path, 2 * MAX_NAME_CHARS)}: {self.reason}")


class ImageError(FudeError):
    """An input picture that cannot be used (missing, unreadable, not an image, truncated, too large)."""


class ExportError(FudeError):
    """A result that could not be written (folder missing or read-only, disk full, invalid name)."""


class WeightsError(FudeError):
    """Network weights that cannot be found, fetched or understood."""


class DeviceError(FudeError):
    """A compute device the user asked for that this machine does not have."""


class SettingsError(FudeError):
    """Settings that are out of range or that could not be read back from a file."""


class OutOfMemory(FudeError):
    """A render that ran out of memory on its device; `fits` is the largest size that should fit (None: unknown,
    or not even the smallest). The picture made so far is kept by whoever drove the run."""

    def __init__(self, device: str, reason: str, size: int, fits: int | None) -> None:
        super().__init__(device, reason)
        self.size = size
        self.fits = fits


class DivergenceError(FudeError):
    """A render whose loss stayed NaN or infinite even after the last good picture was restored and the step
    cut many times over (for example an extreme lam): going on cannot help."""


class VideoError(FudeError):
    """A clip that cannot be used (missing, not a video Fude can read, without frames, damaged part-way), or a
    clip's work folder that belongs to another render."""
