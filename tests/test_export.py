"""Writing results: PNG metadata round-trips, the GIF has the frames and timings promised, and every write is
atomic (a failed write leaves the old file as it was and nothing partial behind)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from engine.errors import ExportError
from engine.export import FrameRecorder, check_writable, read_png_render, save_gif, save_png, write_atomically
from engine.settings import RenderSettings, png_text_chunks
from tests.pictures import gradient


def test_png_settings_round_trip(tmp_path):
    settings = RenderSettings(lam=0.123, size=96, iterations=42, seed=7, init="content", optimizer="adam",
                              weights="torchvision", style_scale=1.5, tv_weight=0.25)
    path = save_png(tmp_path / "out.png", gradient(), png_text_chunks(settings, "猫.png", "wave.jpg"))
    stored = read_png_render(path)
    assert stored is not None
    assert stored.settings == settings
    assert (stored.content_name, stored.style_name) == ("猫.png", "wave.jpg")
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), gradient())
    assert "lam 0.123" in Image.open(path).text["Description"]


def test_default_iterations_are_stored_as_a_number(tmp_path):
    path = save_png(tmp_path / "o.png", gradient(), png_text_chunks(RenderSettings(), "a", "b"))
    stored = read_png_render(path)
    assert stored.settings.iterations == RenderSettings().iteration_count


def test_a_png_from_elsewhere_has_no_render(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "plain.png")
    assert read_png_render(tmp_path / "plain.png") is None


def test_gif_frames_durations_and_loop(tmp_path):
    images = [np.full((24, 32, 3), v, np.uint8) for v in (0, 80, 160)] + [gradient(32, 24)]
    path = save_gif(tmp_path / "evolution.gif", images, frame_ms=70, last_frame_ms=1500)
    with Image.open(path) as gif:
        assert gif.n_frames == 4
        assert gif.info["loop"] == 0
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
            assert gif.size == (32, 24)
        assert durations == [70, 70, 70, 1500]
        gif.seek(3)
        last = np.asarray(gif.convert("RGB")).astype(int)
    # its own palette keeps the gradient's colours close to the original
    assert np.abs(last - gradient(32, 24)).mean() < 6


def test_recorder_keeps_an_even_sample_of_any_length():
    recorder = FrameRecorder(max_frames=10)
    for index in range(1, 1001):
        if recorder.wants(index):
            recorder.add(index, np.zeros((2, 2, 3), np.uint8))
    indices = [i for i, _ in recorder.frames]
    assert 5 <= len(indices) <= 10
    steps = {b - a for a, b in zip(indices, indices[1:])}
    assert len(steps) == 1  # evenly spread
    assert indices[-1] > 1000 - recorder.stride  # reaching to within one stride of the end
    final = np.ones((2, 2, 3), np.uint8)
    assert recorder.images(final=final)[-1] is final


def test_failed_write_leaves_the_old_file_and_no_partial_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"the user's earlier picture")

    def fail_halfway(handle):
        handle.write(b"half a pict")
        raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="disk is full"):
        write_atomically(target, fail_halfway)
    assert target.read_bytes() == b"the user's earlier picture"
    assert os.listdir(tmp_path) == ["keep.png"]


def test_save_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        save_png(tmp_path / "nope" / "out.png", gradient())


def test_check_writable_catches_problems_before_a_render(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(ExportError, match="not a folder"):
        check_writable(tmp_path / "file" / "out.png")
    check_writable(tmp_path / "fine.png")


def test_names_the_system_cannot_take_are_refused_in_one_line(tmp_path):
    nul = tmp_path / "bad\0name.png"
    for write in (lambda: check_writable(nul), lambda: save_png(nul, gradient())):
        with pytest.raises(ExportError, match="not a valid file name .it contains a NUL character"):
            write()
    (tmp_path / "a folder.png").mkdir()
    with pytest.raises(ExportError, match="is a folder; give a file name"):
        save_png(tmp_path / "a folder.png", gradient())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a folder.png"]  # nothing partial left beside it
