"""A video in the window (issue 26): a clip dropped on the Content pane shows its first frame and its length, and
Start previews that frame; Render video… is offered only for a clip and a painting, queues the whole clip, and the
queue renders it (real runs: a clip of 4 frames of 48 x 32, 2 iterations a frame) with its row following the
frames, and the canvas showing each finished frame with how far the clip is under it; cancelling keeps the finished
frames, and Render video… again goes on from them; a file that is neither a picture nor a video is one clear
message. The Steadiness slider is shown only for a clip, and Render video… queues the clip with its steadiness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.job_queue import JobStatus
from app.preferences import KEY_STEADINESS, Preferences
from engine.clip_folder import work_folder_for
from engine.regions import Regions
from engine.video_io import first_frame, probe
from engine.video_settings import DEFAULT_STEADINESS, VideoSettings
from tests.app.conftest import CLIP_FRAMES
from tests.qt_actions import drop, file_mime

FRAMES = CLIP_FRAMES
TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def answer_keep(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Closing a window with jobs in its queue asks; here the user keeps them. The questions' informative texts."""
    asked: list[str] = []

    def answer(box: QMessageBox) -> int:
        asked.append(box.informativeText())
        box.button(QMessageBox.StandardButton.Save).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return asked


@pytest.fixture
def video_window(make_window, clip: Path, wave_path: Path):
    window = make_window(iterations=2)
    window.advanced.size_spin.setValue(48)
    drop(window.content_pane, file_mime(clip))
    assert window.style_pane.load_path(wave_path)
    return window


@pytest.fixture
def save_as(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """What Render video…'s save dialog answers."""
    output = tmp_path / "painted.mp4"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(output), "")))
    return output


def _row(window) -> str:
    return window.queue_panel.list.item(0).text().replace("\u200b", "")


def test_a_dropped_clip_shows_its_first_frame_and_length_and_offers_render_video(window, clip, wave_path, cat_path):
    drop(window.content_pane, file_mime(clip))
    image = window.content_pane.image
    assert image is not None and image.clip is not None and window.session.content is image
    expected, _ = first_frame(clip)
    assert np.array_equal(image.array, expected) and image.array.shape == (32, 48, 3)
    info = window.content_pane.findChild(object, "contentInfo").text()
    assert info == f"pan.mp4 · 48 × 32 · clip, 0.4 s, {FRAMES} frames", info
    panel = window.queue_panel
    assert not panel.video_action.isEnabled()  # no painting yet
    assert window.style_pane.load_path(wave_path)
    assert panel.video_action.isEnabled() and panel.video_button.isEnabled() and panel.video_button.isVisible()
    assert panel.suggested_video_path() == clip.parent / "pan_in_wave.mp4"  # (no queue folder: beside the clip)
    assert window.content_pane.load_path(cat_path)  # a picture: no video to render
    assert not panel.video_action.isEnabled() and not panel.video_button.isVisible()
    assert window.messages.kind == ""


def test_a_file_that_is_neither_picture_nor_video_is_one_clear_message(window, tmp_path: Path, cat_path: Path):
    assert window.content_pane.load_path(cat_path)
    bad = tmp_path / "holiday.mp4"
    bad.write_text("#EXTM3U\n#EXTINF:1,\n/etc/passwd\n")
    drop(window.content_pane, file_mime(bad))
    assert window.messages.kind == "error"
    text = window.messages.text()
    assert "holiday.mp4" in text and "is not an image or a video Fude can read" in text and "\n" not in text, text
    assert window.content_pane.image is not None and window.content_pane.image.name == "cat.png"  # kept


