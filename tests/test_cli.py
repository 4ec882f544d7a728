"""The real command line, as a user runs it: a render writes the PNG (with its settings) and the GIF; every
bad input is one line `error: PATH: reason` on stderr, exit status 2, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.export import read_png_render
from tests.pictures import write_broken

ROOT = Path(__file__).resolve().parent.parent


def fude(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, last
    return last


def test_render_writes_png_with_settings_and_gif(tmp_path, cat_path, wave_path):
    out, gif = tmp_path / "cat_wave.png", tmp_path / "cat_wave.gif"
    result = fude("render", str(cat_path), str(wave_path), "-o", str(out), "--gif", str(gif), "--size", "64",
                  "--iterations", "6", "--seed", "3", "--gif-frames", "4", "--device", "cpu", "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "6/6" in result.stderr  # the progress bar reached the end
    assert Image.open(out).size == (64, 42)  # 128 x 85 scaled to a longest side of 64
    stored = read_png_render(out)
    assert stored is not None
    assert (stored.settings.size, stored.settings.iterations, stored.settings.seed) == (64, 6, 3)
    assert (stored.content_name, stored.style_name) == ("cat.png", "wave.png")
    with Image.open(gif) as animation:
        assert 2 <= animation.n_frames <= 5  # at most 4 recorded, plus the finished picture
        animation.seek(animation.n_frames - 1)
        assert animation.info["duration"] > 1000  # the last frame is held


def test_tile_computes_the_picture_in_tiles_with_the_same_result(tmp_path, cat_path, wave_path):
    outputs = []
    for tile in ((), ("--tile", "64")):
        out = tmp_path / f"tiled{len(tile)}.png"
        result = fude("render", str(cat_path), str(wave_path), "-o", str(out), "--size", "160", "--iterations", "3",
                      "--single-scale", "--precision", "fp32", "--device", "cpu", *tile)
        assert result.returncode == 0, result.stderr
        assert ("tiles: the full size in 6 tiles of at most 64 px" in result.stderr) == bool(tile)
        outputs.append(np.asarray(Image.open(out).convert("RGB"), dtype=int))
    assert np.abs(outputs[0] - outputs[1]).max() <= 1


def test_default_output_name(tmp_path, cat_path, wave_path):
    # fp32: "auto" would time bf16 too, which takes minutes on a CPU without bf16 instructions
    result = fude("render", str(cat_path), str(wave_path), "--size", "32", "--iterations", "1", "--device", "cpu",
                  "--precision", "fp32", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cat_in_wave.png").is_file()


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return write_broken(tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"),
    ("not_an_image", "not an image"),
    ("truncated", "truncated"),
    ("bomb", "decompression bomb"),
    ("folder", "folder"),
    ("empty", "empty"),
])
def test_bad_content_or_style_file(broken, wave_path, tmp_path, case, words):
    bad = str(broken[case])
    line = assert_refused(fude("render", bad, str(wave_path), "-o", str(tmp_path / "o.png")), bad, words)
    assert line.startswith(f"error: {bad}: ")
    line = assert_refused(fude("render", str(wave_path), bad, "-o", str(tmp_path / "o.png")), bad, words)
    assert line.startswith(f"error: {bad}: ")
    assert not (tmp_path / "o.png").exists()


def test_unwritable_output_is_refused_before_rendering(tmp_path, cat_path, wave_path):
    missing = tmp_path / "no" / "such" / "folder" / "out.png"
    assert_refused(fude("render", str(cat_path), str(wave_path), "-o", str(missing)), str(missing), "does not exist")
    (tmp_path / "afile").write_text("x")
    inside_file = tmp_path / "afile" / "out.gif"
    assert_refused(fude("render", str(cat_path), str(wave_path), "--gif", str(inside_file)), str(inside_file))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_output_folder(tmp_path, cat_path, wave_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        out = locked / "out.png"
        assert_refused(fude("render", str(cat_path), str(wave_path), "-o", str(out)), str(out), "not writable")
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("option, value, words", [
    ("--lam", "-1", "at least 0"),
    ("--size", "0", "at least"),
    ("--iterations", "0", "at least 1"),
    ("--lam", "lots", "not a number"),
    ("--optimizer", "sgd", "invalid choice"),
    ("--device", "tpu", "invalid choice"),
    ("--tile", "10", "at least 64"),
    ("--tile", "big", "not an integer"),
])
def test_bad_option_values_are_refused_by_the_parser(cat_path, wave_path, option, value, words):
    result = fude("render", str(cat_path), str(wave_path), option, value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert option in result.stderr and words in result.stderr


def test_help_explains_every_option():
    top = fude("--help")
    assert top.returncode == 0 and "render" in top.stdout
    render = fude("render", "--help")
    assert render.returncode == 0
    for option in ("--output", "--gif", "--lam", "--size", "--iterations", "--seed", "--init", "--optimizer",
                   "--device", "--weights", "--style-scale", "--precision", "--single-scale", "--tile"):
        assert option in render.stdout


def test_missing_weights_file(tmp_path, cat_path, wave_path):
    weights = tmp_path / "vgg.pth"
    assert_refused(fude("render", str(cat_path), str(wave_path), "--weights", str(weights), "-o",
                        str(tmp_path / "o.png"), "--size", "32", "--iterations", "1"), str(weights), "no such")
    weights.write_text("not weights")
    assert_refused(fude("render", str(cat_path), str(wave_path), "--weights", str(weights), "-o",
                        str(tmp_path / "o.png"), "--size", "32", "--iterations", "1"), str(weights), "not a PyTorch")


def test_no_display_is_explained_not_crashed() -> None:
    from cli import display_problem

    assert "no display" in display_problem({}, "linux")
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None


def test_window_command_without_display_exits_with_message(monkeypatch, capsys) -> None:
    import cli

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.sys, "platform", "linux")
    assert cli.main([]) == 1
    assert "no display" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
def test_hostile_inputs_are_one_error_line(tmp_path, cat_path, wave_path):
    """A device, a FIFO, a folder, PostScript and a PNG that claims to be a decompression bomb: each is one
    `error:` line and exit 2, at once, before anything else is read."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    eps = tmp_path / "drawing.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n")
    for bad in ("/dev/zero", str(fifo), str(tmp_path), str(eps)):
        assert_refused(fude("render", bad, str(wave_path), "-o", str(tmp_path / "out.png")), bad)
        assert_refused(fude("render", str(cat_path), bad, "-o", str(tmp_path / "out.png")), bad)
    assert not (tmp_path / "out.png").exists()


