"""Regions: where each painting goes. One 8-bit mask per style picture over the content picture (255: that style
goes here; 0: it does not; grey blends), kept as an immutable value that is part of the render settings, stored
in a result PNG (zlib, then base64, inside the settings' JSON) and read back from one with every size checked.

Where no mask reaches, the result is the content picture itself (engine.run composes it, with the edge softened
over FEATHER_FRACTION of the picture's longest side). Several masks may cover the same pixel: that pixel then
takes the styles together, as an unpainted picture takes every style.

This module is numpy and Pillow only (no torch): the window builds and shows regions on its own thread.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import SettingsError

# Masks are kept at the content picture's own size up to this longest side (larger pictures: scaled down). The
# run scales them to each of its sizes with a smooth filter, and softens the edge anyway, so a finer mask would
# change nothing a person sees while making every result PNG larger.
REGION_MAX_SIDE = 1024
# The edge between a painted region and the kept content is softened (a Gaussian of this standard deviation,
# as a fraction of the result's longest side, at least FEATHER_MIN_PX): 2 px at 512 px, 8 px at 2048 px.
FEATHER_FRACTION = 0.004
FEATHER_MIN_PX = 1.0
FULL, NONE = 255, 0

# The colour of each style picture's region in the window and in a colour-coded mask file (in order; a ninth
# style takes the first colour again), and of "keep the content". White in a mask file: every style.
STYLE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 57, 70), (29, 120, 230), (250, 190, 20), (150, 70, 210),
    (40, 180, 90), (240, 120, 30), (20, 190, 200), (220, 60, 170),
)
KEEP_COLOUR: tuple[int, int, int] = (0, 0, 0)
EVERY_STYLE_COLOUR: tuple[int, int, int] = (255, 255, 255)


def style_colour(index: int) -> tuple[int, int, int]:
    return STYLE_COLOURS[index % len(STYLE_COLOURS)]


def region_size(width: int, height: int) -> tuple[int, int]:
    """The (width, height) of the masks for a content picture of width x height."""
    longest = max(width, height)
    if longest <= REGION_MAX_SIDE:
        return max(1, width), max(1, height)
    scale = REGION_MAX_SIDE / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def feather_sigma(width: int, height: int) -> float:
    """The standard deviation, in pixels, of the softening of a region's edge in a result of width x height."""
    return max(FEATHER_MIN_PX, FEATHER_FRACTION * max(width, height))


