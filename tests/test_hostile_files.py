"""Hostile files: a picture in a format that starts a helper program, a device, a FIFO, a huge or oddly named
file, an animated PNG whose settings are read, a long target name, and an ffmpeg that stalls. Each is refused
(or handled) quickly, with a one-line error naming the file, and nothing is run, read whole, hung on or lost."""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, ImageFile, PngImagePlugin

from engine import export
from engine.errors import ExportError, ImageError, SettingsError
from engine.export import read_png_render, save_animation, save_png, write_atomically
from engine.images import decode_image, load_image
from engine.settings import PNG_SETTINGS_KEY, RenderSettings, png_text_chunks
from engine.untrusted import MAX_IMAGE_FILE_BYTES, read_png_text
from tests.pictures import gradient

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="FIFOs, /dev/zero and shell scripts are POSIX")

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
       b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")


def finishes(call: Callable[[], object], seconds: float = 5.0) -> object:
    """What `call()` returns or raises (as the exception object), run on a thread so that a call that would hang
    fails the test after `seconds` instead of hanging it."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test to inspect
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return outcome[0]


def one_line_error(error: object, kind: type[Exception], path: object) -> Exception:
    assert isinstance(error, kind), repr(error)
    assert error.path == str(path)
    assert "\n" not in str(error)
    return error


def fude_png_bytes(frames: int = 1, text: dict[str, str] | None = None) -> bytes:
    """A PNG carrying Fude's settings; with several frames, an animated PNG (APNG)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or png_text_chunks(RenderSettings(lam=0.07), "cat.png", "wave.png")).items():
        info.add_itxt(key, value)
    images = [Image.new("RGB", (64, 48), (i * 30 % 256, 80, 160)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="PNG", pnginfo=info, save_all=frames > 1, append_images=images[1:])
    return out.getvalue()


# formats that start helper programs, and formats Fude does not read ----------------------------------------------


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Records any attempt to start Ghostscript or even to parse the file as EPS (and stops it)."""
    calls: list[str] = []

    def ghostscript(*args, **kwargs):
        calls.append("Ghostscript")
        raise OSError("Ghostscript must not run")

    original_open = EpsImagePlugin.EpsImageFile._open

    def eps_open(self):
        calls.append("EpsImageFile._open")
        return original_open(self)

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", eps_open)
    return calls


def test_postscript_never_reaches_a_plugin_or_ghostscript(tmp_path, no_ghostscript):
    eps = tmp_path / "drawing.png"  # the name says PNG: the contents decide, and they are refused
    eps.write_bytes(EPS)
    error = one_line_error(finishes(lambda: load_image(eps)), ImageError, eps)
    assert "is not an image Fude can read" in error.reason
    error = one_line_error(finishes(lambda: decode_image(EPS, "dropped.eps")), ImageError, "dropped.eps")
    assert "is not an image Fude can read" in error.reason
    assert read_png_render(eps) is None
    assert no_ghostscript == []


def other_formats() -> dict[str, bytes]:
    """Small valid files in formats Pillow can decode (or, PDF, only write) but Fude does not read."""
    files = {}
    for fmt in ("ICO", "PPM", "TGA", "PCX", "SGI", "QOI", "PDF"):
        out = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 100, 50)).save(out, format=fmt)
        files[fmt] = out.getvalue()
    return files


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX", "SGI", "QOI", "PDF"])
def test_formats_outside_the_raster_list_are_refused(tmp_path, fmt):
    data = other_formats()[fmt]
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(data)
    for call, name in ((lambda: load_image(path), path), (lambda: decode_image(data, "pasted"), "pasted")):
        error = one_line_error(finishes(call), ImageError, name)
        assert "is not an image Fude can read" in error.reason and "PNG, JPEG, WebP, GIF, BMP and TIFF" in error.reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_the_raster_formats_still_load_from_files_and_bytes(tmp_path, fmt):
    out = io.BytesIO()
    Image.fromarray(gradient()).save(out, format=fmt)
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(out.getvalue())
    for image in (load_image(path), decode_image(out.getvalue(), "pasted")):
        assert image.shape == (30, 40, 3) and image.dtype == np.uint8
        assert np.abs(image.astype(int) - gradient()).mean() < 12  # GIF's palette and JPEG lose a little


# reads without limits: devices, FIFOs, folders, huge files, impossible names -------------------------------------


@POSIX_ONLY
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_without_reading_it():
    error = one_line_error(finishes(lambda: load_image("/dev/zero")), ImageError, "/dev/zero")
    assert "not a regular file" in error.reason
    assert finishes(lambda: read_png_render("/dev/zero")) is None


@POSIX_ONLY
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "picture.png"
    os.mkfifo(fifo)
    try:
        error = one_line_error(finishes(lambda: load_image(fifo)), ImageError, fifo)
        assert "not a regular file" in error.reason
        assert finishes(lambda: read_png_render(fifo)) is None
    finally:
        # a reader stuck opening the FIFO (the fault this guards against) is released by a writer that comes and goes
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader waiting: nothing to release
            pass


def test_a_folder_is_refused(tmp_path):
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    error = one_line_error(finishes(lambda: load_image(folder)), ImageError, folder)
    assert "is a folder" in error.reason
    assert read_png_render(folder) is None


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_IMAGE_FILE_BYTES + 1)  # sparse: no disk used
    started = time.monotonic()
    error = one_line_error(finishes(lambda: load_image(huge)), ImageError, huge)
    assert "too large" in error.reason and "MB" in error.reason
    assert time.monotonic() - started < 1  # refused by its size, not read
    assert read_png_render(huge) is None


def test_a_name_with_a_nul_character_is_one_clean_line(tmp_path):
    name = str(tmp_path / "bad\0name.png")
    error = finishes(lambda: load_image(name))
    assert isinstance(error, ImageError), repr(error)
    assert "\0" not in error.path and "\0" not in str(error) and "\n" not in str(error)
    assert "bad\\0name.png" in error.path
    assert read_png_render(name) is None


def test_decompression_bombs_are_one_line_errors(tmp_path):
    # a PNG header alone, claiming 100000 x 100000 pixels (10 gigapixels): refused before any pixel is decoded
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    claim = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path = tmp_path / "claim.png"
    path.write_bytes(claim)
    for call, name in ((lambda: load_image(path), path), (lambda: decode_image(claim, "pasted"), "pasted")):
        error = one_line_error(finishes(call), ImageError, name)
        assert "decompression" in error.reason
    assert read_png_render(path) is None


# reading a PNG's settings decodes no frame -----------------------------------------------------------------------


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_settings_are_read_from_an_animated_png_without_decoding_a_frame(tmp_path, no_decoding):
    path = tmp_path / "animated.png"
    path.write_bytes(fude_png_bytes(frames=12))
    stored = finishes(lambda: read_png_render(path))
    assert not isinstance(stored, BaseException), repr(stored)
    assert stored is not None and stored.settings.lam == 0.07
    assert stored.content_name == "cat.png"


def test_damaged_settings_in_a_png_still_raise_without_decoding(tmp_path, no_decoding):
    path = tmp_path / "damaged.png"
    path.write_bytes(fude_png_bytes(frames=3, text={PNG_SETTINGS_KEY: "{not json"}))
    with pytest.raises(SettingsError, match="damaged"):
        read_png_render(path)
    assert read_png_text(path) == {PNG_SETTINGS_KEY: "{not json"}


def test_pictures_that_are_not_fude_pngs_have_no_settings(tmp_path):
    jpeg = tmp_path / "photo.png"
    Image.fromarray(gradient()).save(jpeg, format="JPEG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(fude_png_bytes()[:30])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path in (jpeg, truncated, empty, tmp_path / "missing.png"):
        assert read_png_render(path) is None, path


# atomic writes: a short temporary name, the folder synced after the rename ---------------------------------------


def test_a_long_valid_name_can_be_saved_and_leaves_nothing_behind(tmp_path):
    # 250 characters: valid where names take 255 bytes (most filesystems); `.{name}.XXXXXXXX.part` was not
    name = "n" * 246 + ".png"
    path = save_png(tmp_path / name, gradient(), png_text_chunks(RenderSettings(), "a", "b"))
    assert os.listdir(tmp_path) == [name]
    assert np.array_equal(load_image(path), gradient())
    save_png(tmp_path / name, gradient(20, 10))  # replacing it works too
    assert os.listdir(tmp_path) == [name]


@POSIX_ONLY
def test_the_file_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append("replace")
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomically(tmp_path / "out.bin", lambda handle: handle.write(b"data"))
    assert events == ["fsync file", "replace", "fsync folder"]
    assert (tmp_path / "out.bin").read_bytes() == b"data"


@POSIX_ONLY
def test_a_folder_that_cannot_be_synced_is_no_error(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomically(tmp_path / "out.bin", lambda handle: handle.write(b"data"))
    assert os.listdir(tmp_path) == ["out.bin"]


# an ffmpeg that stalls -------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="the stalled ffmpeg is a shell script")
def test_an_ffmpeg_that_stops_reading_is_stopped_at_the_timeout(tmp_path, monkeypatch):
    stalled = tmp_path / "ffmpeg"
    stalled.write_text("#!/bin/sh\nsleep 30\n")  # never reads its input, never exits on its own
    stalled.chmod(0o755)
    monkeypatch.setattr(export, "ffmpeg_executable", lambda target: str(stalled))
    monkeypatch.setattr(export, "FFMPEG_TIMEOUT_S", 1.0)
    target = tmp_path / "evolution.mp4"
    target.write_bytes(b"the user's earlier video")
    frames = [gradient(512, 512)] * 4  # each 768 KiB of raw RGB: far more than a pipe holds
    started = time.monotonic()
    error = one_line_error(finishes(lambda: save_animation(target, frames), seconds=10), ExportError, target)
    assert "took over 1 s and was stopped" in error.reason
    assert time.monotonic() - started < 8
    assert target.read_bytes() == b"the user's earlier video"
    assert sorted(os.listdir(tmp_path)) == ["evolution.mp4", "ffmpeg"]
