"""How the benchmarks judge a finished picture apart from the objective Fude minimises: its likeness to the
content (the content's edges found in the picture, at a thumbnail's size, so that where the strokes lie does not
count), and 100% crops of several results side by side for a person to look at."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

LIKENESS_SIDE = 128  # the thumbnail the edges are compared at: the shapes, not the strokes
CROP_SIDE = 192  # px of each 100% crop


def _edges(image: torch.Tensor, side: int) -> torch.Tensor:
    """The Sobel edge strength of `image`'s (1 x 3 x H x W in [0, 1]) luminance, area-scaled to `side` px."""
    image = image.detach().float().clamp(0, 1)
    height, width = image.shape[-2:]
    scale = side / max(height, width)
    if scale < 1:
        image = F.interpolate(image, size=(max(1, round(height * scale)), max(1, round(width * scale))), mode="area")
    grey = (0.299 * image[:, 0] + 0.587 * image[:, 1] + 0.114 * image[:, 2])[:, None]
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    across, down = F.conv2d(padded, sobel), F.conv2d(padded, sobel.transpose(2, 3))
    return (across**2 + down**2).sqrt().flatten()


def likeness(picture: torch.Tensor, content: torch.Tensor, side: int = LIKENESS_SIDE) -> float:
    """How much of the content's shape the picture keeps: the correlation (-1..1) of their edge strengths at
    `side` px. The content itself scores 1, a picture with none of its shapes about 0."""
    ours, theirs = _edges(picture.cpu(), side), _edges(content.cpu(), side)
    ours, theirs = ours - ours.mean(), theirs - theirs.mean()
    return float((ours * theirs).sum() / (ours.norm() * theirs.norm()).clamp_min(1e-12))


def busiest_corner(image: np.ndarray, side: int = CROP_SIDE) -> tuple[int, int]:
    """(top, left) of the `side` px square of `image` (H x W x 3 uint8) with the most fine detail, on a grid of
    half-squares: where a loss of detail would show first."""
    grey = image.astype(np.float32).mean(axis=2)
    detail = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    height, width = grey.shape
    best, corner = -1.0, (0, 0)
    for top in range(0, max(1, height - side + 1), max(1, side // 2)):
        for left in range(0, max(1, width - side + 1), max(1, side // 2)):
            score = float(detail[top:top + side, left:left + side].mean())
            if score > best:
                best, corner = score, (top, left)
    return corner


def crops_side_by_side(pictures: list[np.ndarray], labels: list[str], corner: tuple[int, int],
                       side: int = CROP_SIDE) -> np.ndarray:
    """The same `side` px square at `corner` of each picture (all the same size), at 100%, side by side with a
    label above each."""
    from PIL import Image, ImageDraw

    top, left = corner
    height, width = (min(side, extent - start) for extent, start in zip(pictures[0].shape[:2], corner))
    gap, band = 8, 16
    sheet = Image.new("RGB", (len(pictures) * (width + gap) - gap, height + band), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (picture, label) in enumerate(zip(pictures, labels)):
        crop = picture[top:top + height, left:left + width]
        sheet.paste(Image.fromarray(np.ascontiguousarray(crop)), (k * (width + gap), band))
        draw.text((k * (width + gap) + 2, 2), label, fill="black")
    return np.asarray(sheet)
