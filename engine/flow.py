"""Optical flow between consecutive frames of a clip and how far it can be trusted: OpenCV's DIS flow forward and
backward between two content frames, the per-pixel reliability of Ruder, Dosovitskiy & Brox ("Artistic style
transfer for videos", 2016; their consistencyChecker) and the backward warp that carries a stylised frame onto
the next. Flows are H x W x 2 float32 arrays of (dx, dy) in pixels: for each pixel of the frame they belong to,
where that pixel is in the other frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# What the manifest of a clip's work folder records: frames made with another flow are not mixed into one clip.
FLOW_METHOD = "opencv-dis-medium/ruder2016-consistency"

# Ruder et al.'s thresholds (consistencyChecker.cpp), in pixels at the size the flow is computed at:
# a round trip forward and back may miss its start by 1% of the two motions' squared lengths plus half a pixel
# squared; the flow's squared gradient may be 1% of its squared length plus 0.002 before a pixel counts as on a
# motion boundary.
ROUND_TRIP_SHARE = 0.01
ROUND_TRIP_SLACK = 0.5
EDGE_SHARE = 0.01
EDGE_SLACK = 0.002
SMOOTH_SIGMA = 0.8  # the reliability is smoothed by a Gaussian of this sigma (and a radius of 2 sigma, rounded up)


def optical_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The flow from `first` to `second` (H x W x 3 uint8 frames of one size): for each pixel of `first`, (dx, dy)
    to where it is in `second`. DIS (Kroeger et al. 2016) at OpenCV's medium preset: no weights to download, and
    at 512 px a few tens of milliseconds on one core."""
    if first.shape != second.shape:
        raise ValueError(f"frames of {first.shape} and {second.shape}: a flow needs two frames of one size")
    # One OpenCV thread: on a small machine torch's threads do the real work, and OpenCV's own pool would fight
    # them for the cores (the flow is a few percent of a frame's time either way).
    cv2.setNumThreads(1)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = np.zeros((*first.shape[:2], 2), np.float32)  # the output (DIS ignores it as a start unless told)
    return np.ascontiguousarray(dis.calc(_grey(first), _grey(second), flow), dtype=np.float32)


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def _sample(values: np.ndarray, flow: np.ndarray, border: int) -> np.ndarray:
    """`values` (H x W x C float32) bilinearly sampled at each pixel p + flow(p) of a grid of flow's size."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(values, xs + flow[..., 0], ys + flow[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=border)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` carried onto another frame by a backward warp: the result at p is `image` at p + flow(p), sampled
    bilinearly, where `flow` goes from that other frame to `image`'s. The edge is repeated where the flow leaves
    the picture (the reliability is 0 there). uint8 in, uint8 out (rounded); float32 in, float32 out."""
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"an image of {image.shape[:2]} and a flow of {flow.shape[:2]}")
    values = np.ascontiguousarray(image, dtype=np.float32)
    warped = _sample(values, flow, cv2.BORDER_REPLICATE)
    if image.dtype == np.uint8:
        return np.clip(np.rint(warped), 0, 255).astype(np.uint8)
    return warped.astype(np.float32)


def reliability(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """How far each pixel of a frame can trust the flow `backward` (from this frame to the one before), checked
    against `forward` (from the frame before to this one), as H x W float32 in [0, 1]. As Ruder et al.: 0 where
    the two disagree (a disocclusion: what this pixel shows was hidden before), at motion boundaries (where the
    flow changes fast), and where `backward` leaves the frame; 1 elsewhere; then smoothed, with disagreement
    counting as -1 so that the smoothing widens the unreliable area rather than fading it, and the pixels that
    failed the check or left the frame kept at 0."""
    if backward.shape != forward.shape:
        raise ValueError(f"flows of {backward.shape} and {forward.shape}")
    height, width = backward.shape[:2]
    back = np.ascontiguousarray(backward, dtype=np.float32)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    x_before, y_before = xs + back[..., 0], ys + back[..., 1]
    inside = (x_before >= 0) & (x_before <= width - 1) & (y_before >= 0) & (y_before <= height - 1)
    # the forward flow where each pixel was: a round trip back and forth should come home
    there = _sample(np.ascontiguousarray(forward, dtype=np.float32), back, cv2.BORDER_REPLICATE)
    missed = ((back + there) ** 2).sum(axis=2)
    allowed = ROUND_TRIP_SHARE * ((back**2).sum(axis=2) + (there**2).sum(axis=2)) + ROUND_TRIP_SLACK
    consistent = missed < allowed
    # motion boundaries: the flow's squared central-difference gradient, both components, both directions
    gradient = np.zeros((height, width), np.float32)
    for axis in (0, 1):
        step = np.zeros_like(back)
        if back.shape[axis] > 2:
            index = [slice(None)] * 3
            index[axis] = slice(1, -1)
            ahead = [slice(None)] * 3
            ahead[axis] = slice(2, None)
            behind = [slice(None)] * 3
            behind[axis] = slice(None, -2)
            step[tuple(index)] = 0.5 * (back[tuple(ahead)] - back[tuple(behind)])
        gradient += (step**2).sum(axis=2)
    calm = gradient <= EDGE_SHARE * (back**2).sum(axis=2) + EDGE_SLACK
    weights = np.where(consistent, np.where(calm, 1.0, 0.0), -1.0).astype(np.float32)
    weights[~inside] = 0.0
    radius = int(np.ceil(2 * SMOOTH_SIGMA))
    smoothed = cv2.GaussianBlur(weights, (2 * radius + 1, 2 * radius + 1), SMOOTH_SIGMA,
                                borderType=cv2.BORDER_REPLICATE)
    # unlike the reference, a pixel that fails the round trip or whose flow leaves the frame stays at 0 after the
    # smoothing too: the warp has nothing true to give it (the edge repeated, another surface)
    smoothed[~(consistent & inside)] = 0.0
    return np.clip(smoothed, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class FrameMotion:
    """How a frame of a clip moved from the one before: `flow` goes from this frame to the previous one (what a
    backward warp of the previous frame needs), `reliable` says how far each pixel can trust it (0..1)."""

    flow: np.ndarray  # H x W x 2 float32
    reliable: np.ndarray  # H x W float32

    @property
    def reliable_share(self) -> float:
        """The share of the frame the flow holds for (the mean reliability): near 0 at a scene cut."""
        return float(self.reliable.mean())

    def carry(self, image: np.ndarray) -> np.ndarray:
        """The previous frame's `image` (H x W x 3) carried onto this frame."""
        return warp(image, self.flow)


def motion_between(previous: np.ndarray, current: np.ndarray) -> FrameMotion:
    """The motion from the content frame `previous` to `current` (H x W x 3 uint8): the flow both ways and the
    reliability of the backward one."""
    backward = optical_flow(current, previous)
    forward = optical_flow(previous, current)
    return FrameMotion(flow=backward, reliable=reliability(backward, forward))
