"""engine/video.py and `main.py video`: the temporal loss, a later frame's run, a real end-to-end clip at a tiny size
(with and without sound), resume after a stop, settings of another render refused, bad clips. The clips are made
here with the ffmpeg that imageio-ffmpeg ships, from the test pictures: a few frames of 64 x 48."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.clip_folder import ClipFolder, work_folder_for
from engine.driver import BackendCache
from engine.errors import ExportError, SettingsError, VideoError
from engine.export import ffmpeg_executable
from engine.images import resize
from engine.settings import RenderSettings
from engine.video import ClipListener, ClipProgress, VideoJob, VideoRun, is_scene_cut, warm_start
from engine.video_io import FrameReader, first_frame, probe
from engine.video_settings import VideoSettings

FPS = 10


def _encode(frames: list[np.ndarray], path: Path, audio: str | None = None, extra: tuple[str, ...] = ()) -> Path:
    """`frames` as an H.264 clip at FPS, with a tone in the `audio` codec when given."""
    height, width = frames[0].shape[:2]
    command = [ffmpeg_executable(path), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(FPS), "-i", "pipe:0"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-c:a", audio, "-shortest"]
    command += [*extra, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, input=b"".join(f.tobytes() for f in frames), check=True, timeout=60)
    return path


def _pan(cat: np.ndarray, count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """`count` frames of a pan across the cat, 2 px a frame."""
    canvas = resize(cat, 96, 64)
    return [np.ascontiguousarray(canvas[8:8 + height, 2 * k:2 * k + width]) for k in range(count)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, cat: np.ndarray) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    frames = _pan(cat, 5)
    noisy = [np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8) for k in range(30)]
    whole = _encode(noisy, folder / "noisy.mp4", extra=("-movflags", "+faststart"))
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    not_video = folder / "notes.mp4"
    not_video.write_text("#EXTM3U\n#EXTINF:1,\n/etc/passwd\n")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return {"sound": _encode(frames, folder / "pan.mp4", audio="aac"), "silent": _encode(frames, folder / "mute.mp4"),
            "alaw": _encode(frames[:2], folder / "alaw.mkv", audio="pcm_alaw"),  # a sound an MP4 cannot hold
            "truncated": truncated, "not_video": not_video, "empty": empty}


@pytest.fixture
def backends(backend) -> BackendCache:
    return BackendCache(backend)


QUICK = RenderSettings(size=48, iterations=3, device="cpu", precision="fp32")


class Recorder(ClipListener):
    """Keeps what a clip's run said; cancels the run after `stop_after` frames when asked."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.started: list[int] = []
        self.done: list[ClipProgress] = []
        self.notices: list[str] = []
        self.stop_after = stop_after
        self.run: VideoRun | None = None

    def on_frame_started(self, index: int, frames: int | None, fresh: bool) -> None:
        self.started.append(index)

    def on_frame_done(self, progress: ClipProgress, image: np.ndarray) -> None:
        self.done.append(progress)
        if self.stop_after is not None and len(self.done) >= self.stop_after and self.run is not None:
            self.run.cancel()

    def on_notice(self, text: str) -> None:
        self.notices.append(text)


def _run(clip: Path, output: Path, wave: np.ndarray, backends: BackendCache, settings: RenderSettings = QUICK,
         video: VideoSettings | None = None, stop_after: int | None = None) -> tuple[VideoRun, Recorder]:
    recorder = Recorder(stop_after)
    job = VideoJob(clip, (wave,), ("wave.png",), settings, output, video or VideoSettings())
    run = VideoRun(job, backends, recorder)
    recorder.run = run
    return run, recorder


def _streams(path: Path) -> tuple[int, bool, str]:
    """(video frames, has audio, the video's frame rate as ffmpeg says it) of an encoded file."""
    text = subprocess.run([ffmpeg_executable(path), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null",
                           "-"], capture_output=True, text=True, timeout=60).stderr
    head = text.split("Output #0")[0]
    frames = int(text.rsplit("frame=", 1)[1].split()[0])
    rate = head.split(" fps")[0].rsplit(", ", 1)[1]
    return frames, " Audio: " in head, rate


def test_temporal_loss_weights_each_pixel_by_its_reliability():
    import torch

    from engine.losses import temporal_loss

    image = torch.zeros(1, 3, 2, 2, requires_grad=True)
    warped = torch.ones(1, 3, 2, 2)
    reliable = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    loss = temporal_loss(image, warped, reliable)
    assert float(loss.detach()) == pytest.approx((1.0 + 0.5) * 3 / 12)
    loss.backward()
    assert image.grad is not None
    assert float(image.grad[0, 0, 0, 1]) == 0.0 and float(image.grad[0, 0, 0, 0]) < 0