def test_refine_goes_on_from_a_finished_picture_at_its_size(tmp_path, cat_path, wave_path):
    first = tmp_path / "cat.png"
    made = fude("render", str(cat_path), str(wave_path), "-o", str(first), "--size", "64", "--iterations", "12",
                "--lam", "0.2", "--device", "cpu", "--precision", "fp32")
    assert made.returncode == 0, made.stderr
    result = fude("render", str(cat_path), str(wave_path), "--refine", str(first), "--iterations", "10",
                  "--device", "cpu", "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    refined = tmp_path / "cat_refined.png"  # the default name, beside the picture refined
    assert "it 10/10" in result.stderr and "wrote" in result.stdout
    before, after = (np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in (first, refined))
    assert after.shape == before.shape
    # it went on from the picture (not from noise): changed, but only a little
    assert 0 < np.abs(after - before).mean() < 12
    stored = read_png_render(refined)
    assert stored is not None and stored.settings.lam == 0.2  # the picture's own settings, read from its PNG
    assert read_png_render(first).settings == stored.settings


def test_refine_refuses_a_picture_of_another_content(tmp_path, cat_path, wave_path):
    other = tmp_path / "square.png"
    Image.new("RGB", (64, 64), "white").save(other)
    assert_refused(fude("render", str(cat_path), str(wave_path), "--refine", str(other)), str(other),
                   "the content it was made from")
    assert_refused(fude("render", str(cat_path), str(wave_path), "--refine", str(tmp_path / "gone.png")),
                   "gone.png")


def test_render_never_replaces_a_file_under_its_own_name_and_stores_the_settings_it_finished_with(
        tmp_path, cat_path, wave_path, backend, monkeypatch, capsys):
    """The default name (made up by Fude) never replaces a file: the first free numbered one is written and
    said, even with -q; a name typed with -o is replaced. The PNG stores the settings the picture was finished
    with (the style weights as the run used them), not the command line's."""
    import cli
    from engine.run import Backend

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "cat_in_wave_and_wave.png"
    earlier.write_bytes(b"an earlier picture")
    args = ["render", str(cat_path), str(wave_path), str(wave_path), "--style-weights", "3,1", "--size", "32",
            "--iterations", "1", "--device", "cpu", "--precision", "fp32", "-q"]
    assert cli.main(args) == 0
    written = tmp_path / "cat_in_wave_and_wave 2.png"
    assert earlier.read_bytes() == b"an earlier picture" and written.is_file()
    assert "cat_in_wave_and_wave 2.png" in capsys.readouterr().err
    stored = read_png_render(written)
    assert stored is not None and stored.settings.style_weights == (0.75, 0.25)
    assert cli.main([*args, "-o", str(earlier)]) == 0  # typed: replaced
    assert read_png_render(earlier) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat_in_wave_and_wave 2.png", "cat_in_wave_and_wave.png"]
