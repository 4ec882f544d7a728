"""Keeping the content's colours: the YCbCr transform is exact and inverts, the output has the result's
luminance and the content's chroma at the result's size, grey stays grey, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from engine.colour import from_ycbcr, keep_colours, to_ycbcr
from engine.images import resize
from tests.pictures import gradient


def _random(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_ycbcr_is_the_jpeg_transform_and_inverts():
    picture = _random(40, 50, 0)
    assert np.array_equal(from_ycbcr(to_ycbcr(picture)), picture)
    white, red = to_ycbcr(np.array([[[255, 255, 255], [255, 0, 0]]], np.uint8))[0]
    np.testing.assert_allclose(white, (255, 128, 128), atol=1e-6)
    np.testing.assert_allclose(red, (76.245, 84.972, 255.5), atol=1e-3)  # JPEG's figures for pure red


def test_the_result_keeps_its_luminance_and_takes_the_content_colours(cat, wave):
    result = resize(wave, 96, 53)  # stands in for a painted result: the wave's strokes, the wave's blues
    out = keep_colours(result, cat)
    assert out.shape == result.shape and out.dtype == np.uint8
    content = resize(cat, 96, 53)
    out_ycc, result_ycc, content_ycc = to_ycbcr(out), to_ycbcr(result), to_ycbcr(content)
    # where nothing clips, the brightness is the result's and the colour the cat's, to within rounding
    luminance_error = np.abs(out_ycc[..., 0] - result_ycc[..., 0])
    chroma_error = np.abs(out_ycc[..., 1:] - content_ycc[..., 1:])
    assert np.median(luminance_error) <= 1.0 and np.median(chroma_error) <= 1.0
    assert np.corrcoef(out_ycc[..., 0].ravel(), result_ycc[..., 0].ravel())[0, 1] > 0.99
    # and it is no longer the wave's colour
    assert np.abs(out_ycc[..., 1:] - result_ycc[..., 1:]).mean() > 5 * np.median(chroma_error) + 1


def test_grey_content_gives_a_grey_picture_with_the_result_brightness():
    result = gradient(64, 48)
    grey = np.repeat(np.linspace(0, 255, 30, dtype=np.uint8)[None, :, None], 20, axis=0).repeat(3, axis=2)
    out = keep_colours(result, grey)
    assert out.shape == result.shape
    assert np.abs(out.astype(int) - out[..., :1].astype(int)).max() <= 1  # R = G = B
    np.testing.assert_allclose(out[..., 0], to_ycbcr(result)[..., 0], atol=1.0)


def test_content_of_another_size_and_shape_is_resized_and_inputs_are_untouched():
    result, content = _random(30, 70, 1), _random(200, 100, 2)
    before = (result.copy(), content.copy())
    out = keep_colours(result, content)
    assert out.shape == (30, 70, 3)
    assert np.array_equal(result, before[0]) and np.array_equal(content, before[1])
    same = keep_colours(result, resize(content, 70, 30))
    assert np.array_equal(out, same)


def test_applying_it_twice_changes_almost_nothing(cat, wave):
    result, content = resize(wave, 64, 36), cat  # (colours out of the RGB cube are clipped, so not exactly)
    once = keep_colours(result, content)
    assert np.abs(keep_colours(once, content).astype(int) - once.astype(int)).mean() < 1.0


@pytest.mark.parametrize("bad", [
    np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32), "picture",
])
def test_bad_pictures_are_refused_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="must be an H x W x 3 uint8 picture"):
        keep_colours(bad, gradient())
    with pytest.raises(ValueError, match="content must be"):
        keep_colours(gradient(), bad)