@dataclass(frozen=True)
class Regions:
    """One mask per style picture, each `width` x `height` bytes (row by row, 0-255). Compare, hash and store it
    like any other setting; `stack()` gives the masks as an S x H x W uint8 array."""

    width: int
    height: int
    masks: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_size(self.width, self.height)
        if not isinstance(self.masks, tuple) or not self.masks:
            raise SettingsError("regions", "there must be one mask per style picture")
        if len(self.masks) > MAX_MASKS:
            raise SettingsError("regions", f"more than {MAX_MASKS} masks")
        for mask in self.masks:
            if not isinstance(mask, bytes) or len(mask) != self.width * self.height:
                raise SettingsError("regions", f"a mask is not {self.width} x {self.height} pixels")

    # ---- making regions ----

    @classmethod
    def from_stack(cls, masks: np.ndarray | Sequence[np.ndarray]) -> Regions:
        """Regions from S masks of one size (H x W, uint8; other numbers are rounded and clipped to 0-255)."""
        arrays = [np.asarray(m) for m in masks]
        if not arrays or any(a.ndim != 2 or a.shape != arrays[0].shape for a in arrays):
            raise SettingsError("regions", "the masks must be one or more pictures of one size")
        height, width = arrays[0].shape
        data = tuple(_as_bytes(a) for a in arrays)
        return cls(width=int(width), height=int(height), masks=data)

    @classmethod
    def everywhere(cls, count: int, width: int, height: int) -> Regions:
        """Every style over the whole picture: what a picture with no regions painted does."""
        return cls(width=width, height=height, masks=(bytes([FULL]) * (width * height),) * count)

    # ---- reading them ----

    @property
    def count(self) -> int:
        return len(self.masks)

    def stack(self) -> np.ndarray:
        """The masks as a read-only S x H x W uint8 array."""
        data = np.frombuffer(b"".join(self.masks), dtype=np.uint8)
        return data.reshape(self.count, self.height, self.width)

    def mask(self, index: int) -> np.ndarray:
        return np.frombuffer(self.masks[index], dtype=np.uint8).reshape(self.height, self.width)

    def coverage(self) -> np.ndarray:
        """H x W uint8: how much of the painting covers each pixel (255: all painting; 0: the content kept)."""
        return self.stack().max(axis=0)

    @property
    def keeps_everything(self) -> bool:
        """No style reaches any pixel: the result would be the content picture."""
        return all(not any(mask) for mask in self.masks)

    @property
    def is_everywhere(self) -> bool:
        """Every style over every pixel: the same as no regions."""
        full = bytes([FULL]) * (self.width * self.height)
        return all(mask == full for mask in self.masks)

    def kept_share(self) -> float:
        """The share of the picture (0-1) kept as the content."""
        return float(1.0 - self.coverage().mean() / FULL)

    def describe(self) -> str:
        """One short phrase for messages ("regions: 40% kept as the content")."""
        return f"regions ({round(100 * self.kept_share())}% kept as the content)"

    # ---- changing them ----

    def remapped(self, sources: Sequence[int | None]) -> Regions:
        """The regions for a new list of style pictures: `sources[k]` is the index of the new k-th picture among
        the old ones, or None for a picture that was not there. A new picture goes where the picture is still
        unpainted (where every old style goes); the region of a picture no longer there goes to every picture
        left, so that nothing painted for a painting becomes the content."""
        stack = self.stack()
        kept = {s for s in sources if s is not None}
        removed = [i for i in range(self.count) if i not in kept]
        unpainted = stack.min(axis=0)  # 255 where every style goes
        gone = stack[removed].max(axis=0) if removed else np.zeros_like(unpainted)
        masks = [np.maximum(stack[s], gone) if s is not None else unpainted for s in sources]
        if not masks:
            raise SettingsError("regions", "there must be one mask per style picture")
        return Regions.from_stack(masks)

    def resized(self, width: int, height: int) -> Regions:
        """The same regions over a content picture of width x height: kept exactly when it has the masks' shape
        (at any size: each run scales them), else stretched to its region_size."""
        if abs(self.width * height - self.height * width) <= max(width, height, self.width, self.height):
            return self  # the same shape, within a pixel of rounding
        size = region_size(width, height)
        return Regions.from_stack([scale_mask(m, *size) for m in self.stack()])

    # ---- stored form ----

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height,
                "masks": [base64.b64encode(zlib.compress(m, 6)).decode("ascii") for m in self.masks]}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Regions:
        """Regions read back from a file; every size is checked before anything is decompressed, and a mask
        never inflates past its stated size. Raises SettingsError."""
        if not isinstance(record, Mapping):
            raise SettingsError("regions", "the stored regions are not a record")
        # checked before anything is inflated: the size bounds how much may be
        width, height = _check_size(record.get("width"), record.get("height"))
        masks = record.get("masks")
        if not isinstance(masks, list) or not masks or len(masks) > MAX_MASKS:
            raise SettingsError("regions", f"there must be 1 to {MAX_MASKS} stored masks")
        size = width * height
        decoded = []
        for text in masks:
            if not isinstance(text, str) or len(text) > _MAX_ENCODED:
                raise SettingsError("regions", "a stored mask is not text of a usable length")
            try:
                inflater = zlib.decompressobj()
                data = inflater.decompress(base64.b64decode(text, validate=True), size + 1)
            except (binascii.Error, ValueError, zlib.error):
                raise SettingsError("regions", "a stored mask is damaged") from None
            if len(data) != size or inflater.unconsumed_tail or not inflater.eof:
                raise SettingsError("regions", f"a stored mask is not {width} x {height} pixels")
            decoded.append(data)
        return cls(width=width, height=height, masks=tuple(decoded))


# More style pictures than any run could hold in memory (and so masks); a record with more is damaged or hostile.
MAX_MASKS = 64
# a stored mask's base64 text: zlib never makes data more than a little larger than it was
_MAX_ENCODED = (REGION_MAX_SIDE * REGION_MAX_SIDE + 1024) * 4 // 3 + 16


