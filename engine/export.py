"""Write results: a PNG carrying the settings that made it, and the evolution as an animated GIF or WebP or an
MP4 video, each written atomically (a temporary file in the same folder, then a rename) so a failed write leaves
any existing file untouched and nothing partial behind; and read back the settings a PNG carries. One collision
rule per kind of name: a name the user typed may be replaced (atomically); a name Fude made up never replaces a
file: the first free "<stem> 2<suffix>", "<stem> 3<suffix>"... is taken instead, race-free."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from engine.errors import ExportError, ImageError, SettingsError
from engine.settings import StoredRender, parse_png_text
from engine.transparency import flatten
from engine.untrusted import read_png_text

GIF_MAX_FRAMES = 60
GIF_FRAME_MS = 80
GIF_LAST_FRAME_MS = 2500  # the finished picture is held so a viewer sees it before the loop restarts

ANIMATION_FORMATS = ("gif", "webp", "mp4")
WEBP_QUALITY = 80
MP4_CRF = 20  # x264's constant quality: lower is better and larger; 20 shows no visible loss on these pictures
FFMPEG_TIMEOUT_S = 600.0  # the whole encode, frames fed included
# The temporary file beside the target: a short name, so any name the folder can take works as a target too
# (a name of `.{name}...` would be longer than a valid 240-character name, and over the usual 255-byte limit).
TEMP_PREFIX = ".fude-"
TEMP_SUFFIX = ".part"


def _check_name(p: Path) -> None:
    """Refuse a name the operating system cannot take at all (before any call would raise ValueError)."""
    if "\0" in str(p):
        raise ExportError(str(p).replace("\0", "\\0"), "is not a valid file name (it contains a NUL character)")


def check_writable(path: str | os.PathLike[str], replace: bool = True) -> None:
    """Raise ExportError now if `path` cannot be written, so a long render does not end in a failed save. Without
    `replace` (a name Fude made up, which goes to a free name when taken) only its folder counts."""
    p = Path(path)
    _check_name(p)
    folder = p.parent if str(p.parent) else Path(".")
    if p.name in ("", ".", ".."):
        raise ExportError(p, "is not a file name")
    if replace and p.is_dir():
        raise ExportError(p, "is a folder; give a file name")
    if not folder.exists():
        raise ExportError(p, f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise ExportError(p, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(p, f"the folder {folder} is not writable")
    if replace and p.exists() and not os.access(p, os.W_OK):
        raise ExportError(p, "the file exists and is read-only")


def write_atomically(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], object],
                     replace: bool = True) -> Path:
    """Call `write` on a temporary file beside `path`, flush it to disk, then publish it: with `replace` (a name
    the user typed) it is renamed over `path`, replacing any file there; without (a name Fude made up) it never
    replaces a file: it goes to `path` if that name is free, else to the first free "<stem> 2<suffix>",
    "<stem> 3<suffix>"... (see publish_new). The path written."""
    p = Path(path)
    _check_name(p)
    if p.name in ("", ".", ".."):
        raise ExportError(p, "is not a file name")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise ExportError(p, _reason(exc, folder)) from None
    tmp = Path(tmp_name)
    written = p
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace and p.exists():
            # keep the permissions a user gave the file they are replacing
            os.chmod(tmp, p.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if replace:
            os.replace(tmp, p)
        else:
            written = publish_new(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(written, _reason(exc, folder)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return written


# How many numbered names publish_new tries before it gives up (a folder with "cat 2.png" to "cat 9999.png").
MAX_NAME_NUMBER = 9999
# os.link's errors on a file system that has no hard links (FAT, exFAT, some network shares, some sandboxes)
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
                  getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


def numbered_names(path: str | os.PathLike[str]) -> Iterator[Path]:
    """`path`, then "<stem> 2<suffix>", "<stem> 3<suffix>"... up to MAX_NAME_NUMBER, in the same folder."""
    p = Path(path)
    yield p
    for number in range(2, MAX_NAME_NUMBER + 1):
        yield p.with_name(f"{p.stem} {number}{p.suffix}")


def publish_new(tmp: Path, path: Path) -> Path:
    """Give the finished file `tmp` (in `path`'s folder) the first free name of numbered_names(path), never
    replacing a file, also one that appears while this runs: the name is taken with os.link, which fails when the
    name exists (EEXIST), and then the next is tried; `tmp` is removed once linked. Where the file system has no
    hard links, the name is reserved by creating it exclusively (O_EXCL) and `tmp` is renamed over the empty
    file reserved. The path written; FileExistsError when every name is taken."""
    hard_links = True
    for candidate in numbered_names(path):
        if hard_links:
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                hard_links = False
            else:
                tmp.unlink()
                return candidate
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        try:
            os.replace(tmp, candidate)
        except OSError:
            candidate.unlink(missing_ok=True)  # the empty file this call made, nobody else's
            raise
        return candidate
    raise FileExistsError(errno.EEXIST, f"every name from {path.name} to "
                          f"{path.stem} {MAX_NAME_NUMBER}{path.suffix} is taken")


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file to disk, so a power cut just after a save cannot bring back
    the old file (or none). Where folders cannot be opened or synced (Windows, some network filesystems), the
    rename itself is all there is."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # EINVAL and the like: the filesystem does not sync folders
        pass
    finally:
        os.close(fd)


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


def save_png(path: str | os.PathLike[str], image: np.ndarray, text: dict[str, str] | None = None,
             replace: bool = True) -> Path:
    """Write an H x W x 3 (or, with transparency, H x W x 4 RGBA) uint8 image as PNG with `text` chunks (see
    settings.png_text_chunks); `replace` as write_atomically says. The path written."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)  # iTXt: UTF-8, so file names in any script survive
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return write_atomically(path, lambda handle: pil.save(handle, format="PNG", pnginfo=info, optimize=False),
                            replace=replace)


def read_png_render(path: str | os.PathLike[str]) -> StoredRender | None:
    """The render settings stored in a PNG that Fude made, or None for any other picture (or any file that is
    not a readable PNG: a device, a FIFO, another format). Only the text chunks before the picture data are read,
    where Fude writes its own, so no frame is decoded (an animated PNG would decode every one); a SettingsError
    when the stored settings are damaged."""
    try:
        text = read_png_text(path)
    except ImageError:  # not a regular file, or not a readable PNG: nothing stored in it
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


@dataclass(frozen=True)
class AnimationOptions:
    """How an evolution is animated: how many frames (evenly spread over the run, always ending with the
    finished picture), how long each is shown, how long the finished picture is held before the loop restarts,
    and the animation's longest side in pixels (None: the size of the finished picture)."""

    frame_count: int = GIF_MAX_FRAMES
    frame_ms: int = GIF_FRAME_MS
    last_frame_ms: int = GIF_LAST_FRAME_MS
    longest_side: int | None = None

    def __post_init__(self) -> None:
        problems = []

        def whole(name: str, value: object, low: int, high: int) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{name} must be a whole number from {low} to {high}, not {value!r}")

        whole("frame count", self.frame_count, 1, 10_000)
        whole("frame time", self.frame_ms, 10, 60_000)
        whole("last frame time", self.last_frame_ms, 10, 600_000)
        if self.longest_side is not None:
            whole("animation size", self.longest_side, 16, 8192)
        if problems:
            raise SettingsError("animation", "; ".join(problems))


def animation_format(path: str | os.PathLike[str]) -> str:
    """The animation format a file name asks for by its suffix (.gif, .webp or .mp4), or an ExportError."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ANIMATION_FORMATS:
        given = f"ends in .{suffix}" if suffix else "has no suffix"
        raise ExportError(path, f"{given}; an animation must end in " + ", ".join(f".{f}" for f in ANIMATION_FORMATS))
    return suffix


def pick_frames(images: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """At most `count` of `images`, evenly spread, always including the last (the finished picture)."""
    if count < 1:
        raise ValueError(f"count must be 1 or more, not {count}")
    n = len(images)
    if n <= count:
        return list(images)
    if count == 1:
        return [images[-1]]
    # the first and last are kept; the rest at evenly spaced positions between them (no index repeats: n > count)
    return [images[round(i * (n - 1) / (count - 1))] for i in range(count)]


def _frame_size(images: Sequence[np.ndarray], longest_side: int | None, even: bool) -> tuple[int, int]:
    """Width and height of the animation: the finished picture's, scaled to `longest_side`; even for video."""
    height, width = images[-1].shape[:2]
    if longest_side is not None:
        scale = longest_side / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if even:  # H.264 in yuv420p halves the colour resolution, so both sides must be even
        width, height = max(2, width - width % 2), max(2, height - height % 2)
    return width, height


def _sized(image: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """An animation frame at `size` (frames from a coarser scale of a run, or a chosen size, are resampled)."""
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return pil if pil.size == size else pil.resize(size, Image.Resampling.LANCZOS)


def _durations(count: int, frame_ms: int, last_frame_ms: int) -> list[int]:
    return [frame_ms] * (count - 1) + [last_frame_ms]


def _gif_bytes(images: Sequence[np.ndarray], size: tuple[int, int], frame_ms: int, last_frame_ms: int) -> bytes:
    """An animated GIF looping forever, each frame with its own palette so its colours stay true. The palette is
    an octree's: 60 frames of 512 px encode in about 1 s where median cut took 14-24 s (too slow to show a file
    size in a dialog), for a mean error of 5.5 instead of 4.5 levels in 255, not visible once dithered."""
    frames = [_sized(flatten(image), size).quantize(256, method=Image.Quantize.FASTOCTREE,
                                                    dither=Image.Dither.FLOYDSTEINBERG)
              for image in images]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:],
                   duration=_durations(len(frames), frame_ms, last_frame_ms), loop=0, disposal=1, optimize=False)
    return out.getvalue()


