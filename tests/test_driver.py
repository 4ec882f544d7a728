"""RunDriver, headless, with the real network on tiny pictures: the evolution is recorded, the recovery copy is
kept (and a copy that cannot be written is said once), a cancel ends the run between steps with the picture so
far, a failure keeps the last good picture, and a run that will not fit is warned about and goes on. Plus the
command line as a front end over it after a failure, and the render's suggested file name (engine.names)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine.memory
from engine.driver import PHASE_NETWORK, PHASE_PICTURES, BackendCache, RenderJob, RunDriver, RunListener, RunRecord
from engine.errors import DivergenceError, OutOfMemory
from engine.memory import MemoryCheck
from engine.recovery import RecoverySession, RecoveryStore
from engine.run import Backend, Frame, StyleRun
from engine.settings import RenderSettings
from tests.failing_steps import fail_step_at


class Heard(RunListener):
    """Everything a front end is told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.frames: list[tuple[int, np.ndarray | None]] = []
        self.kept: list[tuple[int, np.ndarray]] = []
        self.on_each_frame: Callable[[int], object] | None = None  # called with each frame's index, to act mid-run

    def names(self, name: str) -> list[object]:
        return [value for called, value in self.calls if called == name]

    def on_phase(self, text: str) -> None:
        self.calls.append(("phase", text))

    def on_memory_warning(self, check: MemoryCheck) -> None:
        self.calls.append(("memory", check))

    def on_started(self, run: StyleRun) -> None:
        self.calls.append(("started", (run.total, run.size)))

    def before_step(self, run: StyleRun) -> None:
        self.calls.append(("before", run.index))

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        self.frames.append((frame.index, image))
        if self.on_each_frame is not None:
            self.on_each_frame(frame.index)

    def on_notice(self, text: str) -> None:
        self.calls.append(("notice", text))

    def on_recovery_failed(self, reason: str) -> None:
        self.calls.append(("recovery failed", reason))

    def on_kept_picture(self, index: int, image: np.ndarray) -> None:
        self.kept.append((index, image))


def settings(iterations: int = 4, size: int = 32) -> RenderSettings:
    return RenderSettings(size=size, iterations=iterations, device="cpu", precision="fp32")


def job_for(cat: np.ndarray, wave: np.ndarray, iterations: int = 4, **kw: Any) -> RenderJob:
    return RenderJob(cat, wave, kw.pop("settings", settings(iterations)), "cat.png", "wave.png", **kw)


def driver_for(job: RenderJob, backend: Backend, max_frames: int = 8,
               recovery: RecoverySession | None = None) -> tuple[RunDriver, Heard]:
    heard = Heard()
    return RunDriver(job, RunRecord(job, max_frames=max_frames), BackendCache(backend), heard, recovery), heard


def test_a_run_records_its_frames_and_ends_with_its_picture(cat, wave, backend):
    driver, heard = driver_for(job_for(cat, wave, iterations=6), backend, max_frames=4)
    outcome = driver.drive()
    assert (outcome.index, outcome.total, outcome.cancelled) == (6, 6, False)
    assert outcome.image.shape == (32, 32, 3) and outcome.image.dtype == np.uint8  # the short side is kept at 32
    assert heard.names("phase") == [PHASE_NETWORK, PHASE_PICTURES]
    assert heard.names("started") == [(6, (32, 32))]
    assert [index for index, _ in heard.frames] == [1, 2, 3, 4, 5, 6]
    assert heard.names("before") == [0, 1, 2, 3, 4, 5]
    # the record asked for every frame until it held 4, then every other one
    images = driver.record.gif_images()
    assert 2 <= len(images) <= 5 and np.array_equal(images[-1], outcome.image)
    assert np.array_equal(driver.record.latest, outcome.image) and driver.outcome is outcome
    assert heard.kept == []


def test_no_evolution_makes_no_frame_images(cat, wave, backend):
    driver, heard = driver_for(job_for(cat, wave, iterations=3), backend, max_frames=0)
    outcome = driver.drive()
    assert [image for _, image in heard.frames] == [None, None, None]
    assert len(driver.record.gif_images()) == 1 and np.array_equal(driver.record.gif_images()[0], outcome.image)


def test_keep_colours_recolours_the_evolution_not_the_record(cat, wave, backend):
    driver, _ = driver_for(job_for(cat, wave, iterations=2), backend)
    outcome = driver.drive()
    raw, coloured = driver.record.gif_images(), driver.record.gif_images(keep_colours=True)
    assert len(raw) == len(coloured) and np.array_equal(raw[-1], outcome.image)
    assert not np.array_equal(coloured[-1], raw[-1]) and coloured[-1].shape == raw[-1].shape


