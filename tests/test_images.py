"""Opening what users drop: odd but valid pictures become RGB uint8; broken ones give an ImageError that names
the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ImageError
from engine.images import decode_image, fit_size, load_image, resize_longest
from tests.pictures import write_broken, write_valid


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return write_valid(tmp_path_factory.mktemp("valid"))


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return write_broken(tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("name", [
    "rgba.png", "la.png", "palette.png", "palette_transparent.gif", "gray.png", "gray16.png", "cmyk.jpg",
    "bilevel.png", "exif_rotated.jpg", "animated.gif", "animated.webp", "tiny.png", "strip.png", "float.tif",
])
def test_valid_pictures_open_as_rgb(valid, name):
    image = load_image(valid[name])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.flags["C_CONTIGUOUS"]


def test_transparency_is_composited_onto_white(valid):
    assert (load_image(valid["rgba.png"]) == 255).all()


def test_exif_orientation_is_honoured(valid):
    assert load_image(valid["exif_rotated.jpg"]).shape[:2] == (40, 30)  # stored 40 wide, 30 high, rotated


def test_sixteen_bit_is_scaled_not_clipped(valid):
    gray = load_image(valid["gray16.png"])
    assert gray.max() > 200 and gray.min() < 50


def test_animation_gives_the_first_frame(valid):
    for name in ("animated.gif", "animated.webp"):
        image = load_image(valid[name]).astype(int)
        assert image[..., 0].mean() > 200 and image[..., 1].mean() < 60, name


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"),
    ("not_an_image", "not an image"),
    ("empty", "empty"),
    ("truncated", "truncated"),
    ("folder", "folder"),
    ("bomb", "megapixel"),
])
def test_broken_files_are_refused_with_the_file_and_the_reason(broken, case, words):
    with pytest.raises(ImageError) as error:
        load_image(broken[case])
    assert error.value.path == str(broken[case])
    assert words in error.value.reason
    assert str(error.value).startswith(str(broken[case]) + ": ")


def test_decode_names_the_source_in_errors():
    with pytest.raises(ImageError, match="^clipboard: "):
        decode_image(b"\x89PNG not really", "clipboard")


def test_fit_size_keeps_aspect_and_minimum():
    assert fit_size(451, 300, 512) == (512, 341)
    assert fit_size(300, 451, 512) == (341, 512)
    assert fit_size(2000, 7, 512) == (512, 32)  # a thin strip is stretched to the network's minimum
    assert resize_longest(np.zeros((3, 2, 3), np.uint8), 64).shape == (64, 43, 3)
