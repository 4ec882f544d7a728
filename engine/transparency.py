"""A content picture's transparency, set aside and given back: a creature cut out on a transparent background is
run on a neutral grey background (the network sees no alpha), and the result carries the content's alpha channel
again, exactly when the result has the content's size and resampled when it does not. Pictures with alpha are
H x W x 4 uint8 RGBA (straight, not premultiplied, as PNG and WebP store them); alpha channels are H x W uint8."""

from __future__ import annotations

import numpy as np
from PIL import Image

# What the run sees behind a transparent content: mid-grey, no colour of its own, so neither the content loss nor
# matched colours are pulled towards white or black, and the painting's texture fills it evenly.
NEUTRAL_BACKGROUND = (128, 128, 128)
# What an animation format without alpha (GIF's is one bit, MP4 has none) shows behind a transparent result.
FLAT_BACKGROUND = (255, 255, 255)


def composite(rgba: np.ndarray, background: tuple[int, int, int] = NEUTRAL_BACKGROUND) -> np.ndarray:
    """An H x W x 4 straight-alpha picture over a flat `background`, as H x W x 3 uint8 RGB."""
    colour = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    flat = colour * alpha + np.asarray(background, np.float32) * (1.0 - alpha)
    return np.clip(np.rint(flat), 0, 255).astype(np.uint8)


def split_alpha(rgba: np.ndarray, background: tuple[int, int, int] = NEUTRAL_BACKGROUND
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """An H x W x 4 picture as (its colours over `background`, its alpha channel); the alpha is None when every
    pixel is opaque, so a picture that merely has an alpha channel is treated like one without."""
    alpha = np.ascontiguousarray(rgba[..., 3])
    if bool((alpha == 255).all()):
        return np.ascontiguousarray(rgba[..., :3]), None
    return composite(rgba, background), alpha


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """An alpha channel at (width, height): itself, untouched, at its own size; Lanczos-resampled otherwise."""
    if alpha.shape == (height, width):
        return alpha
    return np.asarray(Image.fromarray(np.ascontiguousarray(alpha, np.uint8), "L").resize(
        (width, height), Image.Resampling.LANCZOS))


def with_alpha(image: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """An H x W x 3 picture with `alpha` (resized to it) as a fourth channel; the picture itself when `alpha` is
    None. The colours are kept as they are, also where the alpha hides them."""
    if alpha is None:
        return image
    height, width = image.shape[:2]
    return np.dstack([image[..., :3], resize_alpha(alpha, width, height)])


def flatten(image: np.ndarray, background: tuple[int, int, int] = FLAT_BACKGROUND) -> np.ndarray:
    """An RGB or RGBA picture as RGB: an RGBA one over `background`, an RGB one as it is."""
    return composite(image, background) if image.ndim == 3 and image.shape[2] == 4 else image