def test_lam_and_style_weights_set_before_the_run_are_used(cat, wave, backend):
    job = RenderJob(cat, (wave, cat), settings(2), "cat.png", ("wave.png", "cat.png"))
    driver, _ = driver_for(job, backend)
    driver.set_lam(0.5)
    driver.set_style_weights((3.0, 1.0))
    driver.set_style_weights((1.0,))  # for another run's pictures: ignored
    driver.drive()
    final = driver.record.final_settings
    assert final.lam == 0.5 and final.style_weights == pytest.approx((0.75, 0.25))


def test_refused_style_weights_are_a_notice(cat, wave, backend):
    job = RenderJob(cat, (wave, cat), settings(2), "cat.png", ("wave.png", "cat.png"))
    driver, heard = driver_for(job, backend)
    driver.set_style_weights((0.0, 0.0))
    driver.drive()
    assert len(heard.names("notice")) == 1 and "style weights were not changed" in heard.names("notice")[0]


def test_the_recovery_copy_is_kept_while_the_run_goes(cat, wave, backend, tmp_path):
    store = RecoveryStore(tmp_path / "recovery", interval_s=0.0)  # due at every step
    driver, heard = driver_for(job_for(cat, wave, iterations=3), backend, recovery=store.begin(
        cat, wave, "cat.png", "wave.png"))
    outcome = driver.drive()
    found = store.latest()
    assert found is not None and (found.index, found.total) == (3, 3)
    assert np.array_equal(found.image, outcome.image)
    assert heard.names("recovery failed") == []


def test_a_recovery_copy_that_cannot_be_written_is_said_once(cat, wave, backend, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    store = RecoveryStore(blocker / "recovery", interval_s=0.0)
    driver, heard = driver_for(job_for(cat, wave, iterations=4), backend, recovery=store.begin(
        cat, wave, "cat.png", "wave.png"))
    outcome = driver.drive()
    assert outcome.index == 4 and not outcome.cancelled  # the run went on
    failed = heard.names("recovery failed")
    assert len(failed) == 1 and str(blocker) in str(failed[0])


def test_a_cancel_between_steps_ends_with_the_picture_so_far(cat, wave, backend, tmp_path):
    store = RecoveryStore(tmp_path / "recovery", interval_s=3600.0)  # never due: only the stop's forced copy
    driver, heard = driver_for(job_for(cat, wave, iterations=20), backend, recovery=store.begin(
        cat, wave, "cat.png", "wave.png"))
    heard.on_each_frame = lambda index: driver.cancel() if index == 2 else None
    outcome = driver.drive()
    assert (outcome.index, outcome.total, outcome.cancelled) == (2, 20, True)
    assert [index for index, _ in heard.frames] == [1, 2]
    assert np.array_equal(driver.record.latest, outcome.image)
    found = store.latest()
    assert found is not None and found.index == 2 and np.array_equal(found.image, outcome.image)


def test_a_cancel_before_the_start_runs_nothing(cat, wave, backend, monkeypatch):
    monkeypatch.setattr(StyleRun, "__init__", lambda *a, **k: pytest.fail("no run may be made"))
    driver, heard = driver_for(job_for(cat, wave, iterations=5), backend)
    driver.cancel()
    outcome = driver.drive()
    assert (outcome.index, outcome.total, outcome.cancelled) == (0, 5, True)
    assert heard.names("started") == [] and heard.frames == []


@pytest.mark.parametrize("error, kind", [
    (DivergenceError("loss", "the loss stayed NaN"), DivergenceError),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), OutOfMemory),
    (ZeroDivisionError("an engine bug"), ZeroDivisionError),
])
def test_a_failure_keeps_the_last_good_picture(cat, wave, backend, tmp_path, monkeypatch, error, kind):
    store = RecoveryStore(tmp_path / "recovery", interval_s=3600.0)
    driver, heard = driver_for(job_for(cat, wave, iterations=10), backend, recovery=store.begin(
        cat, wave, "cat.png", "wave.png"))
    fail_step_at(monkeypatch, 3, error)
    with pytest.raises(kind):
        driver.drive()
    outcome = driver.outcome
    assert outcome is not None and (outcome.index, outcome.total, outcome.cancelled) == (3, 10, False)
    assert len(heard.kept) == 1 and heard.kept[0][0] == 3
    assert np.array_equal(heard.kept[0][1], outcome.image) and np.array_equal(driver.record.latest, outcome.image)
    found = store.latest()  # the forced copy
    assert found is not None and found.index == 3 and np.array_equal(found.image, outcome.image)


def test_an_out_of_memory_error_holds_no_run_frames(cat, wave, backend, monkeypatch):
    driver, _ = driver_for(job_for(cat, wave, iterations=5), backend)
    fail_step_at(monkeypatch, 1, RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    with pytest.raises(OutOfMemory) as info:
        driver.drive()
    frames = []
    traceback = info.value.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame.f_code.co_name)
        traceback = traceback.tb_next
    assert "_drive" not in frames and "step" not in frames  # their locals hold the run's tensors


