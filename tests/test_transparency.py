"""A content picture's transparency: set aside when it is read (the run sees it over neutral grey), given back to
every picture shown and saved (exactly at the content's size), kept by WebP and flattened onto white by GIF."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.driver import RenderJob, RunRecord
from engine.export import AnimationOptions, encode_animation, save_png
from engine.images import decode_picture, load_image, load_picture
from engine.settings import RenderSettings
from engine.transparency import NEUTRAL_BACKGROUND, composite, flatten, split_alpha, with_alpha
from tests.pictures import cut_out

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cut_cat_path(tmp_path, cat) -> Path:
    path = tmp_path / "cut_cat.png"
    Image.fromarray(cut_out(cat)).save(path)
    return path


def test_a_content_keeps_its_alpha_aside_over_neutral_grey(cut_cat_path, cat):
    rgb, alpha = load_picture(cut_cat_path)
    rgba = cut_out(cat)
    assert rgb.shape == cat.shape and alpha is not None
    assert np.array_equal(alpha, rgba[..., 3])
    assert (rgb[alpha == 0] == NEUTRAL_BACKGROUND).all()  # what the run sees behind the creature
    assert np.array_equal(rgb[alpha == 255], cat[alpha == 255])
    # a style or mask reader still flattens onto white, as before
    assert (load_image(cut_cat_path)[alpha == 0] == 255).all()
    # the same from bytes (a web drop or a paste)
    rgb2, alpha2 = decode_picture(cut_cat_path.read_bytes(), "cut_cat.png")
    assert np.array_equal(rgb2, rgb) and np.array_equal(alpha2, alpha)


def test_an_opaque_alpha_channel_or_none_gives_no_alpha(tmp_path, cat):
    path = tmp_path / "opaque.png"
    Image.fromarray(np.dstack([cat, np.full(cat.shape[:2], 255, np.uint8)])).save(path)
    rgb, alpha = load_picture(path)
    assert alpha is None and np.array_equal(rgb, cat)
    jpeg = io.BytesIO()
    Image.fromarray(cat).save(jpeg, format="JPEG")
    assert decode_picture(jpeg.getvalue(), "cat.jpg")[1] is None


def test_palette_transparency_is_kept(tmp_path):
    path = tmp_path / "sprite.gif"
    picture = Image.new("P", (20, 10), 1)
    picture.putpalette([0, 0, 0, 200, 50, 50] + [0] * 762)
    picture.paste(0, (0, 0, 10, 10))
    picture.save(path, transparency=0)
    rgb, alpha = load_picture(path)
    assert alpha is not None and (alpha[:, :10] == 0).all() and (alpha[:, 10:] == 255).all()
    assert (rgb[:, 10:] == (200, 50, 50)).all()


def test_the_alpha_comes_back_exactly_at_the_same_size_and_resampled_otherwise(cat):
    rgba = cut_out(cat)
    rgb, alpha = split_alpha(rgba)
    assert alpha is not None
    result = np.zeros_like(rgb)
    back = with_alpha(result, alpha)
    assert back.shape == (*rgb.shape[:2], 4) and np.array_equal(back[..., 3], rgba[..., 3])
    small = with_alpha(result[::2, ::2], alpha)
    assert small.shape[:2] == result[::2, ::2].shape[:2]
    assert np.abs(small[..., 3].astype(int) - rgba[::2, ::2, 3]).mean() < 8
    assert with_alpha(result, None) is result
    assert np.array_equal(flatten(rgb), rgb)
    assert (flatten(back)[rgba[..., 3] == 0] == 255).all()  # onto white
    assert np.array_equal(composite(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])), rgb)


def test_the_record_presents_its_pictures_with_the_alpha_and_keep_colours(cat, wave):
    rgb, alpha = split_alpha(cut_out(cat))
    job = RenderJob(rgb, (wave,), RenderSettings(), "cut.png", ("wave.png",), content_alpha=alpha)
    record = RunRecord(job, max_frames=4)
    picture = np.full_like(rgb, 90)
    shown = record.presented(picture)
    assert shown.shape[2] == 4 and np.array_equal(shown[..., 3], alpha) and (shown[..., :3] == 90).all()
    recoloured = record.presented(picture, keep_colours=True)
    assert np.array_equal(recoloured[..., 3], alpha) and not np.array_equal(recoloured[..., :3], shown[..., :3])
    record.add(1, picture[::2, ::2])
    record.set_latest(picture)
    assert all(frame.shape[2] == 4 for frame in record.gif_images())
    with pytest.raises(ValueError, match="alpha"):
        RenderJob(rgb, (wave,), RenderSettings(), "cut.png", ("wave.png",), content_alpha=alpha[1:])


def test_png_and_webp_keep_the_alpha_gif_flattens_it(tmp_path, cat):
    rgba = cut_out(cat)
    save_png(tmp_path / "cut.png", rgba)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cut.png")), rgba)
    frames = [rgba[::2, ::2], rgba]
    with Image.open(io.BytesIO(encode_animation(frames, "webp", AnimationOptions(frame_count=2)))) as webp:
        webp.seek(webp.n_frames - 1)
        last = np.asarray(webp.convert("RGBA"))
    assert np.abs(last[..., 3].astype(int) - rgba[..., 3]).max() <= 2  # lossy colour, the alpha kept
    with Image.open(io.BytesIO(encode_animation(frames, "gif", AnimationOptions(frame_count=2)))) as gif:
        gif.seek(gif.n_frames - 1)
        assert "transparency" not in gif.info
        corner = np.asarray(gif.convert("RGB"))[0, 0]
    assert (corner > 240).all()  # the transparent corner over white


def test_render_gives_the_result_the_content_alpha_byte_for_byte(tmp_path, cut_cat_path, wave_path):
    out = tmp_path / "out.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "render", str(cut_cat_path), str(wave_path),
                             "-o", str(out), "--size", "128", "--iterations", "3", "--device", "cpu", "-q",
                             "--keep-colours"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    source = np.asarray(Image.open(cut_cat_path))
    written = np.asarray(Image.open(out))
    assert written.shape == source.shape  # 128 x 85, the content's own size: RGBA
    assert np.array_equal(written[..., 3], source[..., 3])
    opaque = source[..., 3] == 255
    assert np.abs(written[..., :3].astype(int) - source[..., :3]).mean() > 5  # the picture is painted ...
    assert written[..., :3][opaque].std() > 10  # ... and is not flat
