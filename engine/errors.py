"""Errors a user can act on: each names the file (or thing) at fault and says what is wrong with it."""

from __future__ import annotations

import os


class FudeError(Exception):
    """An error raised at the edge (loading, saving, choosing weights or a device), shown to the user as-is."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(reason.split())  # always one line: it is shown as `error: PATH: reason`
        super().__init__(f"{self.path}: {reason}")


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
