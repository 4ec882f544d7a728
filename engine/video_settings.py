"""VideoSettings: what rendering a clip adds to a picture's RenderSettings (how steady the frames are held, the frame
rate, the part of the clip), with its one set of defaults and ranges, shared by the command line and the window."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import SettingsError

# The weight of the temporal loss relative to the style loss (engine.losses.TEMPORAL_SCALE makes 1 the default).
# Measured with bench/bench_video.py on its synthetic pan (a photo panned 2 px a frame with a sprite moving the
# other way over it: true flow and occlusion known), 128 x 84 px, 5 frames, L-BFGS, fp32, 2 shared CPU cores.
# Against the same frames rendered one by one (E_warp 0.0160, style loss 0.120):
#   steadiness 0.1: E_warp 0.05x, style loss 1.01x, a later frame 64 iterations
#   steadiness 0.3: 0.04x, 1.01x, 51 iterations
#   steadiness 1:   0.03x, 1.02x, 41 iterations (0.15x the first frame's time)
#   steadiness 3:   0.03x, 1.04x, 34 iterations
# and at 64 x 42 px, 6 frames (one by one: E_warp 0.0106): steadiness 0 (the warm start alone) 0.36x, style 1.01x,
# 125 iterations a later frame; steadiness 1: 0.12x, 1.06x, 54 iterations.
# The warm start alone falls short of 0.3x; the temporal loss holds what it starts from, and more of it ends a frame
# sooner. Past 1 the warping error hardly falls while the style starts to weaken: 1 is the default.
DEFAULT_STEADINESS = 1.0
STEADINESS_MAX = 100.0
FPS_MIN, FPS_MAX = 1.0, 120.0
MAX_CLIP_SECONDS = 24 * 3600.0  # --start and --duration beyond a day are typing mistakes


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is rendered beyond each frame's RenderSettings."""

    steadiness: float = DEFAULT_STEADINESS  # 0: every frame on its own (still warm-started); more: steadier
    fps: float | None = None  # the frame rate rendered (None: the clip's own)
    start: float = 0.0  # seconds into the clip where the render starts
    duration: float | None = None  # seconds rendered from `start` (None: to the end)

    def __post_init__(self) -> None:
        problems = []

        def finite(name: str, value: Any, low: float, high: float) -> None:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not low <= value <= high:
                problems.append(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")

        finite("steadiness", self.steadiness, 0.0, STEADINESS_MAX)
        if self.fps is not None:
            finite("fps", self.fps, FPS_MIN, FPS_MAX)
        finite("start", self.start, 0.0, MAX_CLIP_SECONDS)
        if self.duration is not None:
            finite("duration", self.duration, 0.001, MAX_CLIP_SECONDS)
        if problems:
            raise SettingsError("video settings", "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