def test_a_later_frame_runs_at_the_full_size_and_is_held_where_reliable(backend, cat, wave):
    from engine.run import StyleRun, TemporalTarget

    content = resize(cat, 48, 32)
    previous = resize(wave, 48, 32)  # a "previous frame" far from what the style alone would make
    reliable = np.zeros((32, 48), np.float32)
    reliable[:, :24] = 1.0  # the flow holds on the left half only
    settings = RenderSettings(size=48, iterations=8, device="cpu", precision="fp32")
    results = {}
    for steadiness in (0.0, 20.0):
        run = StyleRun(content, wave, settings, backend, start=content,
                       temporal=TemporalTarget(previous, reliable, steadiness))
        assert run.schedule == [(48, 8)]  # one scale, the full size, the whole count
        frames = list(run)
        assert "temporal" in frames[-1].losses
        results[steadiness] = np.abs(run.result().astype(float) - previous).mean(axis=2)
    held, free = results[20.0], results[0.0]
    assert held[:, :20].mean() < 0.5 * free[:, :20].mean()  # held to the frame before where reliable
    assert held[:, 28:].mean() > 0.7 * free[:, 28:].mean()  # and free where not
    with pytest.raises(ValueError):
        StyleRun(content, wave, settings, backend, temporal=TemporalTarget(previous[:16], reliable[:16], 1.0))


def test_scene_cut_and_warm_start(cat, wave):
    from engine.flow import motion_between

    pan = _pan(cat, 2)
    assert not is_scene_cut(motion_between(pan[0], pan[1]), pan[0], pan[1])
    other = resize(wave, 64, 48)
    assert is_scene_cut(motion_between(pan[0], other), pan[0], other)
    reliable = np.zeros((48, 64), np.float32)
    reliable[:, :10] = 1.0
    start = warm_start(other, pan[1], reliable)
    assert np.array_equal(start[:, :10], other[:, :10]) and np.array_equal(start[:, 10:], pan[1][:, 10:])


def test_a_clip_with_sound_is_rendered_frame_by_frame_and_keeps_its_sound(clips, wave, backends, tmp_path):
    output = tmp_path / "painted.mp4"
    run, recorder = _run(clips["sound"], output, wave, backends)
    outcome = run.run()
    assert outcome.output == output and outcome.frames == 5 and outcome.rendered == 5 and outcome.problem is None
    assert [p.index for p in recorder.done] == [1, 2, 3, 4, 5]
    assert recorder.done[0].fresh and not any(p.fresh for p in recorder.done[1:])
    assert all(p.reliable_share is not None and p.reliable_share > 0.8 for p in recorder.done[1:])
    frames, audio, rate = _streams(output)
    assert (frames, audio, rate) == (5, True, "10")
    info = probe(output)
    assert (info.width, info.height) == (48, 36)
    assert ClipFolder(output).finished() == 5


def test_a_sound_an_mp4_cannot_hold_is_made_aac(clips, wave, backends, tmp_path):
    output = tmp_path / "painted.mp4"
    run, recorder = _run(clips["alaw"], output, wave, backends)
    outcome = run.run()
    assert outcome.frames == 2 and any("AAC" in note for note in outcome.notes + tuple(recorder.notices))
    assert _streams(output)[:2] == (2, True)


def test_a_silent_clip_gives_a_silent_video_and_a_gif(clips, wave, backends, tmp_path, monkeypatch):
    output = tmp_path / "painted.mp4"
    outcome = _run(clips["silent"], output, wave, backends)[0].run()
    assert outcome.frames == 5
    assert _streams(output)[:2] == (5, False)
    # a GIF of part of the clip, with the painting's colours matched once for the clip and the content's kept
    import engine.video

    matched: list[int] = []
    match = engine.video.match_colours

    def counted(style: np.ndarray, content: np.ndarray) -> np.ndarray:
        matched.append(1)
        return match(style, content)

    monkeypatch.setattr(engine.video, "match_colours", counted)
    gif = tmp_path / "painted.gif"
    settings = QUICK.replaced(match_colours=True, keep_colours=True)
    outcome = _run(clips["silent"], gif, wave, backends, settings=settings, video=VideoSettings(duration=0.3))[0].run()
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.info["duration"] == 100
    assert matched == [1]
    folder = ClipFolder(gif, keep_colours=True)
    assert folder.finished() == 3 and folder.shown_path(3).is_file()


def test_a_rotated_clip_is_decoded_upright(clips, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg_executable(rotated), "-hide_banner", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(clips["silent"]), "-c", "copy", str(rotated)], check=True, timeout=60)
    info = probe(rotated)
    assert (info.width, info.height, info.fps, info.audio) == (48, 64, 10, None)
    reader = FrameReader(info, (24, 32), info.fps)
    frames = list(reader)
    assert len(frames) == 5 and frames[0].shape == (32, 24, 3) and reader.problem is None
    first, _ = first_frame(rotated)
    assert first.shape == (64, 48, 3)


