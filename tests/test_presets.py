"""Presets: the built-in ones say what they do (ink sketch mostly content with thin strokes, full painting mostly
style with large strokes), user presets are saved atomically and found again, a built-in's name is refused, a
damaged file is moved aside rather than overwritten, and `render --preset` starts from one while options given
explicitly win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine.export
from cli import build_parser, settings_from_args
from engine.errors import ExportError, SettingsError
from engine.presets import BUILTIN_PRESETS, Preset, PresetStore, default_path
from engine.settings import RenderSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "presets.json"


def test_builtin_presets_go_from_mostly_content_to_mostly_painting():
    ink, balanced, full = BUILTIN_PRESETS
    assert [p.name for p in BUILTIN_PRESETS] == ["Ink sketch", "Balanced", "Full painting"]
    assert all(p.builtin and p.description for p in BUILTIN_PRESETS)
    defaults = RenderSettings()
    assert balanced.apply(defaults) == defaults
    assert ink.lam > balanced.lam > full.lam  # lam: how much of the content survives
    assert ink.style_scale < balanced.style_scale < full.style_scale  # the size of the brush strokes


def test_apply_changes_only_the_preset_s_knobs_and_from_settings_takes_them():
    settings = RenderSettings(size=256, seed=4, iterations=80, style_weights=(1.0, 2.0))
    painted = BUILTIN_PRESETS[2].apply(settings)
    assert (painted.lam, painted.style_scale) == (BUILTIN_PRESETS[2].lam, BUILTIN_PRESETS[2].style_scale)
    assert painted.replaced(lam=settings.lam, style_scale=settings.style_scale,
                            tv_weight=settings.tv_weight) == settings
    mine = Preset.from_settings("  My   soft\twash ", settings.replaced(lam=0.3, style_scale=0.8, tv_weight=2.0))
    assert (mine.name, mine.lam, mine.style_scale, mine.tv_weight, mine.builtin) == ("My soft wash", 0.3, 0.8,
                                                                                      2.0, False)


@pytest.mark.parametrize("changes, words", [
    ({"name": "  "}, "needs a name"),
    ({"name": "x" * 61}, "longer than"),
    ({"lam": -1.0}, "lam"),
    ({"style_scale": 9.0}, "style_scale"),
    ({"tv_weight": float("nan")}, "tv_weight"),
    ({"description": 3}, "description"),
])
def test_bad_presets_are_refused(changes, words):
    values = {"name": "Mine", "description": "", "lam": 0.1, "style_scale": 1.0, "tv_weight": 1.0, **changes}
    with pytest.raises(SettingsError, match=words):
        Preset(**values)


def test_no_file_means_only_the_builtins(path):
    store = PresetStore(path)
    assert store.problem is None and store.user_presets() == [] and store.all() == list(BUILTIN_PRESETS)
    assert store.find("  full   PAINTING ") is BUILTIN_PRESETS[2]
    assert store.find("nothing") is None


def test_saved_presets_survive_a_restart_replace_by_name_and_delete(path):
    store = PresetStore(path)
    store.save(Preset("Soft wash", "thin", 0.3, 0.8, 1.0))
    store.save(Preset("Bold", "", 0.01, 2.0, 0.5))
    store.save(Preset("soft WASH", "changed", 0.2, 0.9, 1.0))  # same name, any case: replaced
    again = PresetStore(path)
    assert [p.name for p in again.user_presets()] == ["Bold", "soft WASH"]
    assert again.all()[:3] == list(BUILTIN_PRESETS)
    assert again.find("Soft Wash").lam == 0.2
    assert json.loads(path.read_text())["presets"][1]["description"] == "changed"
    assert again.delete("bold") and not again.delete("bold")
    assert [p.name for p in PresetStore(path).user_presets()] == ["soft WASH"]


def test_a_builtin_s_name_is_refused_and_builtins_cannot_be_deleted(path):
    store = PresetStore(path)
    with pytest.raises(SettingsError, match="built-in"):
        store.save(Preset("ink SKETCH", "", 0.3, 0.8, 1.0))
    with pytest.raises(SettingsError, match="built-in"):
        store.save(BUILTIN_PRESETS[1])
    with pytest.raises(SettingsError, match="built-in"):
        store.delete("Balanced")
    assert not path.exists()


def test_a_damaged_file_is_reported_and_moved_aside_never_overwritten(path):
    path.parent.mkdir(parents=True)
    path.write_text("{ my presets, half written")
    store = PresetStore(path)
    assert store.problem is not None and str(path) in store.problem and "damaged" in store.problem
    assert store.user_presets() == [] and store.all() == list(BUILTIN_PRESETS)
    assert path.read_text() == "{ my presets, half written"  # reading never touches it
    store.save(Preset("New", "", 0.1, 1.0, 1.0))
    assert (path.parent / "presets.json.damaged").read_text() == "{ my presets, half written"
    assert [p.name for p in PresetStore(path).user_presets()] == ["New"]
    assert "moved aside" in store.problem
    path.write_text("[]")  # damaged again: the first copy moved aside is kept too
    PresetStore(path).save(Preset("Newer", "", 0.1, 1.0, 1.0))
    assert (path.parent / "presets.json.damaged-2").read_text() == "[]"


def test_damaged_entries_are_left_out_and_the_rest_kept(path):
    path.parent.mkdir(parents=True)
    good = {"name": "Good", "description": "", "lam": 0.2, "style_scale": 1.2, "tv_weight": 1.0}
    original = json.dumps({"fude_presets": 1, "presets": [
        good, {"name": "Bad", "lam": "lots"}, "junk", {**good, "name": "Balanced"}]})
    path.write_text(original)
    store = PresetStore(path)
    assert [p.name for p in store.user_presets()] == ["Good"]
    assert "3 saved presets are damaged" in store.problem
    store.save(Preset("Another", "", 0.1, 1.0, 1.0))
    assert (path.parent / "presets.json.damaged").read_text() == original
    assert [p.name for p in PresetStore(path).user_presets()] == ["Good", "Another"]


def test_a_failed_save_leaves_the_file_as_it_was(path, monkeypatch):
    store = PresetStore(path)
    store.save(Preset("Kept", "", 0.2, 1.0, 1.0))
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.export.os, "fsync", disk_full)
    with pytest.raises(ExportError, match="disk is full"):
        store.save(Preset("Lost", "", 0.3, 1.0, 1.0))
    assert path.read_bytes() == before
    assert [p.name for p in store.user_presets()] == ["Kept"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["presets.json"]  # no temporary file left


def test_default_path_is_in_the_user_data_folder(_isolated_user_data):
    assert default_path() == _isolated_user_data / "Fude" / "presets.json"


def _args(*options: str):
    return build_parser().parse_args(["render", "cat.png", "wave.png", *options])


def test_render_preset_sets_its_knobs_and_explicit_options_win(_isolated_user_data):
    ink = BUILTIN_PRESETS[0]
    settings = settings_from_args(_args("--preset", "ink sketch", "--size", "128"))
    assert (settings.lam, settings.style_scale, settings.tv_weight, settings.size) == (
        ink.lam, ink.style_scale, ink.tv_weight, 128)
    settings = settings_from_args(_args("--preset", "INK SKETCH", "--lam", "0.02", "--tv-weight", "0"))
    assert (settings.lam, settings.style_scale, settings.tv_weight) == (0.02, ink.style_scale, 0.0)
    assert settings_from_args(_args()) == RenderSettings()  # no preset, no options: the defaults
    PresetStore(default_path()).save(Preset("Mine", "", 0.3, 0.7, 2.0))  # one saved in the window
    assert settings_from_args(_args("--preset", "mine")).style_scale == 0.7


def test_render_refuses_an_unknown_preset(tmp_path, _isolated_user_data):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "render", str(ROOT / "tests/data/cat.png"),
                             str(ROOT / "tests/data/wave.png"), "--preset", "oil", "-o", str(tmp_path / "o.png")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --preset: ") and "'oil'" in line and "Ink sketch" in line, line
    assert not (tmp_path / "o.png").exists()
