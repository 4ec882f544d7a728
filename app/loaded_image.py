"""LoadedImage: a picture the user gave Fude (the content or one painting), as the panes load it and the session
holds it: the pixels, the name shown and stored in results, the file it came from, and (a clip dropped on the
Content pane) the clip whose first frame it is. No Qt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.names import clean_name
from engine.transparency import with_alpha
from engine.video_io import ClipInfo


@dataclass(frozen=True)
class LoadedImage:
    """A picture in a pane: the pixels, the name shown and stored in results, and the file it came from."""

    array: np.ndarray  # H x W x 3 uint8 (a transparent picture's over engine.transparency's neutral grey)
    name: str  # cleaned for showing (one line, bounded): it may come from a hostile file name or link
    path: str | None = None
    alpha: np.ndarray | None = None  # H x W uint8, set aside (None: opaque); a content's comes back in the result
    clip: ClipInfo | None = None  # the clip this picture is the first frame of (None: a picture)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_name(self.name))
        if self.alpha is not None and self.alpha.shape != self.array.shape[:2]:
            raise ValueError(f"an alpha channel of {self.alpha.shape} for a picture of {self.array.shape[:2]}")

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def shown(self) -> np.ndarray:
        """The picture as it is shown: H x W x 4 RGBA with its alpha channel when it has one, else `array`."""
        return with_alpha(self.array, self.alpha)

    def describe(self) -> str:
        transparent = " · with transparency" if self.alpha is not None else ""
        clip = f" · {describe_clip(self.clip)}" if self.clip is not None else ""
        return f"{self.name} · {self.width} × {self.height}{transparent}{clip}"


def describe_clip(clip: ClipInfo) -> str:
    """A clip's length in a few words: "clip, 2.0 s, 50 frames" ("clip, length unknown" when it does not say)."""
    frames = clip.frame_count(clip.fps)
    if clip.duration is None or frames is None:
        return "clip, length unknown"
    return f"clip, {clip.duration:.1f} s, {frames} frame{'' if frames == 1 else 's'}"
