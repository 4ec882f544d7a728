"""RenderSettings: one set of defaults, refusal of bad values, and a tolerant reading of stored settings."""

from __future__ import annotations

import pytest

from engine.errors import SettingsError
from engine.settings import DEFAULT_ITERATIONS, PNG_SETTINGS_KEY, RenderSettings, parse_png_text


def test_defaults():
    s = RenderSettings()
    assert (s.lam, s.size, s.init, s.optimizer, s.device) == (0.05, 512, "noise", "lbfgs", "auto")
    assert s.iteration_count == DEFAULT_ITERATIONS["lbfgs"]
    assert s.replaced(optimizer="adam").iteration_count == DEFAULT_ITERATIONS["adam"]


@pytest.mark.parametrize("changes", [
    {"lam": -1}, {"size": 0}, {"size": 10**6}, {"iterations": 0}, {"init": "photo"}, {"optimizer": "sgd"},
    {"device": "tpu"}, {"style_scale": 0}, {"lam": "much"}, {"lam": float("nan")},
])
def test_bad_values_are_refused(changes):
    with pytest.raises(SettingsError):
        RenderSettings(**changes)


def test_stored_settings_ignore_unknown_keys_and_reject_damage():
    stored = parse_png_text({PNG_SETTINGS_KEY: '{"lam": 0.5, "from_the_future": 1}'})
    assert stored.settings == RenderSettings(lam=0.5)
    assert parse_png_text({"Software": "GIMP"}) is None
    with pytest.raises(SettingsError, match="damaged"):
        parse_png_text({PNG_SETTINGS_KEY: "{not json"}, "x.png")
    with pytest.raises(SettingsError, match="not usable"):
        parse_png_text({PNG_SETTINGS_KEY: '{"size": -3}'}, "x.png")


def test_match_colours_is_a_setting_stored_and_read_back_like_every_other():
    settings = RenderSettings(match_colours=True)
    from engine.settings import describe_changes, png_text_chunks

    chunks = png_text_chunks(settings, "cat.png", "wave.png")
    assert "the paintings in the content's colours" in chunks["Description"]
    stored = parse_png_text(chunks)
    assert stored is not None and stored.settings.match_colours is True
    assert describe_changes(RenderSettings(), settings) == ["match colours False → True"]
    with pytest.raises(SettingsError, match="match_colours"):
        parse_png_text({PNG_SETTINGS_KEY: '{"match_colours": "yes"}'}, "x.png")
