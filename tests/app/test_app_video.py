"""A video in the window (issue 26): a clip dropped on the Content pane shows its first frame and its length, and
Start previews that frame; Render video… is offered only for a clip and a painting, queues the whole clip, and the
queue renders it (real runs: a clip of 4 frames of 48 x 32, 2 iterations a frame) with its row following the
frames; cancelling keeps the finished frames, and Render video… again goes on from them; a file that is neither a
picture nor a video is one clear message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.job_queue import JobStatus
from engine.clip_folder import work_folder_for
from engine.export import ffmpeg_executable
from engine.images import resize
from engine.regions import Regions
from engine.video_io import first_frame, probe
from tests.qt_actions import drop, file_mime

FRAMES = 4
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, cat: np.ndarray) -> Path:
    """A pan across the cat: FRAMES frames of 48 x 32 at 10 frames a second, as H.264."""
    canvas = resize(cat, 64, 40)
    frames = [np.ascontiguousarray(canvas[4:36, 3 * k:3 * k + 48]) for k in range(FRAMES)]
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    command = [ffmpeg_executable(path), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
               "rgb24", "-s", "48x32", "-framerate", "10", "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(path)]
    subprocess.run(command, input=b"".join(f.tobytes() for f in frames), check=True, timeout=60)
    return path


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
