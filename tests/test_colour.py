"""Keeping the content's colours (the YCbCr transform is exact and inverts, the output has the result's luminance and
the content's chroma at the result's size, grey stays grey, bad input is refused) and matching the paintings'
colours to the content's (its mean and covariance, the opaque part only, measured on a sample spread over rows and
columns); a flat content does not flatten the painting, and a run says so once at its start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.colour import (
    MATCH_FLAT_SPREAD,
    MATCH_FULL_SPREAD,
    MATCH_SAMPLE,
    from_ycbcr,
    keep_colours,
    match_colours,
    match_note,
    match_weakening,
    own_colours_kept,
    sample_grid,
    to_ycbcr,
)
from engine.images import load_image, resize
from engine.transparency import split_alpha
from tests.pictures import cut_out, gradient


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


def _statistics(picture: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    pixels = picture.reshape(-1, 3).astype(np.float64)
    weights = np.ones(len(pixels)) if weights is None else weights.reshape(-1).astype(np.float64)
    mean = (weights[:, None] * pixels).sum(0) / weights.sum()
    centred = pixels - mean
    return mean, (centred * weights[:, None]).T @ centred / weights.sum()


DATA = Path(__file__).resolve().parent / "data"  # small copies of ../shared/images (tests/data/SOURCES.md)


@pytest.mark.parametrize("content_name, style_name", [
    ("cat.png", "wave.png"), ("astronaut.png", "starry_night.png"), ("cat.png", "the_scream.png"),
    ("astronaut.png", "shipwreck.png"),
])
def test_matched_colours_have_the_content_mean_and_covariance(content_name, style_name):
    content, style = load_image(DATA / content_name), load_image(DATA / style_name)
    matched = match_colours(style, content)
    assert matched.shape == style.shape and matched.dtype == np.uint8
    content_mean, content_cov = _statistics(content)
    mean, cov = _statistics(matched)
    # within a level of the mean and 4 % of the covariance (the astronaut, black space and a white suit, needs the
    # refinement against clipping: one map alone is 6 levels and 30 % off; up to 3 % is the variance floor's)
    assert np.abs(mean - content_mean).max() < 1.0
    assert np.abs(cov - content_cov).max() < 0.04 * np.abs(content_cov).max()
    # the painting's own light and dark are kept: its brightness pattern is the same
    luminance = to_ycbcr(matched)[..., 0].ravel()
    assert np.corrcoef(luminance, to_ycbcr(style)[..., 0].ravel())[0, 1] > 0.8


def test_matching_counts_only_the_opaque_content(cat, wave):
    rgb, alpha = split_alpha(cut_out(cat))  # the cat over neutral grey, with a wide soft edge
    assert alpha is not None
    matched = match_colours(wave, rgb, alpha)
    mean, _ = _statistics(matched)
    # the cut-out's own colours (as they were before being laid over grey), each pixel weighted by its opacity
    # squared, as match_colours says
    own_mean, _ = _statistics(cat, (alpha.astype(np.float64) / 255) ** 2)
    grey_mean, _ = _statistics(rgb)  # with the neutral background counted
    over_grey_mean, _ = _statistics(rgb, alpha)  # the soft edge's colours mixed with the grey behind them
    assert np.abs(mean - own_mean).max() < 1.0
    assert np.abs(mean - own_mean).max() < np.abs(mean - over_grey_mean).max() < np.abs(mean - grey_mean).max()
    assert np.array_equal(match_colours(wave, rgb, np.zeros_like(alpha)), wave)  # nothing opaque: unchanged


def test_matching_a_flat_painting_or_onto_a_grey_content_stays_calm(cat):
    flat = np.full((30, 40, 3), (20, 30, 200), np.uint8)
    matched = match_colours(flat, cat)
    assert np.abs(matched.astype(int) - _statistics(cat)[0].round()).max() <= 1  # the content's mean colour
    grey = np.repeat(cat[..., :1], 3, axis=2)
    onto_grey = match_colours(_random(30, 40, 1), grey)
    assert np.abs(onto_grey[..., 0].astype(int) - onto_grey[..., 2]).max() <= 1  # grey stays grey
    with pytest.raises(ValueError, match="style"):
        match_colours(flat[..., :2], cat)


def test_a_run_with_match_colours_paints_from_the_matched_painting(backend, cat, wave, small):
    from engine.run import StyleRun

    plain = StyleRun(cat, wave, small.replaced(iterations=1), backend)
    matched = StyleRun(cat, wave, small.replaced(iterations=1, match_colours=True), backend)
    cat_mean = cat.reshape(-1, 3).mean(0) / 255
    for run, near in ((plain, False), (matched, True)):
        style_mean = run.style[0].mean(dim=(1, 2)).numpy()
        assert (np.abs(style_mean - cat_mean).max() < 0.02) == near


# ---- a flat content, and the sample ----

PAINTINGS = ("wave.png", "starry_night.png", "the_scream.png", "shipwreck.png")
RED = (200, 40, 30)


def _flat(height: int, width: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """One colour, with Gaussian noise of `noise` levels per channel."""
    picture = np.full((height, width, 3), RED, np.float64)
    picture += np.random.default_rng(seed).normal(0.0, noise, picture.shape)
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def _flat_contents() -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    cut_rgb, cut_alpha = split_alpha(cut_out(_flat(85, 128)))  # one colour inside a wide soft edge, over grey
    return {
        "one colour": (_flat(48, 64), None),
        "1x1": (_flat(1, 1), None),
        "cut-out of one colour": (cut_rgb, cut_alpha),
        "one colour with a level of noise": (_flat(48, 64, noise=1.0), None),
    }


@pytest.mark.parametrize("kind", list(_flat_contents()))
def test_a_flat_content_keeps_the_paintings_own_colours_and_says_so(kind):
    content, alpha = _flat_contents()[kind]
    for name in PAINTINGS:
        style = load_image(DATA / name)
        matched = match_colours(style, content, alpha)
        own_std, std = style.reshape(-1, 3).std(axis=0), matched.reshape(-1, 3).std(axis=0)
        assert (std >= 0.9 * own_std).all(), (name, own_std, std)  # not one colour: the painting's spread is kept
        assert match_weakening(style, content, alpha) > 0.9
    note = match_note("flat.png", [load_image(DATA / name) for name in PAINTINGS], content, alpha)
    assert note is not None and "flat.png" in note and "own colours" in note and "\n" not in note
    assert ("opaque part of flat.png" in note) == (alpha is not None)


def test_the_weakening_is_smooth_and_leaves_ordinary_contents_alone(wave):
    spreads = np.linspace(0.0, 1.0, 2001)
    kept = np.array([own_colours_kept(spread) for spread in spreads])
    assert kept[spreads <= MATCH_FLAT_SPREAD].min() == 1.0 and kept[spreads >= MATCH_FULL_SPREAD].max() == 0.0
    assert (np.diff(kept) <= 0).all() and np.abs(np.diff(kept)).max() < 0.01  # falls, and never jumps
    # a nearly flat content is partly weakened: the painting's spread lies between a full match's and its own
    content = _flat(48, 64, noise=5.0)
    share = match_weakening(wave, content)
    assert 0.1 < share < 0.9, share
    matched_std = match_colours(wave, content).reshape(-1, 3).std(axis=0)
    assert (content.reshape(-1, 3).std(axis=0) * 1.5 < matched_std).all()
    assert (matched_std < wave.reshape(-1, 3).std(axis=0)).all()
    note = match_note("grain.png", [wave], content)
    assert note is not None and f"{round(share * 100)} %" in note and "nearly one colour" in note
    # every content and painting beside the suite, a cut-out too, is matched fully, and nothing is said
    cat = load_image(DATA / "cat.png")
    cut_rgb, cut_alpha = split_alpha(cut_out(cat))
    contents = [(cat, None), (load_image(DATA / "astronaut.png"), None), (cut_rgb, cut_alpha)]
    for name in PAINTINGS:
        style = load_image(DATA / name)
        for content, alpha in contents:
            assert match_weakening(style, content, alpha) == 0.0
        assert match_note("cat.png", [style], cat) is None


def test_the_sample_is_spread_over_rows_and_columns():
    rows, columns = sample_grid(4096, 4096)
    assert MATCH_SAMPLE // 2 <= len(rows) == len(columns) <= MATCH_SAMPLE
    assert 0 <= rows.min() and rows.max() < 4096 and 0 <= columns.min() and columns.max() < 4096
    assert len(np.unique(columns)) > 2048 and len(np.unique(rows)) > 2048  # not 16 columns
    blocks, _, _ = np.histogram2d(rows, columns, bins=64, range=[[0, 4096], [0, 4096]])
    assert blocks.min() > 0  # every 64 x 64 block of the picture is sampled
    again = sample_grid(4096, 4096)
    assert np.array_equal(again[0], rows) and np.array_equal(again[1], columns)  # the same pixels every time
    small_rows, small_columns = sample_grid(30, 40)  # a small picture is taken whole
    assert len(set(zip(small_rows.tolist(), small_columns.tolist(), strict=True))) == 1200
    strip_rows, strip_columns = sample_grid(3, 100_000)
    assert strip_columns.max() < 100_000 and len(np.unique(strip_columns)) > MATCH_SAMPLE // 2
    assert set(strip_rows.tolist()) <= {0, 1, 2}


def test_a_wide_picture_is_matched_on_all_its_columns(wave):
    stripes = np.empty((64, 4096, 3), np.float64)  # thin stripes: one column in four reddish, the rest bluish
    stripes[:] = (90, 110, 160)
    stripes[:, ::4] = (150, 100, 90)
    noise = np.random.default_rng(0).normal(0.0, 10.0, stripes.shape)
    content = np.clip(np.rint(stripes + noise), 0, 255).astype(np.uint8)
    matched = match_colours(wave, content)
    mean, cov = _statistics(matched)
    content_mean, content_cov = _statistics(content)
    assert np.abs(mean - content_mean).max() < 1.0, (mean, content_mean)
    assert np.abs(cov - content_cov).max() < 0.04 * np.abs(content_cov).max()


class _Notices:
    """What a run says before it starts; it is cancelled as soon as it loads its network."""

    def __init__(self, job, backend) -> None:
        from engine.driver import PHASE_NETWORK, BackendCache, RunDriver, RunListener, RunRecord

        notices: list[str] = []

        class Listener(RunListener):
            def on_notice(self, text: str) -> None:
                notices.append(text)

            def on_phase(self, text: str) -> None:
                if text == PHASE_NETWORK:
                    driver.cancel()

        driver = RunDriver(job, RunRecord(job, max_frames=0), BackendCache(backend), Listener())
        self.outcome = driver.drive()
        self.notices = notices


def test_a_run_says_once_at_its_start_that_a_flat_content_weakened_the_match(backend, wave, small, cat):
    from engine.driver import RenderJob

    def heard(content: np.ndarray, match: bool) -> list[str]:
        job = RenderJob(content=content, styles=(wave,), settings=small.replaced(match_colours=match),
                        content_name="flat.png", style_names=("wave.png",))
        said = _Notices(job, backend)
        assert said.outcome.cancelled and said.outcome.index == 0
        return said.notices

    notices = heard(_flat(48, 64), match=True)
    assert len(notices) == 1 and notices[0] == match_note("flat.png", [wave], _flat(48, 64))
    assert heard(_flat(48, 64), match=False) == []  # Match colours off: nothing to say
    assert heard(cat, match=True) == []  # an ordinary content: matched fully, nothing to say
