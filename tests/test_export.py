"""Writing results: PNG metadata round-trips, the GIF, WebP and MP4 evolutions have the frames, timings and
sizes promised, and every write is atomic (a failed write leaves the old file as it was and nothing partial behind)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from engine.errors import ExportError, SettingsError
from engine.export import (
    ANIMATION_FORMATS,
    AnimationOptions,
    FrameRecorder,
    animation_format,
    check_writable,
    encode_animation,
    pick_frames,
    read_png_render,
    save_animation,
    save_gif,
    save_png,
    write_atomically,
)
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


def test_default_iterations_stay_automatic(tmp_path):
    # the default count runs each scale until its picture settles; a stored number would turn that off on restore
    path = save_png(tmp_path / "o.png", gradient(), png_text_chunks(RenderSettings(), "a", "b"))
    stored = read_png_render(path)
    assert stored.settings.iterations is None
    assert "iterations until the picture settles" in Image.open(path).text["Description"]  # its most: by the size
    fixed = save_png(tmp_path / "f.png", gradient(), png_text_chunks(RenderSettings(iterations=120), "a", "b"))
    assert read_png_render(fixed).settings.iterations == 120


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


# the evolution as GIF, WebP or MP4 -------------------------------------------------------------------------------


def evolution(final: np.ndarray, count: int = 5) -> list[np.ndarray]:
    """A run's frames: flat greys at a coarser scale (half size), ending with `final` at full size."""
    height, width = final.shape[:2]
    early = [np.full((height // 2, width // 2, 3), 40 * i % 256, np.uint8) for i in range(count - 1)]
    return early + [final]


def mp4_frames(path) -> tuple[dict, list[np.ndarray]]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return meta, [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]


def test_pick_frames_spreads_evenly_and_keeps_the_last():
    images = list(range(100))
    assert pick_frames(images, 5) == [0, 25, 50, 74, 99]
    assert pick_frames(images, 2) == [0, 99]
    assert pick_frames(images, 1) == [99]
    assert pick_frames(images, 100) == images and pick_frames(images, 500) == images
    picked = pick_frames(images, 60)
    assert len(picked) == 60 and len(set(picked)) == 60 and picked[-1] == 99
    assert max(b - a for a, b in zip(picked, picked[1:])) - min(b - a for a, b in zip(picked, picked[1:])) <= 1


def test_the_format_comes_from_the_suffix(tmp_path):
    assert [animation_format(tmp_path / n) for n in ("a.gif", "b.WebP", "c.mp4")] == ["gif", "webp", "mp4"]
    for name, words in (("evolution.avi", "ends in .avi"), ("evolution", "has no suffix")):
        with pytest.raises(ExportError, match=f"{words}; an animation must end in .gif, .webp, .mp4"):
            animation_format(tmp_path / name)
    with pytest.raises(ExportError, match="ends in .png"):
        save_animation(tmp_path / "x.png", [gradient()])
    assert os.listdir(tmp_path) == []


def test_animation_options_refuse_nonsense():
    with pytest.raises(SettingsError, match="frame count must be a whole number from 1"):
        AnimationOptions(frame_count=0)
    with pytest.raises(SettingsError, match="frame time .*; animation size"):
        AnimationOptions(frame_ms=2.5, longest_side=4)


def test_webp_frames_durations_loop_and_colours(tmp_path):
    final = gradient(64, 48)
    path = save_animation(tmp_path / "evolution.webp", evolution(final),
                          AnimationOptions(frame_ms=70, last_frame_ms=1500))
    assert path.read_bytes() == encode_animation(evolution(final), "webp", AnimationOptions(frame_ms=70,
                                                                                            last_frame_ms=1500))
    with Image.open(path) as webp:
        assert webp.format == "WEBP" and webp.n_frames == 5 and webp.info["loop"] == 0
        durations = []
        for i in range(webp.n_frames):
            webp.seek(i)
            webp.load()  # a WebP frame's duration is known once it is decoded
            durations.append(webp.info["duration"])
            assert webp.size == (64, 48)  # the half-size frames are shown at the result's size
        assert durations == [70, 70, 70, 70, 1500]
        last = np.asarray(webp.convert("RGB")).astype(int)
    assert np.abs(last - final).mean() < 4  # lossy, but true colour


def test_mp4_is_h264_yuv420p_even_sized_and_holds_the_result(tmp_path):
    final = gradient(65, 49)  # odd sides: H.264 in yuv420p needs even ones
    options = AnimationOptions(frame_ms=100, last_frame_ms=1000)
    path = save_animation(tmp_path / "evolution.mp4", evolution(final), options)
    meta, frames = mp4_frames(path)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (64, 48) and meta["fps"] == 10
    assert len(frames) == 4 + 10  # four frames, then the result held for 1000 ms at 100 ms a frame
    assert abs(meta["duration"] - 1.4) < 0.05
    expected = np.asarray(Image.fromarray(final).resize((64, 48), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(frames[-1].astype(int) - expected).mean() < 6
    assert np.abs(frames[1].astype(int) - 40).mean() < 3  # the second grey
    assert path.read_bytes() == encode_animation(evolution(final), "mp4", options)  # the size shown is the size saved


@pytest.mark.parametrize("fmt", ANIMATION_FORMATS)
def test_frame_count_and_size_are_chosen(tmp_path, fmt):
    final = gradient(120, 80)
    images = evolution(final, count=30)
    options = AnimationOptions(frame_count=6, frame_ms=50, last_frame_ms=50, longest_side=60)
    path = save_animation(tmp_path / f"small.{fmt}", images, options)
    if fmt == "mp4":
        meta, frames = mp4_frames(path)
        size, count = meta["size"], len(frames)
        last = frames[-1]
    else:
        with Image.open(path) as im:
            size, count = im.size, im.n_frames
            im.seek(count - 1)
            last = np.asarray(im.convert("RGB"))
    assert size == (60, 40) and count == 6
    expected = np.asarray(Image.fromarray(final).resize((60, 40), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(last.astype(int) - expected).mean() < 8  # the last frame is the result


def test_a_missing_or_broken_ffmpeg_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "evolution.mp4"
    target.write_bytes(b"the user's earlier video")
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-ffmpeg-here"))
    with pytest.raises(ExportError, match=r"evolution\.mp4: ffmpeg \(.*no-ffmpeg-here\) could not be started"):
        save_animation(target, evolution(gradient()))
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(broken))
    said = r"evolution\.mp4: ffmpeg .* could not encode the MP4 \(exit status 1\): Unknown encoder libx264"
    with pytest.raises(ExportError, match=said):
        save_animation(target, evolution(gradient()))
    assert target.read_bytes() == b"the user's earlier video"
    assert sorted(os.listdir(tmp_path)) == ["evolution.mp4", "ffmpeg"]
    assert save_animation(tmp_path / "still.webp", [gradient()]).exists()  # the other formats need no ffmpeg


def test_no_frames_is_a_clear_error(tmp_path):
    for fmt in ANIMATION_FORMATS:
        with pytest.raises(ExportError, match="no frames to write yet"):
            save_animation(tmp_path / f"e.{fmt}", [])
    assert os.listdir(tmp_path) == []


def test_render_writes_the_evolution_with_the_options_asked_for(tmp_path, cat_path, wave_path):
    from tests.test_cli import fude

    movie = tmp_path / "cat.mp4"
    result = fude("render", str(cat_path), str(wave_path), "-o", str(tmp_path / "cat.png"), "--size", "64",
                  "--iterations", "8", "--device", "cpu", "--precision", "fp32", "-q", "--evolution", str(movie),
                  "--frames", "5", "--frame-ms", "40", "--evolution-size", "48")
    assert result.returncode == 0, result.stderr
    meta, frames = mp4_frames(movie)
    assert meta["size"] == (48, 32) and meta["fps"] == 25  # 64 x 42 scaled to a longest side of 48, made even
    assert len(frames) == 4 + round(2500 / 40)  # five frames, the last (the result) held for 2.5 s
    png = np.asarray(Image.open(tmp_path / "cat.png").resize((48, 32), Image.Resampling.LANCZOS)).astype(int)
    errors = [np.abs(frame.astype(int) - png).mean() for frame in frames]
    # the video ends on the result (a fine texture at 48 px, so yuv420p's halved colour costs some levels)
    assert errors[-1] < 12 and errors[-1] < min(errors[:4])  # closer to the result than any earlier frame


def test_render_refuses_a_wrong_evolution_suffix_before_running(tmp_path, cat_path, wave_path):
    from tests.test_cli import assert_refused, fude

    bad = tmp_path / "evolution.mov"
    line = assert_refused(fude("render", str(cat_path), str(wave_path), "-o", str(tmp_path / "o.png"),
                               "--evolution", str(bad)), str(bad))
    assert line == f"error: {bad}: ends in .mov; an animation must end in .gif, .webp, .mp4"
    assert os.listdir(tmp_path) == []
