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
from engine.names import render_file_stem
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
    assert [item.source.name for item in plan.items] == ["a.jpg", "b.png", "Ünïcode name.webp", "single.gif"]
    assert [item.output.name for item in plan.items] == ["a.png", "b.png", "Ünïcode_name.png", "single.png"]
    assert all(item.output.parent == out for item in plan.items)
    # a.png's result would be a.png, as a.jpg's is: said, not renamed after the other inputs
    assert [str(p) for p in plan.problems] == [
        f"{tmp_path / 'missing.png'}: no such file or folder",
        f"{pictures / 'a.png'}: its result would be {out / 'a.png'}, as {pictures / 'a.jpg'}'s is: rename one of "
        "them, or render them in two batches"]
    again = plan_batch([pictures, single], out)  # a rerun finds the same
    assert again.items == plan.items and [str(p) for p in again.problems] == [str(p) for p in plan.problems[1:]]


def test_a_pictures_output_name_depends_on_it_alone_and_is_cut_at_one_dot(tmp_path):
    names = ("cat.png", "cat.jpg", "photo.v2.jpg", "photo.v2.png", "scan.2024.01.TIFF", "notes.v1")
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    out = tmp_path / "out"
    alone = {name: plan_batch([tmp_path / name], out).items[0].output.name for name in names}
    assert alone == {"cat.png": "cat.png", "cat.jpg": "cat.png", "photo.v2.jpg": "photo.v2.png",
                     "photo.v2.png": "photo.v2.png", "scan.2024.01.TIFF": "scan.2024.01.png",
                     "notes.v1": "notes.v1.png"}
    for order in (names, names[::-1]):  # together, in either order: each keeps its own name or is said
        plan = plan_batch([tmp_path / name for name in order], out)
        assert all(item.output.name == alone[item.source.name] for item in plan.items)
        assert len(plan.items) + len(plan.problems) == len(names) and len(plan.items) == 4
        assert all("its result would be" in str(problem) for problem in plan.problems)
    assert render_file_stem("photo.v2.jpg", ()) == "photo.v2" and render_file_stem("photo.v2", ()) == "photo.v2"
    assert render_file_stem("photo.v2.jpg", ["wave.v3.png"]) == "photo.v2_in_wave.v3"


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
    options = ("--style", str(wave_path), "-o", str(out), "--size", "48", "--iterations", "2", "--device", "cpu",
               "--precision", "fp32")
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


def _in_process(monkeypatch, backend):
    """The command line's main, run in this process with the session's network (no loading, no measuring)."""
    from cli import main
    from engine.run import Backend

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    return main


CHEAP = ("--size", "64", "--iterations", "1", "--device", "cpu", "--precision", "fp32", "-q")


def test_results_made_otherwise_are_said_and_rendered_again_only_when_asked(tmp_path, wave_path, backend,
                                                                            monkeypatch, capsys):
    main = _in_process(monkeypatch, backend)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for k in range(2):
        _picture(inputs / f"p{k}.png", k)
    out = tmp_path / "out"

    def batch(*options: str) -> tuple[int, list[str], str]:
        status = main(["batch", str(inputs), "--style", str(wave_path), "-o", str(out), *CHEAP, *options])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return status, [line for line in err.splitlines() if line.startswith("error:")], err

    assert batch("--lam", "0.2")[0] == 0
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(files) == ["p0.png", "p1.png"]

    # other settings: one error line per picture, naming the file and what differs; nothing touched; exit 1
    status, errors, err = batch("--lam", "0.05")
    assert status == 1
    assert len(errors) == 2 and all("lam 0.2 → 0.05" in line and "--replace-different" in line for line in errors)
    assert [line.split(": ")[1] for line in errors] == [str(out / "p0.png"), str(out / "p1.png")]
    assert "0 written" in err and "2 made otherwise" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files

    # the device and the precision compute the same picture: a result made so is this batch's
    status, errors, err = batch("--lam", "0.2", "--precision", "fp16", "--device", "auto")
    assert (status, errors) == (0, []) and {p.name: p.read_bytes() for p in out.iterdir()} == files

    # asked to: rendered again with this batch's settings, and replaced
    status, errors, err = batch("--lam", "0.05", "--replace-different")
    assert (status, errors) == (0, []), err
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]
    assert all(read_png_render(out / name).settings.lam == 0.05 for name in files)
    assert batch("--lam", "0.05")[:2] == (0, [])  # now done: skipped

    # a result of another picture of the same name (another size), and a file Fude did not make
    _picture(inputs / "p1.png", 9, (40, 48))
    (out / "p0.png").write_bytes(b"not a result")
    status, errors, err = batch("--lam", "0.05", "--replace-different")
    assert status == 1 and len(errors) == 1, err
    assert str(out / "p0.png") in errors[0] and "not a picture Fude made" in errors[0]
    assert (out / "p0.png").read_bytes() == b"not a result"  # never replaced: it is not a result
    assert Image.open(out / "p1.png").size == (53, 64)  # p1's result was of the older p1: rendered again
    status, errors, err = batch("--lam", "0.05")
    assert status == 1 and len(errors) == 1  # the file in the way is said at every run


def test_a_result_of_another_picture_of_that_name_is_not_done(tmp_path, wave_path, backend, monkeypatch, capsys):
    main = _in_process(monkeypatch, backend)
    picture = _picture(tmp_path / "p.png", 1)
    out = tmp_path / "out"
    assert main(["batch", str(picture), "--style", str(wave_path), "-o", str(out), *CHEAP]) == 0
    _picture(picture, 2, (40, 48))  # another picture under the same name
    assert main(["batch", str(picture), "--style", str(wave_path), "-o", str(out), *CHEAP]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "it is 64x53 px, but p.png at 64 px is 53x64" in errors[0], errors


def test_tile_is_honoured_and_the_options_about_one_pictures_files_are_refused(tmp_path, cat_path, wave_path,
                                                                              backend, monkeypatch, capsys):
    main = _in_process(monkeypatch, backend)
    out = tmp_path / "out"
    assert main(["batch", str(cat_path), "--style", str(wave_path), "-o", str(out), "--size", "128",
                 "--iterations", "1", "--single-scale", "--tile", "64", "--device", "cpu", "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "tiles: the full size in 4 tiles of at most 64 px" in err, err
    assert Image.open(out / "cat.png").size == (128, 85)
    for option in (("--mask", str(wave_path)), ("--evolution", "e.gif"), ("--refine", str(out / "cat.png")),
                   ("--frames", "4")):
        with pytest.raises(SystemExit) as exited:
            main(["batch", str(cat_path), "--style", str(wave_path), "-o", str(out), *option])
        assert exited.value.code == 2
        assert f"unrecognized arguments: {option[0]}" in capsys.readouterr().err
