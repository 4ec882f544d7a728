"""Several style pictures at once: one style gives exactly the numbers it gave before styles could be mixed; the
targets are a weighted mix of the styles' Gram matrices; the mix changes mid-run without new passes through the
network; the weights are validated, stored in a result PNG and in the recovery copy; and the command line takes
several styles with --style-weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import SettingsError
from engine.export import read_png_render, save_png
from engine.losses import STYLE_LAYERS, LossWeights, StyleObjective, gram
from engine.memory import largest_style_shape
from engine.recovery import PICTURE, RECORD_KEY, RecoveryStore
from engine.run import StyleRun
from engine.settings import PNG_SETTINGS_KEY, RenderSettings, normalise_style_weights, parse_png_text, png_text_chunks
from tests.pictures import gradient

ROOT = Path(__file__).resolve().parent.parent

# Recorded with the code before several styles existed (commit b88dd95), on cat.png and wave.png, CPU, fp32:
# the losses of each iteration of 3-iteration Adam runs. Threads may change the last bit of a float32 sum, so
# the comparison allows a relative 1e-6 (float32's resolution is 1.2e-7).
RECORDED = {
    "plain": (dict(size=64), [
        (0.809161901473999, 0.8171822428703308, 0.04052966833114624, 1.2622928619384766),
        (0.6782325506210327, 0.7270439267158508, 0.04072970896959305, 1.1068899631500244),
        (0.5971441268920898, 0.6258972883224487, 0.041319310665130615, 0.9657886624336243),
    ]),
    "scaled": (dict(size=80, style_scale=0.7, lam=0.2), [
        (0.8766155242919922, 0.817444920539856, 0.040073513984680176, 2.6107492446899414),
        (0.7285191416740417, 0.7666898965835571, 0.0403154194355011, 2.2640435695648193),
        (0.6175699234008789, 0.6953960657119751, 0.04101317748427391, 1.9715490341186523),
    ]),
}


def _settings(**changes) -> RenderSettings:
    return RenderSettings(iterations=3, optimizer="adam", device="cpu", precision="fp32").replaced(**changes)


def _losses(run: StyleRun) -> list[tuple[float, ...]]:
    return [tuple(frame.losses[k] for k in ("content", "style", "tv", "total")) for frame in run]


def stripes(width: int = 96, height: int = 96, period: int = 8) -> np.ndarray:
    """Red and blue vertical stripes: a style as unlike the wave as can be."""
    image = np.zeros((height, width, 3), np.uint8)
    red = (np.arange(width) // (period // 2)) % 2 == 0
    image[:, red] = (220, 30, 30)
    image[:, ~red] = (30, 30, 220)
    return image


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_one_style_gives_the_numbers_recorded_before_styles_could_be_mixed(cat, wave, backend, case):
    changes, expected = RECORDED[case]
    for style in (wave, [wave]):
        got = _losses(StyleRun(cat, style, _settings(**changes), backend))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


def test_one_style_as_array_list_or_weighted_is_bit_for_bit_the_same(cat, wave, backend):
    plain = _losses(StyleRun(cat, wave, _settings(size=64), backend))
    assert _losses(StyleRun(cat, [wave], _settings(size=64), backend)) == plain
    assert _losses(StyleRun(cat, [wave], _settings(size=64, style_weights=(3.0,)), backend)) == plain


def test_one_style_objective_matches_the_single_style_formula_exactly(cat, wave, backend):
    layers = StyleObjective.layers_used()
    with torch.no_grad():
        content = backend.network(torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1)), layers)
        style = backend.network(torch.rand(1, 3, 40, 64, generator=torch.Generator().manual_seed(2)), layers)
        image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))
        features = backend.network(image, layers)
    objective = StyleObjective.from_features(content, [style], (1.0,))
    for name in STYLE_LAYERS:  # the Gatys target and its normaliser, as they were computed for one style
        target = gram(style[name])
        assert torch.equal(objective.style_targets[name], target)
        assert torch.equal(objective.style_norms[name], target.pow(2).mean().clamp_min(1e-12))
    one = StyleObjective.from_features(content, style)(features, image, LossWeights(0.05, 1.0))
    listed = objective(features, image, LossWeights(0.05, 1.0, (1.0,)))
    assert all(torch.equal(one[k], listed[k]) for k in one)


def test_targets_are_the_weighted_mix_of_the_styles_grams(backend, wave):
    layers = StyleObjective.layers_used()
    with torch.no_grad():
        content = backend.network(torch.rand(1, 3, 64, 64), layers)
        first = backend.network(torch.rand(1, 3, 64, 64), layers)
        second = backend.network(torch.rand(1, 3, 64, 48) * 0.3, layers)
    objective = StyleObjective.from_features(content, [first, second], (0.25, 0.75))
    for name in STYLE_LAYERS:
        mixed = 0.25 * gram(first[name]) + 0.75 * gram(second[name])
        torch.testing.assert_close(objective.style_targets[name], mixed)
        torch.testing.assert_close(objective.style_norms[name], mixed.pow(2).mean())
    objective.mix((1.0, 0.0))  # all of the first: its own targets, exactly
    assert all(torch.equal(objective.style_targets[n], gram(first[n])) for n in STYLE_LAYERS)
    objective.mix(())  # empty: equal weights
    assert objective.style_weights == (0.5, 0.5)
    with pytest.raises(ValueError):
        objective.mix((1.0,))


def test_a_second_style_at_weight_zero_changes_nothing(cat, wave, backend):
    alone = _losses(StyleRun(cat, wave, _settings(size=64), backend))
    mixed = _losses(StyleRun(cat, [wave, stripes()], _settings(size=64, style_weights=(1.0, 0.0)), backend))
    np.testing.assert_allclose(mixed, alone, rtol=1e-6, atol=0)


def _gram_distance(run: StyleRun, backend, style: torch.Tensor) -> float:
    with torch.no_grad():
        features = backend.network(run.image, STYLE_LAYERS)
        targets = backend.network(style, STYLE_LAYERS)
    return sum(float((gram(features[n]) - gram(targets[n])).pow(2).mean() / gram(targets[n]).pow(2).mean())
               for n in STYLE_LAYERS)


def test_changing_the_mix_mid_run_moves_the_picture_to_the_new_style_without_new_passes(cat, wave, backend):
    settings = RenderSettings(size=64, iterations=24, lam=0.0, tv_weight=0.0, device="cpu", precision="fp32",
                              style_weights=(1.0, 0.0))
    run = StyleRun(cat, [wave, stripes()], settings, backend)
    assert run.style_weights == (1.0, 0.0)
    for _ in range(12):
        run.step()
    to_stripes_before = _gram_distance(run, backend, run.styles[1])
    grams = run.objective.style_grams

    calls: list[bool] = []
    hook = backend.network.register_forward_pre_hook(lambda module, args: calls.append(args[0] is run.image))
    try:
        run.set_weights(style_weights=(0, 2))
        assert run.style_weights == (0.0, 1.0)  # normalised at once, in use from the next iteration
        for _ in run:
            pass
    finally:
        hook.remove()
    assert calls and all(calls), "only the picture itself went through the network, not the style pictures"
    assert run.objective.style_grams is grams
    assert all(torch.equal(run.objective.style_targets[n], grams[1][n]) for n in STYLE_LAYERS)
    to_stripes_after = _gram_distance(run, backend, run.styles[1])
    assert to_stripes_after < 0.5 * to_stripes_before, (to_stripes_before, to_stripes_after)


def test_bad_style_weights_are_refused(cat, wave, backend):
    with pytest.raises(SettingsError, match="2 weights were given for 1 style"):
        StyleRun(cat, wave, _settings(size=64, style_weights=(1.0, 2.0)), backend)
    run = StyleRun(cat, [wave, stripes()], _settings(size=64), backend)
    assert run.style_weights == (0.5, 0.5)
    for bad in ((1.0,), (1.0, -1.0), (0.0, 0.0), (float("nan"), 1.0), (float("inf"), 1.0)):
        with pytest.raises(ValueError):
            run.set_weights(style_weights=bad)
    assert run.style_weights == (0.5, 0.5)
    with pytest.raises(ValueError, match="at least one style"):
        StyleRun(cat, [], _settings(size=64), backend)


@pytest.mark.parametrize("weights", [(1.0, -1.0), (0, 0), (float("nan"),), ("a", 1.0), (True, 1.0)])
def test_settings_refuse_bad_style_weights(weights):
    with pytest.raises(SettingsError, match="style_weights"):
        RenderSettings(style_weights=weights)


def test_settings_store_style_weights_colours_and_names_in_a_png(tmp_path):
    settings = RenderSettings(style_weights=(2.0, 1.0), keep_colours=True, style_scale=1.5, iterations=40)
    assert settings.style_mix(2) == pytest.approx((2 / 3, 1 / 3))
    assert RenderSettings().style_mix(3) == pytest.approx((1 / 3,) * 3)
    assert normalise_style_weights((5,)) == (1.0,)
    text = png_text_chunks(settings, "cat.png", ["wave.png", "monet.jpg"])
    assert json.loads(text[PNG_SETTINGS_KEY])["styles"] == ["wave.png", "monet.jpg"]
    assert "wave.png + monet.jpg (weights 0.67, 0.33)" in text["Description"]
    stored = read_png_render(save_png(tmp_path / "r.png", gradient(), text))
    assert stored.settings == settings and stored.settings.style_weights == (2.0, 1.0)
    assert stored.style_names == ("wave.png", "monet.jpg") and stored.style_name == "wave.png + monet.jpg"
    assert RenderSettings.from_dict({"style_weights": [1, 3]}).style_weights == (1, 3)


def test_a_png_from_before_several_styles_still_reads():
    old = {"version": "0.1.0", "content": "cat.png", "style": "wave.png", "lam": 0.5, "size": 256}
    stored = parse_png_text({PNG_SETTINGS_KEY: json.dumps(old)})
    assert stored.style_names == ("wave.png",) and stored.style_name == "wave.png"
    assert stored.settings.style_weights == () and stored.settings.keep_colours is False


def test_largest_style_shape_is_the_squarest():
    assert largest_style_shape([(100, 400, 3), (300, 320, 3), (50, 60, 3)]) == (300, 320, 3)


def test_recovery_keeps_every_style_and_the_weights(tmp_path):
    store = RecoveryStore(tmp_path / "recovery", interval_s=0.0)
    styles = [gradient(20, 20), gradient(30, 10), gradient(16, 24)]
    session = store.begin(gradient(40, 30), styles, "cat.png", ["a.png", "b.png", "c.png"])
    settings = RenderSettings(size=96, iterations=50, style_weights=(1.0, 2.0, 3.0))
    assert session.save(np.full((30, 40, 3), 9, np.uint8), settings, 7, 50, force=True)
    assert sorted(p.name for p in session.folder.iterdir()) == [
        "content.png", "picture.png", "style.png", "style_2.png", "style_3.png"]
    found = store.latest()
    assert found.settings.style_weights == (1.0, 2.0, 3.0)
    assert len(found.styles) == 3 and all(np.array_equal(a, b) for a, b in zip(found.styles, styles, strict=True))
    assert np.array_equal(found.style, styles[0])
    assert found.style_names == ("a.png", "b.png", "c.png") and found.style_name == "a.png + b.png + c.png"
    adopted = store.adopt(found)  # taking it over keeps all three
    assert adopted.folder == found.folder and len(store.latest().styles) == 3


def test_recovery_reads_a_folder_from_before_several_styles(tmp_path):
    store = RecoveryStore(tmp_path / "recovery", interval_s=0.0)
    session = store.begin(gradient(40, 30), gradient(20, 20), "cat.png", "wave.jpg")
    assert session.save(np.zeros((30, 40, 3), np.uint8), RenderSettings(), 3, 300, force=True)
    picture = session.folder / PICTURE
    with Image.open(picture) as im:
        text = dict(im.text)
    record = json.loads(text[RECORD_KEY])
    del record["style_files"]  # as the older code wrote it
    stored = json.loads(text[PNG_SETTINGS_KEY])
    del stored["styles"], stored["style_weights"], stored["keep_colours"]
    text.update({RECORD_KEY: json.dumps(record), PNG_SETTINGS_KEY: json.dumps(stored)})
    save_png(picture, np.zeros((30, 40, 3), np.uint8), text)
    found = store.latest()
    assert found is not None and found.style_names == ("wave.jpg",) and len(found.styles) == 1
    assert np.array_equal(found.style, gradient(20, 20))
    record["style_files"] = ["../content.png"]  # a record naming anything but its style files is not used
    text[RECORD_KEY] = json.dumps(record)
    save_png(picture, np.zeros((30, 40, 3), np.uint8), text)
    assert store.latest() is None


def fude(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.mark.parametrize("weights, words", [
    ("2", "1 weight for 2 style pictures"),
    ("2,x", "'x' is not a number"),
    ("0,0", "must not all be 0"),
    ("1,inf", "finite"),
])
def test_cli_refuses_style_weights_that_do_not_fit(tmp_path, cat_path, wave_path, weights, words):
    result = fude("render", str(cat_path), str(wave_path), str(cat_path), f"--style-weights={weights}", "-o",
                  str(tmp_path / "o.png"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --style-weights: ") and words in line, line
    assert not (tmp_path / "o.png").exists()


def test_cli_renders_two_styles_keeping_the_content_colours(tmp_path, cat_path, wave_path):
    Image.fromarray(stripes()).save(tmp_path / "stripes.png")
    result = fude("render", str(cat_path), str(wave_path), "stripes.png", "--style-weights", "3,1",
                  "--keep-colours", "--size", "64", "--iterations", "4", "--device", "cpu", "--gif", "e.gif",
                  "--frames", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "styles: wave.png 0.75, stripes.png 0.25" in result.stderr
    out = tmp_path / "cat_in_wave_and_stripes.png"
    stored = read_png_render(out)
    assert stored.style_names == ("wave.png", "stripes.png")
    # the weights the picture was finished with, as the run uses them (normalised): 3,1 is 0.75 / 0.25
    assert stored.settings.style_weights == (0.75, 0.25) and stored.settings.keep_colours
    from engine.colour import to_ycbcr
    from engine.images import load_image, resize

    picture = load_image(out)
    content = resize(load_image(cat_path), picture.shape[1], picture.shape[0])
    chroma_error = np.abs(to_ycbcr(picture)[..., 1:] - to_ycbcr(content)[..., 1:])
    assert np.median(chroma_error) <= 1.5, np.median(chroma_error)  # the cat's colours, whatever the styles
    assert (tmp_path / "e.gif").stat().st_size > 0
