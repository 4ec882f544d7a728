"""A video job is not lost with the window (issue 26): closing while the queue renders a clip, or a crash, keeps it
whole in the queue's store (its own copy of the clip, the frames finished so far, the video's name), and the next
start offers it back; restored, it goes on from its last finished frame and writes the video under its name in the
queue's folder, leaving its frames beside it. Discarding it at closing leaves its frames beside the video, where
Render video… goes on from them. Real runs: a clip of 4 frames of 48 x 32, a few iterations a frame."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.job_queue import JobStatus
from engine.clip_folder import work_folder_for
from engine.video_io import probe
from tests.app.conftest import CLIP_FRAMES
from tests.qt_actions import drop, file_mime

TIMEOUT_MS = 120_000


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Closing asks what becomes of the queue; the button the test wants is the first item, the texts follow."""
    said: list[str] = ["keep"]
    buttons = {"keep": QMessageBox.StandardButton.Save, "discard": QMessageBox.StandardButton.Discard}

    def answer(box: QMessageBox) -> int:
        said.append(box.informativeText())
        box.button(buttons[said[0]]).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return said


@pytest.fixture
def save_as(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    output = tmp_path / "chosen" / "painted.mp4"
    output.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(output), "")))
    return output


def _rendering(make_window, qtbot, clip: Path, wave_path: Path):
    """A window whose queue is rendering the clip, with at least one frame finished."""
    window = make_window(iterations=6)
    window.advanced.size_spin.setValue(48)
    drop(window.content_pane, file_mime(clip))
    assert window.style_pane.load_path(wave_path)
    job = window.queue_panel.render_video()
    queue = window.queue_panel.queue
    qtbot.waitUntil(lambda: queue.entry(job).progress is not None, timeout=TIMEOUT_MS)
    return window


def _frames(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "frames").glob("*.png"))


def test_a_video_job_kept_at_closing_goes_on_from_its_frames_at_the_next_start(make_window, qtbot, answers, clip,
                                                                              wave_path, save_as, out,
                                                                              recovery_folder):
    window = _rendering(make_window, qtbot, clip, wave_path)
    assert window.close()
    assert "goes on from its last finished frame" in answers[-1], answers
    assert not save_as.exists() and not work_folder_for(save_as).exists()  # all of it is in the store
    store = recovery_folder.parent / "queue"
    kept = [p for p in store.iterdir() if p.is_dir()]
    assert len(kept) == 1 and (kept[0] / "clip.mp4").read_bytes() == clip.read_bytes()
    done_before = _frames(kept[0] / "parts")
    assert 1 <= len(done_before) < CLIP_FRAMES

    again = make_window(iterations=6)  # the next start
    panel = again.queue_panel
    assert len(panel.queue.offered) == 1 and panel.offer.isVisible()
    qtbot.mouseClick(panel.restore_button, Qt.MouseButton.LeftButton)
    entry = panel.queue.entries[0]
    assert entry.job.clip is not None and entry.job.clip.output is None  # no path was read back
    assert "painted.mp4" in panel.list.item(0).text()
    qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)  # the queue's folder: `out`
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.queue.entries[0].status.finished and panel.queue.running_job is None,
                    timeout=TIMEOUT_MS)
    entry = panel.queue.entries[0]
    assert entry.status is JobStatus.DONE, entry.message
    assert entry.plan is not None and entry.plan.done == len(done_before)  # it went on from them
    assert entry.progress is not None and entry.progress.rendered == CLIP_FRAMES - len(done_before)
    written = out / "painted.mp4"
    assert entry.path == str(written) and probe(written).frame_count(probe(written).fps) == CLIP_FRAMES
    assert len(_frames(work_folder_for(written))) == CLIP_FRAMES  # the frames are left beside it, as ever
    assert [p for p in store.iterdir() if p.is_dir()] == []  # nothing of the job is left in the store


def test_discarding_a_video_job_at_closing_leaves_its_frames_beside_the_video(make_window, qtbot, answers, clip,
                                                                              wave_path, save_as, recovery_folder):
    answers[0] = "discard"
    window = _rendering(make_window, qtbot, clip, wave_path)
    assert window.close()
    assert "Discarded, a video leaves the frames it has finished in painted.mp4.parts" in answers[-1], answers
    assert 1 <= len(_frames(work_folder_for(save_as))) < CLIP_FRAMES
    store = recovery_folder.parent / "queue"
    assert [p for p in store.iterdir() if p.is_dir()] == []
    again = make_window()
    assert again.queue_panel.queue.offered == ()
