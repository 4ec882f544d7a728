"""Settings and names read from a file are hostile until checked: a PNG's stored settings never name a file to
open, every number is held to the one range the settings own (the command line uses the same), nesting too
deep for json is damage like any other, and a name of any length or content is shown as one bounded line."""

from __future__ import annotations

import json

import pytest

import cli
from engine.errors import ImageError, SettingsError
from engine.names import MAX_NAME_CHARS, clean_name
from engine.settings import (
    ITERATIONS_MAX,
    LAM_MAX,
    PNG_SETTINGS_KEY,
    SEED_MAX,
    STYLE_SCALE_MAX,
    STYLE_SCALE_MIN,
    TV_WEIGHT_MAX,
    RenderSettings,
    describe_changes,
    parse_png_text,
    png_text_chunks,
)


def _chunks(**values: object) -> dict[str, str]:
    """The text chunks of a Fude PNG whose stored record has `values` in place of the defaults."""
    text = png_text_chunks(RenderSettings(), "cat.png", "wave.png")
    record = json.loads(text[PNG_SETTINGS_KEY])
    record.update(values)
    return {PNG_SETTINGS_KEY: json.dumps(record)}


def test_a_stored_weights_path_is_never_taken():
    stored = parse_png_text(_chunks(weights="/etc/passwd"), "evil.png")
    assert stored is not None
    assert stored.settings.weights == RenderSettings().weights
    assert stored.ignored_weights == "/etc/passwd"
    kept = parse_png_text(_chunks(weights="torchvision"), "fine.png")
    assert kept.settings.weights == "torchvision" and kept.ignored_weights == ""


@pytest.mark.parametrize("values", [
    {"iterations": 10**12}, {"iterations": ITERATIONS_MAX + 1}, {"seed": 2**63}, {"seed": SEED_MAX + 1},
    {"seed": -1}, {"tv_weight": 1e300}, {"tv_weight": TV_WEIGHT_MAX * 2}, {"lam": 1e308}, {"lam": LAM_MAX * 2},
    {"style_scale": STYLE_SCALE_MAX + 0.5}, {"style_weights": [1e308, 1e308]}, {"style_weights": [1.0] * 100},
    {"size": 10**9}, {"iterations": 1.5}, {"seed": True},
])
def test_absurd_stored_numbers_are_refused_with_the_file_named(values):
    with pytest.raises(SettingsError) as caught:
        parse_png_text(_chunks(**values), "absurd.png")
    assert str(caught.value).startswith("absurd.png: the stored Fude settings are not usable")


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 100_000])
def test_deeply_nested_settings_are_damage_not_a_crash(raw):
    with pytest.raises(SettingsError) as caught:
        parse_png_text({PNG_SETTINGS_KEY: raw}, "deep.png")
    assert "damaged" in caught.value.reason


def test_stored_names_are_cleaned_and_bounded():
    stored = parse_png_text(_chunks(content="a" * 60_000_000 + ".png", styles=["x\n<b>y</b>\x00\u202egnp.exe"],
                                    style="ignored"), "long.png")
    assert len(stored.content_name) <= MAX_NAME_CHARS and stored.content_name.endswith(".png")
    assert stored.style_names == ("x <b>y</b> gnp.exe",)


def test_clean_name():
    assert clean_name("  cat \t\n.png ") == "cat .png"
    assert clean_name("x" * 1000).startswith("x") and len(clean_name("x" * 1000)) == MAX_NAME_CHARS
    assert clean_name("a" * 500 + ".jpeg").endswith(".jpeg")
    assert clean_name(b"bytes") == "b'bytes'"


def test_an_error_about_a_huge_name_is_one_bounded_line():
    error = ImageError("n" * 200_000, "is not an image\nat all " + "x" * 50_000)
    assert "\n" not in str(error) and len(str(error)) < 2000


def test_the_command_line_uses_the_same_ranges():
    parser = cli.build_parser()
    for option, value in (("--seed", SEED_MAX + 1), ("--iterations", ITERATIONS_MAX + 1),
                          ("--tv-weight", TV_WEIGHT_MAX * 2), ("--lam", LAM_MAX * 2),
                          ("--style-scale", STYLE_SCALE_MIN / 2)):
        with pytest.raises(SystemExit):
            parser.parse_args(["render", "c.png", "s.png", option, str(value)])
    args = parser.parse_args(["render", "c.png", "s.png", "--seed", str(SEED_MAX), "--tv-weight", str(TV_WEIGHT_MAX)])
    assert RenderSettings(seed=args.seed, tv_weight=args.tv_weight).seed == SEED_MAX


def test_describe_changes():
    before = RenderSettings()
    after = before.replaced(lam=0.2, seed=7, iterations=50)
    assert describe_changes(before, after) == ["lam 0.05 → 0.2", "iterations auto → 50", "seed 0 → 7"]
    assert describe_changes(before, before) == []
