"""Write results: a PNG carrying the settings that made it, and an animated GIF of the evolution, each
written atomically (a temporary file in the same folder, then a rename) so a failed write leaves any
existing file untouched and nothing partial behind."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from engine.errors import ExportError
from engine.settings import StoredRender, parse_png_text

GIF_MAX_FRAMES = 60
GIF_FRAME_MS = 80
GIF_LAST_FRAME_MS = 2500  # the finished picture is held so a viewer sees it before the loop restarts


def _check_name(p: Path) -> None:
    """Refuse a name the operating system cannot take at all (before any call would raise ValueError)."""
    if "\0" in str(p):
        raise ExportError(str(p).replace("\0", "\\0"), "is not a valid file name (it contains a NUL character)")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise ExportError now if `path` cannot be written, so a long render does not end in a failed save."""
    p = Path(path)
    _check_name(p)
    folder = p.parent if str(p.parent) else Path(".")
    if p.name in ("", ".", ".."):
        raise ExportError(p, "is not a file name")
    if p.is_dir():
        raise ExportError(p, "is a folder; give a file name")
    if not folder.exists():
        raise ExportError(p, f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise ExportError(p, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(p, f"the folder {folder} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise ExportError(p, "the file exists and is read-only")


def write_atomically(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call `write` on a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    p = Path(path)
    _check_name(p)
    if p.name in ("", ".", ".."):
        raise ExportError(p, "is not a file name")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ExportError(p, _reason(exc, folder)) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if p.exists():
            # keep the permissions a user gave the file they are replacing
            os.chmod(tmp, p.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(p, _reason(exc, folder)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _reason(exc: OSError, folder: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied: the folder {folder} is not writable"
    if exc.errno == errno.ENOENT:
        return f"the folder {folder} does not exist"
    if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL):
        return "is not a valid file name here"
    if exc.errno == errno.EISDIR:
        return "is a folder; give a file name"
    if exc.errno == errno.ENOTDIR:
        return f"{folder} is not a folder"
    return exc.strerror or str(exc)


def save_png(path: str | os.PathLike[str], image: np.ndarray, text: dict[str, str] | None = None) -> Path:
    """Write an H x W x 3 uint8 image as PNG with `text` chunks (see settings.png_text_chunks)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)  # iTXt: UTF-8, so file names in any script survive
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return write_atomically(path, lambda handle: pil.save(handle, format="PNG", pnginfo=info, optimize=False))


def read_png_render(path: str | os.PathLike[str]) -> StoredRender | None:
    """The render settings stored in a PNG that Fude made, or None for any other picture."""
    try:
        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}) or {})
    except Exception:  # noqa: BLE001 - not a readable PNG: nothing stored in it
        return None
    return parse_png_text(text, str(path))


@dataclass
class FrameRecorder:
    """Keeps an evenly spread sample of a run's frames, at most `max_frames`, without knowing the run's length:
    it keeps every `stride`-th iteration and, when full, drops every other frame and doubles the stride."""

    max_frames: int = GIF_MAX_FRAMES
    stride: int = 1
    frames: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def wants(self, index: int) -> bool:
        """Whether the frame of iteration `index` (1-based) would be kept: ask before making its image."""
        return index % self.stride == 0

    def add(self, index: int, image: np.ndarray) -> None:
        if not self.wants(index):
            return
        self.frames.append((index, image))
        if len(self.frames) > self.max_frames:
            self.stride *= 2
            self.frames = [(i, im) for i, im in self.frames if i % self.stride == 0]

    def images(self, final: np.ndarray | None = None) -> list[np.ndarray]:
        """The recorded images, ending with `final` (the finished picture) if it is not already the last."""
        images = [image for _, image in self.frames]
        if final is not None and (not images or not np.array_equal(images[-1], final)):
            images.append(final)
        return images


def save_gif(
    path: str | os.PathLike[str],
    images: list[np.ndarray],
    frame_ms: int = GIF_FRAME_MS,
    last_frame_ms: int = GIF_LAST_FRAME_MS,
) -> Path:
    """An animated GIF looping forever, each frame with its own palette so its colours stay true."""
    if not images:
        raise ExportError(path, "there are no frames to write yet")
    size = (images[-1].shape[1], images[-1].shape[0])
    frames = []
    for image in images:
        pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
        if pil.size != size:  # frames from a coarser scale of a run are shown at the final size
            pil = pil.resize(size, Image.Resampling.LANCZOS)
        frames.append(pil.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG))
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]

    def write(handle: io.BufferedWriter) -> None:
        frames[0].save(handle, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0, disposal=1, optimize=False)

    return write_atomically(path, write)
