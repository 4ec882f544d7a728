"""Keep the content's colours: a post-process that takes a result's luminance (the painting's strokes and
textures) and the content picture's chroma (its colours), in full-range BT.601 YCbCr as JPEG uses it (Gatys et
al., "Preserving color in neural artistic style transfer", 2016, luminance-only transfer). It needs no new run,
so it can be switched on and off on a finished picture."""

from __future__ import annotations

import numpy as np

from engine.images import resize

# RGB -> YCbCr (full range, JPEG / BT.601): rows give Y, Cb, Cr; Cb and Cr are centred on 128.
_TO_YCBCR = np.array([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def to_ycbcr(image: np.ndarray) -> np.ndarray:
    """An H x W x 3 uint8 RGB picture as H x W x 3 float64 YCbCr (Y in 0..255, Cb and Cr centred on 128)."""
    return image.astype(np.float64) @ _TO_YCBCR.T + _CHROMA_OFFSET


def from_ycbcr(ycbcr: np.ndarray) -> np.ndarray:
    """H x W x 3 YCbCr (as to_ycbcr gives) back to H x W x 3 uint8 RGB, rounded and clipped to 0..255."""
    rgb = (ycbcr - _CHROMA_OFFSET) @ _FROM_YCBCR.T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _check(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        what = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be an H x W x 3 uint8 picture, not a {what}")


def keep_colours(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """`result`'s luminance with `content`'s colours, at `result`'s size (the content is resized to it). Both are
    H x W x 3 uint8 RGB; so is what comes back. A grey content gives a grey picture."""
    _check("result", result)
    _check("content", content)
    height, width = result.shape[:2]
    content = resize(content, width, height)
    mixed = to_ycbcr(content)
    mixed[..., 0] = to_ycbcr(result)[..., 0]
    return from_ycbcr(mixed)
