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