def _webp_bytes(images: Sequence[np.ndarray], size: tuple[int, int], frame_ms: int, last_frame_ms: int) -> bytes:
    """An animated, lossy WebP looping forever: true colour, far smaller than the GIF, with the frames' alpha."""
    frames = [_sized(image, size) for image in images]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:],
                   duration=_durations(len(frames), frame_ms, last_frame_ms), loop=0, lossless=False,
                   quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def ffmpeg_executable(target: str | os.PathLike[str]) -> str:
    """The ffmpeg that the imageio-ffmpeg wheel ships (or the one IMAGEIO_FFMPEG_EXE names), or an ExportError
    naming `target`, the file that needed it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ExportError(target, "MP4 needs the imageio-ffmpeg package, which is not installed "
                                  "(run python3 bootstrap.py run again, or pip install imageio-ffmpeg)") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise ExportError(target, f"MP4 needs ffmpeg, which was not found ({exc})") from None


def _feed(process: subprocess.Popen[bytes], frames: Iterable[bytes], failures: list[BaseException]) -> None:
    """Write raw frames to ffmpeg's input and close it; if ffmpeg stops reading, its exit status says why. Runs
    on its own thread, so a write that blocks (an ffmpeg that stalls without exiting) cannot outlast the
    deadline the waiting thread keeps; a frame that cannot be made is put in `failures` for that thread."""
    assert process.stdin is not None
    try:
        for frame in frames:
            process.stdin.write(frame)
    except OSError:
        pass  # a broken pipe: ffmpeg gave up or was stopped, and its exit status says which
    except BaseException as exc:  # noqa: BLE001 - e.g. a MemoryError resizing a frame: raised by the waiting thread
        failures.append(exc)
    finally:
        try:
            process.stdin.close()
        except OSError:
            pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill ffmpeg and anything it started (its own process group on POSIX), so no process is left holding the
    pipe that the feeding thread may be blocked writing to."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:  # already gone
            pass
    process.kill()
    process.wait()


def _mp4_bytes(images: Sequence[np.ndarray], size: tuple[int, int], frame_ms: int, last_frame_ms: int,
               target: str | os.PathLike[str]) -> bytes:
    """An H.264 MP4 (yuv420p, so every player shows it) at 1000 / frame_ms frames a second, the finished picture
    repeated to be held for about last_frame_ms. Frames are piped to ffmpeg as raw RGB, one at a time."""
    exe = ffmpeg_executable(target)
    held = max(1, round(last_frame_ms / frame_ms))
    width, height = size
    with tempfile.TemporaryDirectory(prefix="fude-mp4-") as folder:
        video = Path(folder) / "evolution.mp4"
        command = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"1000/{frame_ms}",
                   "-i", "pipe:0", "-an", "-c:v", "libx264", "-preset", "medium", "-crf", str(MP4_CRF),
                   "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video)]
        with tempfile.TemporaryFile() as errors:
            try:
                # a session (process group) of its own, so that _stop reaches anything it starts
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                                           start_new_session=os.name == "posix")
            except OSError as exc:
                raise ExportError(target, f"ffmpeg ({exe}) could not be started: {exc.strerror or exc}") from None
            failures: list[BaseException] = []
            feeder: threading.Thread | None = None
            try:
                deadline = time.monotonic() + FFMPEG_TIMEOUT_S
                last = _sized(flatten(images[-1]), size).tobytes()
                # one frame resized at a time (a 2048 px evolution would not fit in memory all at once)
                frames = chain((_sized(flatten(image), size).tobytes() for image in images[:-1]), repeat(last, held))
                # daemon: should the stopped ffmpeg leave a writer blocked after all, it cannot keep Fude running
                feeder = threading.Thread(target=_feed, args=(process, frames, failures), name="fude-ffmpeg-feed",
                                          daemon=True)
                feeder.start()
                code = process.wait(timeout=FFMPEG_TIMEOUT_S)
                feeder.join(max(0.0, deadline - time.monotonic()))
                if feeder.is_alive():  # ffmpeg exited, yet something it left behind still holds its input open
                    raise subprocess.TimeoutExpired(command, FFMPEG_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _stop(process)
                if feeder is not None:
                    feeder.join(5.0)  # the kill broke the pipe, so the writer returns at once
                raise ExportError(target, f"ffmpeg ({exe}) took over {FFMPEG_TIMEOUT_S:g} s and was stopped") from None
            except BaseException:
                _stop(process)
                if feeder is not None:
                    feeder.join(5.0)
                raise
            if failures:
                raise failures[0]
            if code != 0 or not video.exists():
                errors.seek(0)
                said = " ".join(errors.read().decode("utf-8", "replace").split())[-300:]
                raise ExportError(target, f"ffmpeg ({exe}) could not encode the MP4 (exit status {code})"
                                          + (f": {said}" if said else ""))
        return video.read_bytes()


def encode_animation(images: Sequence[np.ndarray], fmt: str, options: AnimationOptions = AnimationOptions(),
                     target: str | os.PathLike[str] | None = None) -> bytes:
    """The evolution `images` (H x W x 3 uint8, the finished picture last; earlier ones may be smaller) as the
    bytes of a `fmt` file ("gif", "webp" or "mp4"), so its exact size is known before it is saved. `target`
    is the file it is meant for, named in errors. H x W x 4 frames (a transparent content's) keep their alpha in
    WebP; GIF (one bit of it) and MP4 (none) show them over white."""
    fmt = fmt.lower()
    name = target if target is not None else f"{fmt} animation"
    if fmt not in ANIMATION_FORMATS:
        raise ExportError(name, f"{fmt!r} is not an animation format (use one of {', '.join(ANIMATION_FORMATS)})")
    if not images:
        raise ExportError(name, "there are no frames to write yet")
    chosen = pick_frames(images, options.frame_count)
    size = _frame_size(chosen, options.longest_side, even=fmt == "mp4")
    if fmt == "mp4":
        return _mp4_bytes(chosen, size, options.frame_ms, options.last_frame_ms, name)
    encode = _gif_bytes if fmt == "gif" else _webp_bytes
    return encode(chosen, size, options.frame_ms, options.last_frame_ms)


def save_animation(path: str | os.PathLike[str], images: Sequence[np.ndarray],
                   options: AnimationOptions = AnimationOptions(), fmt: str | None = None) -> Path:
    """Write the evolution to `path` as an animation in `fmt` (None: from the suffix: .gif, .webp or .mp4)."""
    _check_name(Path(path))
    data = encode_animation(images, fmt or animation_format(path), options, target=path)
    return write_atomically(path, lambda handle: handle.write(data))


def save_gif(
    path: str | os.PathLike[str],
    images: list[np.ndarray],
    frame_ms: int = GIF_FRAME_MS,
    last_frame_ms: int = GIF_LAST_FRAME_MS,
) -> Path:
    """An animated GIF of every one of `images`, looping forever, each frame with its own palette."""
    if not images:
        raise ExportError(path, "there are no frames to write yet")
    data = _gif_bytes(images, _frame_size(images, None, even=False), frame_ms, last_frame_ms)
    return write_atomically(path, lambda handle: handle.write(data))
