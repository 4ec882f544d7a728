"""Open any picture a user may drop (odd modes, EXIF rotation, animation, 16-bit, transparency) as an RGB
uint8 array (or, for a content picture, an RGB array and its alpha channel set aside), refuse broken or dangerous
files with an ImageError, and resize pictures for the network. Only regular files of bounded size are read
(engine/untrusted.py), and only the raster formats in RASTER_FORMATS are decoded, whatever the source:
no other Pillow plugin (EPS, which runs Ghostscript, among them) sees the bytes."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageError
from engine.settings import MIN_SIZE
from engine.transparency import split_alpha
from engine.untrusted import DECODE_ERRORS, MAX_IMAGE_FILE_BYTES, RASTER_FORMATS, format_bytes, read_file_bytes

T = TypeVar("T")

# How a refused format is explained: the formats Fude does read, by their usual names.
_READABLE = "Fude reads PNG, JPEG, WebP, GIF, BMP and TIFF"


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The picture at `path` as an H x W x 3 uint8 RGB array (transparency over white), or an ImageError that says
    what is wrong."""
    return _read(path, _to_rgb_array)


def load_picture(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """The picture at `path` with its transparency set aside, as a content picture is used: (H x W x 3 uint8 RGB,
    its transparent parts over engine.transparency's neutral grey; its H x W uint8 alpha channel, or None when
    it has none or every pixel is opaque). An ImageError says what is wrong."""
    return _read(path, _split)


def load_rgba(path: str | os.PathLike[str]) -> np.ndarray:
    """The picture at `path` with its transparency, as a result was saved: H x W x 4 uint8 straight RGBA when some
    pixel is not opaque, else H x W x 3 uint8 RGB. An ImageError says what is wrong."""
    return _read(path, _to_rgb_or_rgba)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes (from a file, a paste or a web drop) named `name` in messages, as load_image does."""
    return _decode(data, name, _to_rgb_array)


def decode_picture(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode image bytes named `name` in messages, with the transparency set aside, as load_picture does."""
    return _decode(data, name, _split)


def _read(path: str | os.PathLike[str], convert: Callable[[Image.Image], T]) -> T:
    p = Path(path)
    # only a regular file, and never more than the cap: not /dev/zero, a FIFO (which would block) or a folder
    data = read_file_bytes(p, MAX_IMAGE_FILE_BYTES, ImageError)
    return _decode(data, str(p), convert)


def _transparent(im: Image.Image) -> np.ndarray | None:
    """The picture as H x W x 4 straight RGBA when some pixel is not opaque; None otherwise."""
    if not _has_alpha(im):
        return None
    rgba = np.array(im.convert("RGBA"), dtype=np.uint8)
    return rgba if bool((rgba[..., 3] < 255).any()) else None


def _split(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    rgba = _transparent(im)
    return (_to_rgb_array(im), None) if rgba is None else split_alpha(rgba)


def _to_rgb_or_rgba(im: Image.Image) -> np.ndarray:
    rgba = _transparent(im)
    return _to_rgb_array(im) if rgba is None else rgba


def _decode(data: bytes, name: str, convert: Callable[[Image.Image], T]) -> T:
    """`convert` of the first frame of image bytes, loaded and upright (called while the image is open)."""
    if not data:
        raise ImageError(name, "is empty (0 bytes)")
    if len(data) > MAX_IMAGE_FILE_BYTES:  # a paste or a download is held to the limit a file is
        raise ImageError(name, f"is too large ({format_bytes(len(data))}; the limit is "
                               f"{format_bytes(MAX_IMAGE_FILE_BYTES)})")
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its pixel limit and raises above 2x; both are refused here,
            # by the explicit size check below, so the warning would only be noise on stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # formats=: any other plugin Pillow knows is never tried, so EPS never reaches Ghostscript
            with Image.open(io.BytesIO(data), formats=RASTER_FORMATS) as im:
                check_pixel_count(name, *im.size)
                im.seek(0)  # first frame of an animated GIF/WebP/APNG
                im.load()
                return convert(_upright(im))
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(name, "is too large to open safely (Pillow's decompression-bomb limit)") from None
    except UnidentifiedImageError:
        raise ImageError(name, f"is not an image Fude can read (unknown or unsupported format; {_READABLE})") from None
    except MemoryError:
        raise ImageError(name, "is too large to decode with the memory available") from None
    except DECODE_ERRORS as exc:
        # Pillow signals corrupt data with many exception types; "image file is truncated" is an OSError.
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            raise ImageError(name, "is truncated (the file ends before the image does)") from None
        raise ImageError(name, f"is damaged and cannot be decoded ({reason})") from None


def check_pixel_count(name: str, width: int, height: int) -> None:
    """Refuse a picture larger than Pillow's decompression-bomb limit, however it arrives (file, bytes, or an
    image another program already decoded), with the same message."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageError(
            name,
            f"is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than the {limit / 1e6:.0f} "
            "megapixel limit for safe decoding (possible decompression bomb)",
        )


def _upright(im: Image.Image) -> Image.Image:
    """Honour the EXIF orientation; a broken EXIF block is ignored rather than refusing the picture."""
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - Pillow raises assorted errors on malformed EXIF; the pixels are fine
        return im


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any Pillow mode as RGB uint8; transparency is composited onto white, deep images scaled to 8 bits."""
    mode = im.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(im, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif values.size and np.nanmax(values) > 255:
            values = values / (257.0 if np.nanmax(values) <= 65535 else np.nanmax(values) / 255.0)
        gray = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        rgb = im.convert("RGB")
    return np.array(rgb, dtype=np.uint8)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


def fit_size(width: int, height: int, longest: int, min_side: int = MIN_SIZE) -> tuple[int, int]:
    """(width, height) with the longest side `longest`, keeping the aspect ratio; the short side is kept at
    least `min_side` (so very long, thin pictures are stretched a little rather than refused)."""
    if width >= height:
        w, h = longest, round(height * longest / width)
    else:
        w, h = round(width * longest / height), longest
    return max(w, min_side), max(h, min_side)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A high-quality resize of an RGB uint8 array (Lanczos, which also antialiases when shrinking)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def resize_longest(image: np.ndarray, longest: int) -> np.ndarray:
    """Resize so the longest side is `longest` pixels (tiny pictures are scaled up to the network's minimum)."""
    h, w = image.shape[:2]
    return resize(image, *fit_size(w, h, longest))