def test_a_stopped_clip_goes_on_from_its_last_finished_frame(clips, wave, backends, tmp_path):
    output = tmp_path / "painted.mp4"
    run, recorder = _run(clips["silent"], output, wave, backends, stop_after=2)
    outcome = run.run()
    assert outcome.cancelled and outcome.output is None and not output.exists()
    folder = ClipFolder(output)
    assert folder.finished() == 2
    kept = [folder.frame_path(k).stat().st_mtime_ns for k in (1, 2)]
    run, recorder = _run(clips["silent"], output, wave, backends)
    outcome = run.run()
    assert recorder.started == [3, 4, 5] and not recorder.done[0].fresh  # frame 3 goes on from frame 2, read back
    assert outcome.frames == 5 and outcome.rendered == 3
    assert [folder.frame_path(k).stat().st_mtime_ns for k in (1, 2)] == kept
    # a finished clip is only encoded again
    output.unlink()
    run, recorder = _run(clips["silent"], output, wave, backends)
    outcome = run.run()
    assert recorder.started == [] and outcome.rendered == 0 and _streams(output)[0] == 5
    # other settings than the work folder's are refused, saying what differs; nothing is touched
    run, _ = _run(clips["silent"], output, wave, backends, settings=QUICK.replaced(lam=0.2),
                  video=VideoSettings(steadiness=2.0))
    with pytest.raises(VideoError) as refused:
        run.run()
    assert "lam 0.05 → 0.2" in refused.value.reason and "steadiness 1 → 2" in refused.value.reason
    assert folder.finished() == 5


def test_a_clip_that_breaks_part_way_is_rendered_as_far_as_it_decodes(clips, wave, backends, tmp_path):
    info = probe(clips["truncated"])
    reader = FrameReader(info, (32, 24), info.fps)
    decoded = sum(1 for _ in reader)
    assert 0 < decoded < 30 and reader.problem is not None and "frame" in reader.problem
    output = tmp_path / "painted.mp4"
    settings = RenderSettings(size=32, iterations=1, device="cpu", precision="fp32")
    outcome = _run(clips["truncated"], output, wave, backends, settings=settings)[0].run()
    assert outcome.problem is not None and outcome.frames == decoded
    assert _streams(output)[0] == decoded


@pytest.mark.parametrize("case, words", [
    ("not_video", "is not a video"),
    ("empty", "is empty"),
    ("missing", "no such file"),
])
def test_bad_clips_are_one_clear_error(clips, wave, backends, tmp_path, case, words):
    clip = clips.get(case, tmp_path / "missing.mp4")
    with pytest.raises(VideoError) as refused:
        _run(clip, tmp_path / "out.mp4", wave, backends)[0].run()
    assert words in refused.value.reason and refused.value.path == str(clip)
    assert not work_folder_for(tmp_path / "out.mp4").exists()


def test_a_picture_is_not_a_clip_and_regions_are_refused(clips, cat_path, wave, backends, tmp_path):
    with pytest.raises(VideoError):
        _run(cat_path, tmp_path / "out.mp4", wave, backends)[0].run()
    from engine.regions import regions_from_pictures

    mask = np.zeros((48, 64, 3), np.uint8)
    mask[:, :32] = 255
    with pytest.raises(SettingsError) as refused:
        _run(clips["silent"], tmp_path / "out.mp4", wave, backends,
             settings=QUICK.replaced(regions=regions_from_pictures([mask], 64, 48)))[0].run()
    assert "regions" in str(refused.value)


def test_a_full_disk_is_said_before_any_frame(clips, wave, backends, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    run, recorder = _run(clips["silent"], tmp_path / "out.mp4", wave, backends)
    with pytest.raises(ExportError) as refused:
        run.run()
    assert "free" in refused.value.reason and recorder.started == []
    assert not work_folder_for(tmp_path / "out.mp4").exists()


def test_the_command_line_renders_a_clip_and_says_what_it_did(clips, wave_path, backend, tmp_path, monkeypatch,
                                                              capsys):
    from cli import main
    from engine.run import Backend

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    output = tmp_path / "out.mp4"
    command: Callable[..., int] = main
    status = command(["video", str(clips["sound"]), "--style", str(wave_path), "-o", str(output), "--size", "48",
                      "--iterations", "2", "--device", "cpu", "--precision", "fp32", "--duration", "0.3",
                      "--remove-frames"])
    said = capsys.readouterr()
    assert status == 0, said.err
    assert f"wrote {output} (3 frames" in said.out and "frames at 48x36" in said.err
    assert _streams(output)[:2] == (3, True) and not work_folder_for(output).exists()
    status = command(["video", str(clips["not_video"]), "--style", str(wave_path), "-o", str(output)])
    said = capsys.readouterr()
    assert status == 2 and said.err.count("error:") == 1 and os.path.basename(clips["not_video"]) in said.err
