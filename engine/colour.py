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


# A floor on the painting's colour variance (in levels², per channel) before its covariance is inverted: a nearly
# flat painting (one ink on white paper) would otherwise have its few noisy levels amplified into blotches. It is a
# small fraction of a typical picture's variance (1000-4000 levels²), so the match is exact where it matters.
MATCH_VARIANCE_FLOOR = 4.0
# Refinements of the map against clipping (see match_colours): 12 bring the mean within 0.4 levels and the
# covariance within 3 % of its largest entry on every pair tried (the rest is the floor above, on the painting's
# flattest colours), where one map alone was off by up to 6.7 levels and 33 %.
MATCH_ROUNDS = 12
# The colours are measured on at most this many pixels of each picture, evenly spread (a 4096 px painting has 16 M):
# 60 ms for a 512 px painting (1.2 s for a 4096 px pair), and the statistics within 0.15 levels and 0.4 % of all
# the pixels'.
MATCH_SAMPLE = 1 << 16


def _colour_statistics(pixels: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The (weighted) mean and 3 x 3 covariance of N x 3 float64 colours."""
    if weights is None:
        mean = pixels.mean(axis=0)
        centred = pixels - mean
        return mean, centred.T @ centred / len(pixels)
    total = weights.sum()
    mean = (weights[:, None] * pixels).sum(axis=0) / total
    centred = pixels - mean
    return mean, (centred * weights[:, None]).T @ centred / total


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """matrix ** power for a symmetric positive semi-definite matrix (its eigenvalues raised, floored at 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    values = np.maximum(values, 0.0)
    if power < 0:
        values = np.maximum(values, 1e-12)
    return (vectors * values**power) @ vectors.T


def match_colours(style: np.ndarray, content: np.ndarray, content_alpha: np.ndarray | None = None) -> np.ndarray:
    """`style` with its colours moved onto `content`'s: an affine map of RGB that gives the painting the content's
    mean colour and colour covariance, keeping its strokes, textures and light and dark (linear colour transfer;
    Gatys et al., "Preserving color in neural artistic style transfer", 2016, the image-analogies variant with
    symmetric matrix square roots: A = C_content^(1/2) C_style^(-1/2), which changes the painting least among the
    maps that match).

    Colours the map pushes past black or white are clipped, which would leave a high-contrast content's mean and
    covariance short (by 6 levels and a quarter on a photo with black space and a white suit). So the map is
    refined MATCH_ROUNDS times against what clipping leaves, until the clipped painting itself matches.

    With `content_alpha` (H x W uint8, the content's own alpha channel), the content's colours are weighted by how
    opaque they are, so a transparent background does not count. Both pictures are H x W x 3 uint8 RGB; the
    painting comes back at its own size."""
    _check("style", style)
    _check("content", content)
    content_pixels = content.reshape(-1, 3)
    step = max(1, len(content_pixels) // MATCH_SAMPLE)  # both pictures' colours are measured on an even sample
    weights = None
    if content_alpha is not None:
        if content_alpha.shape != content.shape[:2]:
            raise ValueError(f"the alpha channel is {content_alpha.shape}, the content {content.shape[:2]}")
        weights = content_alpha.reshape(-1)[::step].astype(np.float64) / 255.0
        if weights.sum() < 1.0:  # a fully transparent content has no colours to give
            return style.copy()
    target_mean, target_cov = _colour_statistics(content_pixels[::step].astype(np.float64), weights)
    target_root = _symmetric_power(target_cov, 0.5)
    pixels = style.reshape(-1, 3)
    # the map is found on a sample of the painting's pixels, then applied to all of them once
    sample = pixels[:: max(1, len(pixels) // MATCH_SAMPLE)].astype(np.float64)
    matrix, offset = np.eye(3), np.zeros(3)  # the map so far: colour -> colour @ matrix.T + offset
    for round_ in range(MATCH_ROUNDS):
        mapped = sample @ matrix.T + offset
        mean, cov = _colour_statistics(np.clip(mapped, 0, 255) if round_ else mapped, None)
        # the floor goes through the map so far too: a flat painting, whose spread is all floor, is not
        # stretched again every round
        floor = MATCH_VARIANCE_FLOOR * matrix @ matrix.T
        transform = target_root @ _symmetric_power(cov + floor, -0.5)
        matrix, offset = transform @ matrix, transform @ (offset - mean) + target_mean
    matched = pixels.astype(np.float32) @ matrix.T.astype(np.float32) + offset.astype(np.float32)
    return np.clip(np.rint(matched), 0, 255).astype(np.uint8).reshape(style.shape)