def test_a_clip_rendered_through_the_queue_writes_the_video(video_window, qtbot, save_as: Path):
    window = video_window
    panel = window.queue_panel
    rows: list[str] = []
    panel.queue.jobsChanged.connect(lambda: rows.append(_row(window)) if panel.list.count() else None)
    window.queue_panel.video_action.trigger()
    entry = panel.queue.entries[0]
    assert entry.job.clip is not None and entry.job.clip.output == save_as and entry.job.clip.frames == FRAMES
    assert panel.queue.active  # only it waited: it runs at once
    qtbot.waitUntil(lambda: panel.queue.entries[0].status is JobStatus.RUNNING)
    assert window.session.busy
    assert not window.run_panel.start_button.isEnabled()  # the user's own Start waits for the clip...
    window.run_panel.start()  # ... and says so if asked anyway (Ctrl+Enter)
    assert window.messages.kind == "error" and "rendering a clip" in window.messages.text()
    qtbot.waitUntil(lambda: panel.queue.entries[0].status.finished and panel.queue.running_job is None,
                    timeout=TIMEOUT_MS)
    entry = panel.queue.entries[0]
    assert entry.status is JobStatus.DONE, entry.message
    assert entry.path == str(save_as) and probe(save_as).frame_count(probe(save_as).fps) == FRAMES
    assert entry.thumbnail is not None and entry.progress is not None and entry.progress.index == FRAMES
    assert f"{FRAMES} of {FRAMES} frames" in " ".join(rows) and "s a frame" in " ".join(rows)
    assert "written: painted.mp4" in _row(window)
    qtbot.waitUntil(lambda: not panel.queue.active)  # out of jobs
    assert not window.session.busy and window.messages.kind == "info" and "1 video written" in window.messages.text()


def test_cancel_keeps_the_finished_frames_and_render_video_goes_on_from_them(video_window, qtbot, save_as: Path):
    window = video_window
    panel = window.queue_panel
    window.advanced.iterations.setValue(5)  # a frame long enough to cancel in
    queue = panel.queue

    def cancel_after_the_first_frame() -> None:
        running = [e for e in queue.entries if e.status is JobStatus.RUNNING]
        if running and running[0].progress is not None:
            queue.cancel(running[0].job.id)

    queue.jobsChanged.connect(cancel_after_the_first_frame)
    first = panel.render_video()
    qtbot.waitUntil(lambda: queue.entry(first).status.finished and queue.running_job is None, timeout=TIMEOUT_MS)
    queue.jobsChanged.disconnect(cancel_after_the_first_frame)
    entry = queue.entry(first)
    assert entry.status is JobStatus.CANCELLED, entry.message
    kept = sorted((work_folder_for(save_as) / "frames").glob("*.png"))
    assert 1 <= len(kept) < FRAMES and "painted.mp4.parts" in entry.message
    assert not save_as.exists()
    again = panel.render_video()  # the same clip, painting and settings: it goes on from the frames kept
    qtbot.waitUntil(lambda: queue.entry(again).status.finished and queue.running_job is None, timeout=TIMEOUT_MS)
    entry = queue.entry(again)
    assert entry.status is JobStatus.DONE, entry.message
    assert entry.plan is not None and entry.plan.done == len(kept)
    assert entry.progress is not None and entry.progress.rendered == FRAMES - len(kept)
    assert save_as.exists()


def test_render_video_refuses_regions_at_once(video_window, tmp_path: Path):
    window = video_window
    assert window.session.update_settings(regions=Regions.from_stack([np.full((32, 48), 255, np.uint8)]))
    assert window.queue_panel.add_video(tmp_path / "out.mp4") is None
    assert window.messages.kind == "error" and "regions cannot be used for a video" in window.messages.text()
    assert window.queue_panel.queue.entries == ()


def test_closing_with_a_video_job_says_where_its_frames_are_kept(video_window, answer_keep, tmp_path: Path):
    window, asked = video_window, answer_keep
    queue = window.queue_panel.queue
    assert queue.add_video(window.session.content, window.session.styles, window.session.settings,
                           tmp_path / "later.mp4") is not None  # (the queue is not running: it waits)
    window.close()
    assert len(asked) == 1 and "later.mp4.parts" in asked[0] and "goes on from the last" in asked[0], asked


