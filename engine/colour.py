"""The colours of a picture against another's. Keep colours: a post-process that takes a result's luminance (the
painting's strokes and textures) and the content picture's chroma (its colours), in full-range BT.601 YCbCr as
JPEG uses it (Gatys et al., "Preserving color in neural artistic style transfer", 2016, luminance-only transfer).
It needs no new run, so it can be switched on and off on a finished picture. Match colours: before a run, a
painting's colours moved onto the content's (match_colours), weakened for a flat content rather than flattening
the painting (match_weakening, match_note say so), measured on a sample spread over the picture (sample_grid)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.images import resize
from engine.transparency import NEUTRAL_BACKGROUND

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
# The colours are measured on at most this many pixels of each picture, one in each cell of a grid over its rows
# and columns (sample_grid; a 4096 px painting has 16 M): the statistics stay within 0.4 levels and 0.3 % of all
# the pixels' on every picture in ../shared/images at its own size and at 4096 px, where taking every Nth pixel in
# reading order (16 of a 4096 px astronaut's 4096 columns) was off by 3 levels and 2.5 %.
MATCH_SAMPLE = 1 << 16
# How flat a content may be before the match is weakened (own_colours_kept): the content's colour spread as a
# fraction of the painting's, the square root of the ratio of their total colour variances (the traces of their
# covariances). At or below MATCH_FLAT_SPREAD the painting keeps its own colours; at or above MATCH_FULL_SPREAD it
# is matched fully. Every pair of a content and a painting in tests/data and ../shared/images lies at 0.44 or
# above (the cat, 58 levels of spread, onto the starry night, 133), so ordinary pictures are matched exactly as
# before. At 0.04 (one colour with 2-3 levels of noise) the match would squeeze a painting's 100 levels of spread
# into 4, one colour to the eye; at 0.16 a full match still leaves 16, a picture of low but visible contrast.
MATCH_FLAT_SPREAD = 0.04
MATCH_FULL_SPREAD = 0.16
_SAMPLE_SEED = 20_160_000  # the sample's jitter: fixed, so the same picture always gives the same colours


def sample_grid(height: int, width: int, most: int = MATCH_SAMPLE) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of a height x width picture that its colour statistics are measured on, as (rows, columns): two
    int arrays of the same length, at most `most` long. A picture of at most `most` pixels is taken whole. A larger
    one is cut into a grid of cells about as tall as they are wide (a thin strip: as tall as the picture), as many
    as `most` allows, and one pixel is taken from each cell at a fixed pseudo-random place within it, so the
    sample covers every part of the picture along both axes and a pattern as fine as the cells (stripes, a
    halftone) is not sampled at one phase. Deterministic: the same size gives the same pixels."""
    if height < 1 or width < 1 or most < 1:
        raise ValueError(f"no pixels to sample from a {width} x {height} picture ({most} at most)")
    if height * width <= most:
        rows, columns = np.indices((height, width))
        return rows.ravel(), columns.ravel()
    side = math.sqrt(height * width / most)

    def cells(cell_height: int) -> tuple[int, int, int]:  # (cell height, cell width, how many cells)
        cell_height = min(height, max(cell_height, math.ceil(height / most)))
        cells_down = math.ceil(height / cell_height)
        cell_width = math.ceil(width / max(1, most // cells_down))
        return cell_height, cell_width, cells_down * math.ceil(width / cell_width)

    # the cell height just under and just over square cells: whichever leaves more cells
    cell_height, cell_width, _ = max(cells(max(1, math.floor(side))), cells(math.ceil(side)), key=lambda c: c[2])
    tops = np.arange(0, height, cell_height)[:, None]
    lefts = np.arange(0, width, cell_width)[None, :]
    # each cell's own size (the last row and column of cells may be cut short by the picture's edge)
    tall = np.minimum(cell_height, height - tops)
    wide = np.minimum(cell_width, width - lefts)
    jitter = np.random.default_rng(_SAMPLE_SEED).random((2, tops.size, lefts.size))
    rows = tops + (jitter[0] * tall).astype(np.int64)
    columns = lefts + (jitter[1] * wide).astype(np.int64)
    return rows.ravel(), columns.ravel()


def _sample(image: np.ndarray) -> np.ndarray:
    """sample_grid's pixels of an H x W x C picture, as N x C float64."""
    rows, columns = sample_grid(*image.shape[:2])
    return image[rows, columns].astype(np.float64)


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


def own_colours_kept(spread: float) -> float:
    """How much of its own colours a painting keeps when matched onto a content whose colour spread is `spread`
    times its own (see colour_spread): 1 at or below MATCH_FLAT_SPREAD, 0 (a full match) at or above
    MATCH_FULL_SPREAD, and between them a smoothstep, so the result never jumps as a content grows flatter.

    Why: the match gives the painting the content's colour covariance, so it scales the painting's colour spread
    by `spread`. Onto a one-colour content (a 1x1 picture, a flat background, a cut-out whose opaque part is one
    colour) that maps the whole painting to one colour, its strokes gone. So as the content's spread vanishes the
    target moves from the content's colours to the painting's own (mean and covariance both, blended by this
    share): at 1 the painting is left as it is. Ordinary photos and paintings are far above MATCH_FULL_SPREAD and
    are matched exactly as before."""
    t = min(1.0, max(0.0, (spread - MATCH_FLAT_SPREAD) / (MATCH_FULL_SPREAD - MATCH_FLAT_SPREAD)))
    return 1.0 - t * t * (3.0 - 2.0 * t)


def _content_statistics(content: np.ndarray,
                        content_alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The content's mean colour and covariance on its sample; None when (the sample of) it is fully transparent.
    With an alpha channel, each partly transparent pixel's own colour is recovered from the neutral grey it was
    laid over (engine.transparency), so a soft edge does not count as grey, and is weighted by its opacity squared:
    how sure that colour is (its rounding error grows as 1 / opacity), and nothing from the background."""
    rows, columns = sample_grid(*content.shape[:2])
    pixels = content[rows, columns].astype(np.float64)
    if content_alpha is None:
        return _colour_statistics(pixels, None)
    if not isinstance(content_alpha, np.ndarray) or content_alpha.shape != content.shape[:2]:
        shape = getattr(content_alpha, "shape", type(content_alpha).__name__)
        raise ValueError(f"the alpha channel is {shape}, the content {content.shape[:2]}")
    opacity = content_alpha[rows, columns].astype(np.float64) / 255.0
    if opacity.sum() < 1.0:  # a fully transparent content has no colours to give
        return None
    seen = opacity > 0
    pixels, opacity = pixels[seen], opacity[seen]
    grey = np.asarray(NEUTRAL_BACKGROUND, np.float64)
    pixels = np.clip(grey + (pixels - grey) / opacity[:, None], 0.0, 255.0)
    return _colour_statistics(pixels, opacity**2)


def _spread(content_cov: np.ndarray, style_cov: np.ndarray) -> float:
    """The content's colour spread as a fraction of the painting's: the root of their total variances' ratio (the
    painting's floored, so a flat painting does not divide by zero)."""
    painting = float(np.trace(style_cov)) + 3 * MATCH_VARIANCE_FLOOR
    return math.sqrt(max(0.0, float(np.trace(content_cov))) / painting)


def colour_spread(style: np.ndarray, content: np.ndarray, content_alpha: np.ndarray | None = None) -> float | None:
    """The content's colour spread (its opaque part's, with `content_alpha`) as a fraction of the painting's, as
    match_colours measures it: 0 for a one-colour content, 0.4 and more for ordinary photos against paintings;
    None when the content has no opaque pixel. Pictures as for match_colours."""
    _check("style", style)
    _check("content", content)
    statistics = _content_statistics(content, content_alpha)
    if statistics is None:
        return None
    return _spread(statistics[1], _colour_statistics(_sample(style), None)[1])


def match_weakening(style: np.ndarray, content: np.ndarray, content_alpha: np.ndarray | None = None) -> float:
    """How much of its own colours `style` keeps when match_colours moves it onto `content`'s: 0 for an ordinary
    content (a full match), up to 1 (left as it is) for a flat one or one with no opaque pixel."""
    spread = colour_spread(style, content, content_alpha)
    return 1.0 if spread is None else own_colours_kept(spread)


def match_note(content_name: str, styles: Sequence[np.ndarray], content: np.ndarray,
               content_alpha: np.ndarray | None = None) -> str | None:
    """What to tell the user before a run with Match colours onto a content too flat to match fully: one line
    naming the content, saying why and how much of their own colours the paintings keep (the most any keeps).
    None when every painting is matched fully, as it is onto any ordinary content. Pictures as for match_colours."""
    if not styles:
        return None
    one = len(styles) == 1
    paintings, its = ("the painting", "its") if one else ("the paintings", "their")
    spreads = [colour_spread(style, content, content_alpha) for style in styles]
    if any(spread is None for spread in spreads):
        return f"Match colours: {content_name} has no opaque pixels, so {paintings} keep{'s' if one else ''} " \
               f"{its} own colours."
    measured = [spread for spread in spreads if spread is not None]
    kept = max(own_colours_kept(spread) for spread in measured)
    if kept <= 0.0:
        return None
    cut_out = content_alpha is not None and bool((content_alpha < 255).any())
    where = f"the opaque part of {content_name}" if cut_out else content_name
    least = round(min(measured) * 100)
    what = "is one colour" if least == 0 else f"is nearly one colour (its colour spread {least} % of the painting's)"
    keeps = "keeps" if one else "keep up to"
    return (f"Match colours: {where} {what}, so {paintings} {keeps} {round(kept * 100)} % of {its} own colours "
            f"rather than being flattened to one colour.")


def match_colours(style: np.ndarray, content: np.ndarray, content_alpha: np.ndarray | None = None) -> np.ndarray:
    """`style` with its colours moved onto `content`'s: an affine map of RGB that gives the painting the content's
    mean colour and colour covariance, keeping its strokes, textures and light and dark (linear colour transfer;
    Gatys et al., "Preserving color in neural artistic style transfer", 2016, the image-analogies variant with
    symmetric matrix square roots: A = C_content^(1/2) C_style^(-1/2), which changes the painting least among the
    maps that match).

    Colours the map pushes past black or white are clipped, which would leave a high-contrast content's mean and
    covariance short (by 6 levels and a quarter on a photo with black space and a white suit). So the map is
    refined MATCH_ROUNDS times against what clipping leaves, until the clipped painting itself matches.

    A flat or nearly flat content (one colour, a 1x1 picture) would map the painting to one colour: as its colour
    spread vanishes the target is blended towards the painting's own mean and covariance (own_colours_kept says
    how far; match_weakening and match_note tell it), and at the flattest the painting comes back unchanged.

    With `content_alpha` (H x W uint8, the content's own alpha channel; `content` is then the picture over
    engine.transparency's NEUTRAL_BACKGROUND, as split_alpha gives it), only the content's own colours count: a
    transparent background not at all, a soft edge's pixels with their own colours (recovered from the grey they
    were laid over) weighted by their opacity squared (nothing opaque: the painting is unchanged). Both pictures
    are H x W x 3 uint8 RGB, their colours measured on sample_grid's pixels; the painting comes back at its own
    size."""
    _check("style", style)
    _check("content", content)
    statistics = _content_statistics(content, content_alpha)
    if statistics is None:
        return style.copy()
    sample = _sample(style)  # the map is found on a sample of the painting's pixels, then applied to all of them
    style_mean, style_cov = _colour_statistics(sample, None)
    kept = own_colours_kept(_spread(statistics[1], style_cov))
    if kept >= 1.0:
        return style.copy()
    target_mean = (1 - kept) * statistics[0] + kept * style_mean
    target_root = _symmetric_power((1 - kept) * statistics[1] + kept * style_cov, 0.5)
    matrix, offset = np.eye(3), np.zeros(3)  # the map so far: colour -> colour @ matrix.T + offset
    for round_ in range(MATCH_ROUNDS):
        mapped = sample @ matrix.T + offset
        mean, cov = _colour_statistics(np.clip(mapped, 0, 255) if round_ else mapped, None)
        # the floor goes through the map so far too: a flat painting, whose spread is all floor, is not
        # stretched again every round
        floor = MATCH_VARIANCE_FLOOR * matrix @ matrix.T
        transform = target_root @ _symmetric_power(cov + floor, -0.5)
        matrix, offset = transform @ matrix, transform @ (offset - mean) + target_mean
    pixels = style.reshape(-1, 3)
    matched = pixels.astype(np.float32) @ matrix.T.astype(np.float32) + offset.astype(np.float32)
    return np.clip(np.rint(matched), 0, 255).astype(np.uint8).reshape(style.shape)
