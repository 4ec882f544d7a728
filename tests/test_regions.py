"""Regions (engine/regions.py and the guided losses in engine/losses.py and engine/run.py), on the real network
and the real test pictures: a style on half the picture leaves the other half the content picture with no wide
seam; two styles on two halves each make their half nearer their own style; a grey mask blends; the masks go in
and out of a PNG exactly and hostile stored masks are refused; and the command line takes --mask."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import SettingsError
from engine.export import read_png_render, save_png
from engine.losses import STYLE_LAYERS, gram, guided_gram
from engine.regions import (
    REGION_MAX_SIDE,
    Regions,
    colour_coded,
    feather_sigma,
    region_size,
    regions_from_colour_coded,
    regions_from_pictures,
)
from engine.run import StyleRun, to_tensor
from engine.settings import RenderSettings, describe_changes, parse_png_text, png_text_chunks
from tests.test_styles import fude, stripes


def halves(width: int, height: int, count: int = 1) -> Regions:
    """Style 0 on the right half; with two styles, style 1 on the left half."""
    right = np.zeros((height, width), np.uint8)
    right[:, width // 2:] = 255
    return Regions.from_stack([right, 255 - right][:count])


def _run(content: np.ndarray, styles: list[np.ndarray], backend, **changes) -> StyleRun:
    settings = RenderSettings(size=128, iterations=40, device="cpu", precision="fp32", multiscale=False,
                              ).replaced(**changes)
    run = StyleRun(content, styles, settings, backend)
    for _ in run:
        pass
    return run


def _gram_distance(image: np.ndarray, style: np.ndarray, backend) -> float:
    """How far `image`'s style statistics are from `style`'s (relative squared Gram error, summed over layers)."""
    with torch.no_grad():
        a = backend.network(to_tensor(image, torch.device("cpu")), STYLE_LAYERS)
        b = backend.network(to_tensor(style, torch.device("cpu")), STYLE_LAYERS)
    return sum(float((gram(a[n]) - gram(b[n])).pow(2).mean() / gram(b[n]).pow(2).mean()) for n in STYLE_LAYERS)


def _content_at(run: StyleRun) -> np.ndarray:
    from engine.run import to_uint8

    return to_uint8(run.content[0])


# ---- the value ----

def test_regions_go_through_a_png_and_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 256, (37, 53), dtype=np.uint8), np.full((37, 53), 128, np.uint8)]
    regions = Regions.from_stack(masks)
    settings = RenderSettings(size=96, iterations=50, regions=regions)
    path = tmp_path / "result.png"
    save_png(path, np.zeros((20, 30, 3), np.uint8), png_text_chunks(settings, "cat.png", ["a.png", "b.png"]))
    stored = read_png_render(path)
    assert stored is not None and stored.settings == settings
    assert stored.settings.regions is not None
    assert np.array_equal(stored.settings.regions.stack(), np.stack(masks))
    assert "regions" in png_text_chunks(settings, "cat.png", ["a.png", "b.png"])["Description"]


def test_regions_survive_the_recovery_copy_and_the_history(tmp_path):
    from engine.history import HistoryStore
    from engine.recovery import RecoveryStore

    regions = halves(40, 30, count=2)
    settings = RenderSettings(size=96, iterations=50, regions=regions)
    picture = np.full((30, 40, 3), 9, np.uint8)
    store = RecoveryStore(tmp_path / "recovery", interval_s=0.0)
    session = store.begin(picture, [picture, picture], "cat.png", ["a.png", "b.png"])
    assert session.save(picture, settings, 7, 50, force=True)
    assert store.latest().settings.regions == regions
    history = HistoryStore(tmp_path / "history")
    history.add(picture, png_text_chunks(settings, "cat.png", ["a.png", "b.png"]), finished=True)
    assert history.entries()[0].stored.settings.regions == regions
    assert HistoryStore(tmp_path / "history").entries()[0].stored.settings.regions == regions  # from the index


def _record_with(regions: object) -> dict[str, str]:
    record = {**RenderSettings().to_dict(), "regions": regions}
    return {"fude:settings": json.dumps(record)}


def _encoded(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data)).decode()


@pytest.mark.parametrize("regions, words", [
    ("masks", "not a record"),
    ({"width": 4, "height": 4, "masks": ["%%%"]}, "damaged"),
    ({"width": 4, "height": 4, "masks": [_encoded(bytes(15))]}, "not 4 x 4"),
    ({"width": 4, "height": 4, "masks": [_encoded(bytes(17))]}, "not 4 x 4"),
    # a zip bomb: 4 x 4 stated, 100 MB inside; never inflated past 17 bytes
    ({"width": 4, "height": 4, "masks": [_encoded(bytes(100_000_000))]}, "not 4 x 4"),
    ({"width": 0, "height": 4, "masks": []}, "1 to"),
    ({"width": REGION_MAX_SIDE + 1, "height": 4, "masks": [_encoded(bytes(4 * (REGION_MAX_SIDE + 1)))]}, "1 to"),
    ({"width": 4.5, "height": 4, "masks": []}, "whole numbers"),
    ({"width": True, "height": 4, "masks": []}, "whole numbers"),
    ({"width": 4, "height": 4, "masks": []}, "1 to 64 stored masks"),
    ({"width": 4, "height": 4, "masks": [_encoded(bytes(16))] * 65}, "1 to 64 stored masks"),
    ({"width": 4, "height": 4, "masks": [7]}, "not text"),
])
def test_hostile_stored_regions_are_refused_with_the_reason(regions, words):
    with pytest.raises(SettingsError) as caught:
        parse_png_text(_record_with(regions), "drop.png")
    assert "drop.png" in str(caught.value) and words in str(caught.value), str(caught.value)


def test_masks_must_match_the_styles_and_let_some_style_in():
    regions = halves(8, 8)
    settings = RenderSettings(regions=regions)
    with pytest.raises(SettingsError, match="1 mask was given for 2 style pictures"):
        settings.regions_for(2)
    with pytest.raises(SettingsError, match="every mask is black"):
        RenderSettings(regions=Regions.from_stack([np.zeros((8, 8), np.uint8)])).regions_for(1)
    assert settings.regions_for(1) == regions
    # every style everywhere is the same as no regions: the run takes the plain (faster) way
    assert RenderSettings(regions=Regions.everywhere(2, 8, 8)).regions_for(2) is None
    assert describe_changes(RenderSettings(), settings) == [f"none → {regions.describe()}"]


def test_remapping_follows_the_style_pictures():
    left_right = halves(8, 2, count=2)  # style 0 right, style 1 left
    swapped = left_right.remapped([1, 0])
    assert np.array_equal(swapped.stack(), left_right.stack()[::-1])
    # a removed picture's region goes to the pictures left, never to the content
    alone = left_right.remapped([0])
    assert alone.count == 1 and alone.mask(0).min() == 255
    # a new picture goes where the picture is unpainted (every style there); here nowhere
    added = left_right.remapped([0, 1, None])
    assert added.count == 3 and added.mask(2).max() == 0
    everywhere = Regions.everywhere(1, 4, 4).remapped([0, None])
    assert everywhere.is_everywhere


def test_mask_pictures_are_scaled_to_the_content_and_colour_coding_reads_back():
    picture = np.zeros((10, 20, 3), np.uint8)
    picture[:, 10:] = 255
    regions = regions_from_pictures([picture], content_width=2000, content_height=1000)
    assert (regions.width, regions.height) == region_size(2000, 1000) == (REGION_MAX_SIDE, REGION_MAX_SIDE // 2)
    assert regions.mask(0)[:, : REGION_MAX_SIDE // 2 - 60].max() == 0
    assert regions.mask(0)[:, REGION_MAX_SIDE // 2 + 60:].min() == 255
    three = Regions.from_stack([np.array([[255, 0, 255, 0]], np.uint8), np.array([[0, 255, 255, 0]], np.uint8)])
    again = regions_from_colour_coded(colour_coded(three), 2, 4, 1)
    assert again == three


# ---- the run ----

def test_one_style_on_half_the_picture_leaves_the_other_half_the_content(cat, wave, backend):
    width, height = 128, 85
    run = _run(cat, [wave], backend, regions=halves(width, height))
    result, content = run.result().astype(int), _content_at(run).astype(int)
    difference = np.abs(result - content).mean(axis=(0, 2))  # per column
    band = int(np.ceil(3 * feather_sigma(width, height))) + 1  # where the edge is softened
    kept = difference[: width // 2 - band]
    assert kept.max() <= 0.5, kept.max()  # the photo itself (rounding at most)
    painted = difference[width // 2 + band:]
    assert painted.mean() > 20, painted.mean()  # the painted half is the painting's
    # ... right up to the edge: no column past the softened edge is left half painted
    level = float(np.median(painted))
    assert painted.min() > level / 2, (painted.min(), level)
    # and the seam, the columns neither the photo nor the painting, is no wider than the feather: at this size a
    # Gaussian of 1 px, whose rise from 10 to 90 % takes 2.6 px
    seam = np.flatnonzero((difference > 2) & (difference <= level / 2))
    assert seam.size <= 3 and (np.abs(seam - width // 2) <= band).all(), (seam, difference[seam])


def test_two_styles_on_two_halves_each_make_their_half_their_own(cat, wave, backend):
    stripe = stripes(96, 96)
    run = _run(cat, [wave, stripe], backend, regions=halves(128, 85, count=2), lam=0.01)
    result = run.result()
    margin = 8
    right, left = result[:, 64 + margin:], result[:, : 64 - margin]
    assert _gram_distance(right, wave, backend) < _gram_distance(right, stripe, backend)
    assert _gram_distance(left, stripe, backend) < _gram_distance(left, wave, backend)


def test_a_grey_mask_blends_the_painting_with_the_photo(cat, wave, backend):
    full = _run(cat, [wave], backend, regions=None).result()
    half = _run(cat, [wave], backend, regions=Regions.from_stack([np.full((85, 128), 128, np.uint8)]))
    content = _content_at(half)
    blended = half.result()
    to_photo = lambda image: np.abs(image.astype(int) - content.astype(int)).mean()  # noqa: E731
    assert 0.3 * to_photo(full) < to_photo(blended) < 0.7 * to_photo(full), (to_photo(full), to_photo(blended))
    assert (_gram_distance(full, wave, backend) < _gram_distance(blended, wave, backend)
            < _gram_distance(content, wave, backend))


@pytest.mark.parametrize("changes", [dict(optimizer="adam", iterations=6),
                                     dict(multiscale=True, size=256, iterations=4),  # 128 px, then 256 px
                                     dict(init="content", iterations=4)])
def test_regions_work_with_every_optimiser_scale_and_start(cat, wave, backend, changes):
    run = _run(cat, [wave], backend, regions=halves(128, 85), **changes)
    assert all(run.scale_iterations) and len(run.scale_iterations) == (2 if changes.get("multiscale") else 1)
    result, content = run.result().astype(int), _content_at(run).astype(int)
    width = result.shape[1]
    assert width == changes.get("size", 128)
    assert np.abs(result - content)[:, : width * 50 // 128].max() <= 1  # the left half is still the photo
    assert np.abs(result - content)[:, width * 78 // 128:].mean() > 1.5  # and the right half was painted
    assert np.isfinite(run.last_losses["total"].item())


def test_painting_mid_run_takes_effect_at_the_next_iteration(cat, wave, backend):
    settings = RenderSettings(size=96, iterations=12, device="cpu", precision="fp32", multiscale=False)
    run = StyleRun(cat, wave, settings, backend)
    for _ in range(6):
        run.step()
    left_before = run.result()[:, :30].astype(int)
    keep_left = Regions.from_stack([np.where(np.arange(128) < 64, 0, 255).astype(np.uint8)[None].repeat(85, 0)])
    run.set_regions(keep_left)
    assert run.regions == keep_left
    run.step()
    content = _content_at(run).astype(int)
    assert np.abs(left_before - content[:, :30]).mean() > 10  # it was painted ...
    assert np.abs(run.result()[:, :30].astype(int) - content[:, :30]).max() <= 1  # ... and is the photo again
    with pytest.raises(ValueError, match="2 masks were given for 1 style"):
        run.set_regions(halves(128, 85, count=2))
    run.set_regions(None)
    run.step()
    assert run.regions is None


def test_guided_gram_over_everything_is_the_gram_and_its_gradient_is_right():
    torch.manual_seed(0)
    features = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    everywhere = guided_gram(features, torch.ones(5, 6, dtype=torch.float64))
    assert torch.allclose(everywhere, gram(features), rtol=1e-12, atol=1e-12)  # fp64 stays fp64
    guide = torch.rand(5, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: guided_gram(f, guide), (features,))


# ---- the command line ----

def _mask(path: Path, right: bool) -> str:
    picture = np.zeros((30, 40), np.uint8)
    picture[:, 20:] = 255
    Image.fromarray(picture if right else 255 - picture).save(path)
    return str(path)


def test_cli_renders_with_a_mask_and_stores_it(tmp_path, cat_path, wave_path):
    mask = _mask(tmp_path / "right.png", right=True)
    result = fude("render", str(cat_path), str(wave_path), "--mask", mask, "--size", "64", "--iterations", "3",
                  "--device", "cpu", "-q", "-o", "out.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stored = read_png_render(tmp_path / "out.png")
    assert stored is not None and stored.settings.regions is not None
    assert stored.settings.regions.mask(0)[:, :50].max() == 0  # the 40 px mask, scaled to the 128 px cat


@pytest.mark.parametrize("masks, words", [
    (["right.png", "right.png"], "--mask: 2 masks for 1 style picture"),
    (["broken.png"], "broken.png: is not an image Fude can read"),
    (["black.png"], "--mask: no mask lets any style in"),
    (["missing.png"], "missing.png: no such file"),
])
def test_cli_refuses_masks_it_cannot_use(tmp_path, cat_path, wave_path, masks, words):
    _mask(tmp_path / "right.png", right=True)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    Image.new("L", (8, 8)).save(tmp_path / "black.png")
    options = [part for name in masks for part in ("--mask", name)]
    result = fude("render", str(cat_path), str(wave_path), *options, "-o", "o.png", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and words in line, line
    assert not (tmp_path / "o.png").exists()