def test_steadiness_is_offered_for_a_clip_only_and_goes_into_the_queued_video_job(window, make_window, clip,
                                                                                   wave_path, cat_path, tmp_path):
    control, session = window.steadiness, window.session
    assert not control.isVisible()  # no content
    assert window.content_pane.load_path(cat_path)
    assert not control.isVisible()  # a picture: nothing to hold steady
    drop(window.content_pane, file_mime(clip))
    assert control.isVisible() and control.slider.isVisible()
    assert session.video.steadiness == DEFAULT_STEADINESS and control.value_label.text() == "1"
    control.slider.setValue(0)
    assert session.video.steadiness == 0 and control.value_label.text() == "0 (off)"
    control.slider.setValue(control.slider.maximum())
    assert session.video.steadiness == 10 and control.value_label.text() == "10"
    control.slider.setValue(141)  # 40 steps right of the default (the middle): 10 ** 0.4
    assert session.video.steadiness == 2.51 and control.value_label.text() == "2.51"
    assert window.style_pane.load_path(wave_path)
    panel = window.queue_panel
    assert panel.add_current() is not None  # a job before the clip: the clip waits (nothing renders here)
    job = panel.add_video(tmp_path / "steady.mp4")
    entry = panel.queue.entry(job) if job is not None else None
    assert entry is not None and entry.job.clip is not None and entry.status is JobStatus.WAITING
    assert entry.job.clip.video.steadiness == 2.51
    assert session.set_steadiness(0.5) and control.steadiness == 0.5 and control.value_label.text() == "0.5"
    assert entry.job.clip.video.steadiness == 2.51  # a queued clip keeps its own
    assert not session.set_steadiness(1000) and window.messages.kind == "error" and session.video.steadiness == 0.5
    assert window.content_pane.load_path(cat_path)
    assert not control.isVisible()
    window.close()
    assert make_window().session.video.steadiness == 0.5  # kept between starts, as the render settings are


def test_the_canvas_follows_the_clip_the_queue_renders(video_window, qtbot, save_as: Path):
    window = video_window
    canvas, queue = window.canvas, window.queue_panel.queue
    assert "Press Start" in canvas.hint and canvas.result is None
    seen: list[tuple[str, str]] = []  # the canvas's hint and the line under it, as the clip's row changes
    frames: list[bool] = []  # whether the canvas showed the frame when each finished frame came
    queue.jobsChanged.connect(lambda: seen.append((canvas.hint, window.stats.text()))
                              if window.session.clip_job is not None else None)
    queue.clipFrame.connect(lambda job, frame: frames.append(canvas.result is not None
                                                             and canvas.result.width() == frame.shape[1]))
    job = window.queue_panel.render_video()
    assert job is not None
    qtbot.waitUntil(lambda: window.session.clip_job == job)
    assert "Press Start" not in canvas.hint and "pan.mp4 (job 1)" in canvas.hint, canvas.hint
    qtbot.waitUntil(lambda: queue.entry(job).status.finished and queue.running_job is None, timeout=TIMEOUT_MS)
    assert queue.entry(job).status is JobStatus.DONE
    assert frames == [True] * FRAMES
    assert seen and not any("Press Start" in hint for hint, _ in seen), seen
    lines = " | ".join(line for _, line in seen)
    assert f"Rendering pan.mp4 (queue job {job}): frame 2 of {FRAMES} done · " in lines, lines
    # the clip is done: the canvas shows the session's picture again (none: no run made one) and says so
    assert canvas.result is None and "Press Start" in canvas.hint
    assert window.stats.text() == f"Rendered pan.mp4 (queue job {job}): painted.mp4 written."


def test_save_png_waits_while_the_canvas_shows_the_clip(video_window, qtbot, save_as: Path):
    window = video_window
    queue, button = window.queue_panel.queue, window.save_panel.png_button
    assert window.run_panel.start()  # a picture of the clip's first frame: Save PNG can save it...
    qtbot.waitUntil(lambda: window.session.result is not None and not window.session.running, timeout=TIMEOUT_MS)
    assert button.isEnabled()
    job = window.queue_panel.render_video()
    qtbot.waitUntil(lambda: window.session.clip_job == job)
    assert not button.isEnabled()  # ... but not while the canvas shows the clip's frames instead
    assert window.save_png() is None and "the clip the queue is rendering" in window.messages.text()
    qtbot.waitUntil(lambda: queue.entry(job).status.finished and queue.running_job is None, timeout=TIMEOUT_MS)
    assert button.isEnabled() and window.canvas.result is not None  # the picture is back, and can be saved


def test_a_damaged_remembered_steadiness_reads_as_the_default(store):
    preferences = Preferences(store)
    for raw in ("nan", "inf", "abc", "500", "-1", ""):
        store.setValue(KEY_STEADINESS, raw)
        assert preferences.video() == VideoSettings(), raw
    preferences.set_video(VideoSettings(steadiness=0.3))
    assert preferences.video() == VideoSettings(steadiness=0.3)
