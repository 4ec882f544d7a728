"""engine/flow.py: DIS flow on shifts of known size, Ruder et al.'s reliability (occlusion, motion boundaries and the
frame's edge at 0, the rest at 1) and the backward warp."""

from __future__ import annotations

import numpy as np
import pytest

from engine.flow import FrameMotion, motion_between, optical_flow, reliability, warp
from engine.images import resize


@pytest.fixture(scope="module")
def backdrop(cat: np.ndarray) -> np.ndarray:
    """A textured picture larger than the frames cut from it."""
    return resize(cat, 192, 128)


def _sprite_scene(backdrop: np.ndarray, wave: np.ndarray, shift: int, sprite_x: int) -> np.ndarray:
    """A 96 x 64 frame of `backdrop` from column `shift`, with a 24 px square of the wave at column `sprite_x`."""
    frame = backdrop[20:84, shift:shift + 96].copy()
    frame[20:44, sprite_x:sprite_x + 24] = resize(wave, 24, 24)
    return frame


def test_flow_finds_a_known_shift(backdrop):
    first = backdrop[10:74, 10:106]
    second = backdrop[12:76, 13:109]  # the picture moves 3 px left and 2 px up
    flow = optical_flow(first, second)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    interior = flow[8:-8, 8:-8]
    assert np.abs(interior[..., 0] + 3).mean() < 0.25
    assert np.abs(interior[..., 1] + 2).mean() < 0.25


def test_reliability_of_exact_flows_marks_the_edge_disagreement_and_boundaries():
    height, width = 40, 60
    backward = np.zeros((height, width, 2), np.float32)
    backward[..., 0] = 3.0  # each pixel was 3 px to the right in the frame before
    forward = -backward
    plain = reliability(backward, forward)
    assert plain[5:-5, 5:-8].min() == pytest.approx(1.0)
    assert plain[:, -3:].max() == 0.0  # its place in the frame before is outside it
    # a patch where the forward flow disagrees (a disocclusion): unreliable there and, smoothed, around it
    disagreeing = forward.copy()
    disagreeing[10:20, 23:33, 0] = 5.0  # where the patch's pixels came from (x + 3) the round trip misses
    occluded = reliability(backward, disagreeing)
    assert occluded[12:18, 22:28].max() == 0.0
    assert occluded[30:, :40].min() == pytest.approx(1.0)
    # a motion boundary: the backward flow jumps between two halves
    stepped = backward.copy()
    stepped[:, 30:, 0] = -3.0
    stepped_forward = -stepped.copy()
    stepped_forward[:, 27:33, 0] = 0.0  # the forward flow is whatever it is near the step; the step itself is 0
    boundary = reliability(stepped, stepped_forward)
    assert boundary[:, 29:31].max() == 0.0
    assert boundary[5:-5, 10:20].min() == pytest.approx(1.0)


def test_dis_reliability_zeroes_what_a_moving_sprite_uncovers(backdrop, wave):
    before = _sprite_scene(backdrop, wave, shift=40, sprite_x=50)
    after = _sprite_scene(backdrop, wave, shift=42, sprite_x=40)  # the pan goes right, the sprite left
    motion = motion_between(before, after)
    assert isinstance(motion, FrameMotion)
    # the background where the sprite was (and is no longer, after the background moved by 2): disoccluded
    uncovered = motion.reliable[24:40, 50:70]
    assert uncovered.mean() < 0.35
    # plain background, far from the sprite and the edges: reliable
    assert motion.reliable[5:60, 5:25].mean() > 0.9
    assert 0.5 < motion.reliable_share < 0.95
    # carried over, the frame before lands on this one where the flow holds
    carried = motion.carry(before).astype(float)
    error = np.abs(carried - after).mean(axis=2)
    assert (error * motion.reliable).sum() / motion.reliable.sum() < 6.0


def test_warp_is_exact_for_whole_pixels_and_bilinear_between():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    flow = np.zeros((5, 6, 2), np.float32)
    flow[..., 0] = 1.0
    shifted = warp(image, flow)
    assert np.array_equal(shifted[:, :-1], image[:, 1:])
    assert np.array_equal(shifted[:, -1], image[:, -1])  # the edge repeated where the flow leaves the picture
    flow[..., 0] = 0.5
    half = warp(image.astype(np.float32), flow)
    assert np.allclose(half[:, :-1], (image[:, :-1].astype(np.float32) + image[:, 1:]) / 2)
    with pytest.raises(ValueError):
        warp(image, np.zeros((4, 6, 2), np.float32))