def _check_size(width: object, height: object) -> tuple[int, int]:
    """(width, height) if they are a mask size, whole numbers from 1 to REGION_MAX_SIDE; else SettingsError."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)):
        raise SettingsError("regions", "the mask size must be whole numbers")
    assert isinstance(width, int) and isinstance(height, int)
    if not (1 <= width <= REGION_MAX_SIDE and 1 <= height <= REGION_MAX_SIDE):
        raise SettingsError("regions", f"masks must be 1 to {REGION_MAX_SIDE} pixels on each side, not "
                            f"{width} x {height}")
    return width, height


def _as_bytes(mask: np.ndarray) -> bytes:
    if mask.dtype != np.uint8:
        mask = np.clip(np.rint(np.nan_to_num(mask.astype(np.float64))), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(mask).tobytes()


def scale_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """An H x W uint8 mask scaled to width x height (smoothly: area-averaged down, bilinear up)."""
    if mask.shape == (height, width):
        return np.asarray(mask, dtype=np.uint8)
    shrink = width <= mask.shape[1] and height <= mask.shape[0]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(np.asarray(mask, dtype=np.uint8), "L").resize((width, height), method))


def mask_from_picture(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """A black-and-white picture (H x W x 3 uint8) as a mask of width x height: white where the style goes,
    black where it does not, grey between (its brightness)."""
    grey = np.asarray(picture, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return scale_mask(np.clip(np.rint(grey), 0, 255).astype(np.uint8), width, height)


def regions_from_pictures(pictures: Sequence[np.ndarray], content_width: int, content_height: int) -> Regions:
    """One black-and-white mask picture per style (any size: each is scaled to the content's shape)."""
    size = region_size(content_width, content_height)
    return Regions.from_stack([mask_from_picture(p, *size) for p in pictures])


def is_grey(picture: np.ndarray, tolerance: int = 8) -> bool:
    """Whether an H x W x 3 picture has no colour (every pixel's channels within `tolerance`)."""
    channels = np.asarray(picture, dtype=np.int16)
    return bool((channels.max(axis=2) - channels.min(axis=2) <= tolerance).all())


def regions_from_colour_coded(picture: np.ndarray, count: int, content_width: int,
                              content_height: int) -> Regions:
    """Regions for `count` styles from one picture: a grey one is a mask for every style (white: the styles go
    there; black: the content stays; grey blends); a coloured one gives each pixel to the nearest of the styles'
    colours (STYLE_COLOURS), black (keep the content) or white (every style)."""
    size = region_size(content_width, content_height)
    if is_grey(picture):
        mask = mask_from_picture(picture, *size)
        return Regions.from_stack([mask] * count)
    rgb = np.asarray(Image.fromarray(np.asarray(picture, dtype=np.uint8)).resize(size, Image.Resampling.NEAREST),
                     dtype=np.float32)
    palette = np.array([EVERY_STYLE_COLOUR, KEEP_COLOUR, *(style_colour(i) for i in range(count))], np.float32)
    distance = ((rgb[:, :, None, :] - palette[None, None, :, :]) ** 2).sum(axis=3)
    nearest = distance.argmin(axis=2)
    masks = [np.where((nearest == 0) | (nearest == 2 + i), FULL, NONE).astype(np.uint8) for i in range(count)]
    return Regions.from_stack(masks)


def colour_coded(regions: Regions) -> np.ndarray:
    """The regions as one H x W x 3 picture (as `regions_from_colour_coded` reads it back): white where every
    style goes, black where the content stays, a style's colour where only that style goes, blends between."""
    stack = regions.stack().astype(np.float32) / FULL
    colours = np.array([style_colour(i) for i in range(regions.count)], np.float32)
    coverage = stack.max(axis=0)
    share = stack / np.maximum(stack.sum(axis=0, keepdims=True), 1e-6)
    mixed = np.tensordot(share, colours, axes=([0], [0]))  # H x W x 3: the styles' colours, by their share
    spread = coverage - stack.min(axis=0)  # 0 where every style goes alike (white), 1 where one alone
    if regions.count == 1:
        spread = np.zeros_like(spread)
    painted = spread[..., None] * mixed + (1 - spread[..., None]) * np.array(EVERY_STYLE_COLOUR, np.float32)
    picture = coverage[..., None] * painted + (1 - coverage[..., None]) * np.array(KEEP_COLOUR, np.float32)
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)
