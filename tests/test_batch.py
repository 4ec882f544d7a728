"""`batch`: every picture in the files and folders given, rendered alike into OUTDIR/<name>.png; a broken one is
one error line and the rest go on (exit 1); a rerun skips, untouched, what is already there."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.batch import plan_batch
from engine.export import read_png_render
from tests.pictures import cut_out
from tests.test_cli import fude


def _picture(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_the_plan_finds_folder_pictures_once_in_order_with_stable_distinct_names(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for name in ("b.png", "a.jpg", "a.png", "notes.txt", ".hidden.png", "Ünïcode name.webp"):
        (pictures / name).write_bytes(b"x")
    (pictures / "sub.png").mkdir()  # a folder named like a picture is not one
    single = tmp_path / "single.gif"
    single.write_bytes(b"x")
    out = tmp_path / "out"
    plan = plan_batch([pictures, single, pictures / "b.png", tmp_path / "missing.png"], out)
    assert [item.source.name for item in plan.items] == ["a.jpg", "a.png", "b.png", "Ünïcode name.webp", "single.gif"]
    assert [item.output.name for item in plan.items] == ["a_jpg.png", "a_png.png", "b.png", "Ünïcode_name.png",
                                                         "single.png"]
    assert all(item.output.parent == out for item in plan.items)
    assert [str(p) for p in plan.problems] == [f"{tmp_path / 'missing.png'}: no such file or folder"]
    assert plan_batch([pictures, single], out) == plan_batch([pictures, single], out)  # a rerun finds the same


def test_the_plan_refuses_the_output_folder_and_an_empty_one(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"x")
    empty = tmp_path / "empty"
    empty.mkdir()
    plan = plan_batch([tmp_path, empty], tmp_path)
    assert plan.items == ()
    assert "is the output folder" in str(plan.problems[0]) and "holds no pictures" in str(plan.problems[1])


def test_a_batch_renders_every_picture_reports_a_broken_one_and_resumes(tmp_path, cat, wave_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    _picture(inputs / "noise.png", 1)
    Image.fromarray(cut_out(cat)).save(inputs / "cut.png")  # transparent: stays cut out
    (inputs / "broken.jpg").write_text("not a picture")
    alone = _picture(tmp_path / "alone.jpg", 2, (40, 48))
    out = tmp_path / "out"
    options = ("--style", str(wave_path), "-o", str(out), "--size", "48", "--iterations", "2", "--device", "cpu")
    first = fude("batch", str(inputs), str(alone), *options)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "not an image" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["alone.png", "cut.png", "noise.png"]
    for name, size in (("alone.png", (40, 48)), ("noise.png", (48, 40)), ("cut.png", (48, 32))):
        stored = read_png_render(out / name)
        assert stored is not None and stored.style_name == "wave.png"
        assert (stored.settings.size, stored.settings.iterations) == (48, 2)
        assert Image.open(out / name).size == size
    assert Image.open(out / "cut.png").mode == "RGBA"
    assert "batch: 3 written" in first.stderr and "1 failed" in first.stderr

    # a rerun: nothing is rendered or touched again, the broken picture is still said, still exit 1
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    (out / "noise.png").unlink()  # as if the batch had been stopped before this one
    second = fude("batch", str(inputs), str(alone), *options)
    assert second.returncode == 1, second.stderr
    assert "batch: 1 written" in second.stderr and "2 already there" in second.stderr
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert after["alone.png"] == before["alone.png"] and after["cut.png"] == before["cut.png"]
    assert (out / "noise.png").is_file()

    # all good pictures: exit 0
    third = fude("batch", str(alone), *options, "-q")
    assert third.returncode == 0, third.stderr


@pytest.mark.parametrize("problem", ["style", "outdir"])
def test_a_batch_that_cannot_start_is_one_error_and_status_2(tmp_path, cat_path, wave_path, problem):
    style = tmp_path / "missing_style.png" if problem == "style" else wave_path
    out = tmp_path / "a_file"
    if problem == "outdir":
        out.write_text("in the way")
    result = fude("batch", str(cat_path), "--style", str(style), "-o", str(out), "--size", "32", "--iterations", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and (str(style) if problem == "style" else str(out)) in last
    if problem == "outdir":
        assert out.read_text() == "in the way"
    else:
        assert not os.path.exists(out)


def test_the_network_is_loaded_once_for_the_whole_batch(tmp_path, wave_path, monkeypatch, backend):
    from cli import main
    from engine.run import Backend

    created = []

    def create(settings):
        created.append(settings)
        return backend  # the session's network, already loaded

    monkeypatch.setattr(Backend, "create", staticmethod(create))
    pictures = [str(_picture(tmp_path / f"p{k}.png", k)) for k in range(3)]
    status = main(["batch", *pictures, "--style", str(wave_path), "-o", str(tmp_path / "out"), "--size", "32",
                   "--iterations", "1", "--device", "cpu", "--precision", "fp32", "-q"])
    assert status == 0
    assert len(created) == 1 and len(list((tmp_path / "out").iterdir())) == 3