def test_a_failure_before_any_step_keeps_nothing(cat, wave, backend, monkeypatch):
    driver, heard = driver_for(job_for(cat, wave, iterations=5), backend)
    fail_step_at(monkeypatch, 0, DivergenceError("loss", "NaN at once"))
    with pytest.raises(DivergenceError):
        driver.drive()
    assert heard.kept == [] and driver.record.latest is None
    assert driver.outcome is not None and driver.outcome.index == 0


def test_a_run_that_will_not_fit_is_warned_about_and_goes_on(cat, wave, backend, monkeypatch):
    monkeypatch.setattr(engine.memory, "available_bytes", lambda device: 1024**2)
    driver, heard = driver_for(job_for(cat, wave, iterations=2), backend)
    outcome = driver.drive()
    warnings = heard.names("memory")
    assert len(warnings) == 1 and not warnings[0].enough and "32 px needs about" in warnings[0].warning()
    assert outcome.index == 2
    # the warning comes before the run is prepared
    assert [name for name, _ in heard.calls][:3] == ["phase", "memory", "phase"]


def test_room_for_the_evolution_is_counted(cat, wave, backend, monkeypatch):
    seen = []
    real = engine.memory.check_memory
    monkeypatch.setattr(engine.memory, "check_memory", lambda *a, **k: seen.append(k["gif_frames"]) or real(*a, **k))
    for frames in (0, 12):
        driver_for(job_for(cat, wave, iterations=1), backend, max_frames=frames)[0].drive()
    assert seen == [0, 12]


def test_a_continued_run_starts_where_it_stopped(cat, wave, backend):
    start = np.full((32, 32, 3), 128, np.uint8)
    driver, heard = driver_for(job_for(cat, wave, iterations=6, start_image=start, start_index=4), backend)
    outcome = driver.drive()
    assert [index for index, _ in heard.frames] == [5, 6] and outcome.index == 6


def test_render_file_stem_is_safe_and_bounded() -> None:
    from engine.names import MAX_STEM_BYTES, render_file_stem

    assert render_file_stem("cat.png", ["wave.png"]) == "cat_in_wave"
    assert render_file_stem("/pictures/my cat.jpeg", ("a/wave.png", "C:\\art\\star night.tif")) == \
        "my_cat_in_wave_and_star_night"
    assert render_file_stem("cat.png", "wave.png") == "cat_in_wave"
    assert render_file_stem("", ["wave.png"]) == "fude"
    assert render_file_stem(".hidden", ["x?y*.png"]) == "_hidden_in_x_y_"
    assert render_file_stem("猫.png", ["波.png"]) == "猫_in_波"
    long = render_file_stem("c" * 300 + ".png", ["ü" * 300 + ".png"])
    assert len(long.encode("utf-8")) <= MAX_STEM_BYTES and long.startswith("ccc")
    assert all(ch.isalnum() or ch in "-_." for ch in render_file_stem("a\x00b/../c\n.png", ["<>:|\"'.png"]))


def test_the_command_line_default_output_uses_it(tmp_path: Path) -> None:
    from cli.render import default_output

    assert default_output("some/where/cat.png", ["wave.png", "my star.png"]) == Path("cat_in_wave_and_my_star.png")


@pytest.mark.parametrize("error, status, words", [
    (DivergenceError("loss", "the loss stayed NaN"), 1, "error: loss: the loss stayed NaN; the picture after 2 of 8"),
    (KeyboardInterrupt(), 130, "interrupted after 2 of 8 iterations in "),
])
def test_the_command_line_writes_the_picture_a_failed_run_had(cat_path, wave_path, tmp_path, backend, monkeypatch,
                                                               capsys, error, status, words):
    import cli
    from engine.images import load_image

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    real = StyleRun.step

    def step(self: StyleRun) -> Frame:
        if self.index >= 2:
            raise error
        return real(self)

    monkeypatch.setattr(StyleRun, "step", step)
    out, gif = tmp_path / "o.png", tmp_path / "o.gif"
    assert cli.main(["render", str(cat_path), str(wave_path), "-o", str(out), "--gif", str(gif), "--size", "32",
                     "--iterations", "8", "--device", "cpu", "--keep-colours"]) == status
    err = capsys.readouterr().err
    assert words in err.strip().splitlines()[-1] and "Traceback" not in err
    assert load_image(out).shape == (32, 32, 3) and gif.is_file()
    assert RecoveryStore().latest() is None  # the picture is in its file: no recovery copy is left


def test_the_command_line_refuses_a_run_that_failed_before_any_step(cat_path, wave_path, tmp_path, backend,
                                                                     monkeypatch, capsys):
    import cli

    monkeypatch.setattr(Backend, "create", classmethod(lambda cls, settings: backend))
    fail_step_at(monkeypatch, 0, RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    out = tmp_path / "o.png"
    assert cli.main(["render", str(cat_path), str(wave_path), "-o", str(out), "--size", "32", "--iterations", "4",
                     "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: cpu: ran out of memory")
    assert not out.exists()
