"""The Save evolution dialog: it measures the exact file size off the GUI thread (showing "measuring…" until then),
writes a readable GIF, WebP and MP4 of the frames and options chosen, remembers the choice, and a save that fails
names the file and the problem and leaves the old file as it was."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.widgets.export_dialog import ExportDialog
from engine.errors import ExportError
from engine.export import encode_animation
from tests.pictures import gradient

RUN_TIMEOUT_MS = 60_000
MEASURE_TIMEOUT_MS = 60_000


def _frames(count: int = 8) -> list[np.ndarray]:
    """A small evolution: from dark to the gradient, the finished picture last."""
    final = gradient(64, 48)
    return [(final * (i / (count - 1))).astype(np.uint8) for i in range(count)]


def _answer(monkeypatch: pytest.MonkeyPatch, path: Path | str) -> list[tuple[str, str]]:
    asked: list[tuple[str, str]] = []

    def dialog(parent, caption, suggested, file_filter):
        asked.append((suggested, file_filter))
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    return asked


def _measured(dialog: ExportDialog, qtbot) -> int:
    qtbot.waitUntil(lambda: dialog.measured_size() is not None, timeout=MEASURE_TIMEOUT_MS)
    return dialog.measured_size()


def _frame_count(path: Path, fmt: str) -> int:
    if fmt == "mp4":
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        assert meta["size"] == (64, 48)
        return sum(1 for _ in reader)
    with Image.open(path) as animation:
        assert animation.format == fmt.upper()
        return animation.n_frames


def _make_dialog(qtbot, tmp_path: Path) -> ExportDialog:
    made = ExportDialog(_frames(), str(tmp_path / "evolution"))
    qtbot.addWidget(made)
    made.show()
    return made


@pytest.fixture
def dialog(qtbot, tmp_path):
    return _make_dialog(qtbot, tmp_path)


def test_the_dialog_shows_the_exact_size_and_writes_each_format(qtbot, monkeypatch, tmp_path):
    frames = _frames()
    for fmt in ("gif", "webp", "mp4"):
        dialog = _make_dialog(qtbot, tmp_path)  # saving closes the dialog: a new one for each format
        dialog.format.setCurrentIndex(dialog.format.findData(fmt))
        dialog.frames.setValue(5)
        assert dialog.file_size.text() == "measuring…"  # until the encoding off the GUI thread is done
        size = _measured(dialog, qtbot)
        assert size == len(encode_animation(frames, fmt, dialog.options()))
        assert dialog.file_size.text().endswith(("bytes", "kB", "MB"))
        target = tmp_path / f"evolution_{fmt}"
        asked = _answer(monkeypatch, target)  # no suffix given: the format's is added
        with qtbot.waitSignal(dialog.chosen) as chosen:
            assert dialog.save() == f"{target}.{fmt}"
        assert asked[0][0] == str(tmp_path / f"evolution.{fmt}") and f"*.{fmt}" in asked[0][1]
        assert not dialog.isVisible()
        choice = chosen.args[0]
        written = choice.write()
        assert written.stat().st_size == size  # the very file that was measured
        assert _frame_count(written, fmt) == (5 if fmt != "mp4" else 4 + round(2500 / 80))


def test_changing_a_choice_measures_again_and_a_known_one_is_shown_at_once(dialog, qtbot):
    first = _measured(dialog, qtbot)
    dialog.frame_ms.setValue(200)  # the same frames at another pace: a different file
    assert dialog.file_size.text() == "measuring…"
    second = _measured(dialog, qtbot)
    assert second == len(encode_animation(_frames(), "gif", dialog.options()))
    dialog.frames.setValue(2)
    third = _measured(dialog, qtbot)
    assert third < second  # fewer frames, smaller file
    dialog.frames.setValue(8)  # back to a choice already measured: no wait
    assert dialog.measured_size() == second and dialog.file_size.text() != "measuring…"
    assert "8 frames" in dialog.summary.text()
    assert first > 0


def test_the_size_choice_scales_the_animation(qtbot, monkeypatch, tmp_path):
    big = [np.kron(image, np.ones((8, 8, 1), np.uint8)) for image in _frames(3)]  # 512 x 384
    dialog = ExportDialog(big, str(tmp_path / "e"))
    qtbot.addWidget(dialog)
    assert dialog.side_combo.itemData(0) is None and "512 px" in dialog.side_combo.itemText(0)
    assert [dialog.side_combo.itemData(i) for i in range(1, dialog.side_combo.count())] == [256, 384]
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    full = dialog.wait_measured()
    dialog.side_combo.setCurrentIndex(dialog.side_combo.findData(256))
    small = dialog.wait_measured()
    assert small is not None and full is not None and small < full
    choice_path = tmp_path / "small.webp"
    _answer(monkeypatch, choice_path)
    with qtbot.waitSignal(dialog.chosen) as chosen:
        dialog.save()
    chosen.args[0].write()
    with Image.open(choice_path) as animation:
        assert animation.size == (256, 192)


def test_a_format_that_cannot_be_made_says_why(dialog, qtbot, monkeypatch):
    def no_ffmpeg(images, fmt, options, target=None):
        if fmt == "mp4":
            raise ExportError("mp4 animation", "MP4 needs ffmpeg, which was not found")
        return encode_animation(images, fmt, options, target)

    monkeypatch.setattr("app.widgets.export_dialog.encode_animation", no_ffmpeg)
    dialog.format.setCurrentIndex(dialog.format.findData("mp4"))
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=MEASURE_TIMEOUT_MS)
    assert dialog.file_size.text() == "cannot be made"
    assert dialog.error.text() == "MP4: MP4 needs ffmpeg, which was not found"
    dialog.format.setCurrentIndex(dialog.format.findData("gif"))
    assert not dialog.error.isVisible()
    assert _measured(dialog, qtbot) > 0


def test_a_name_that_cannot_be_written_keeps_the_dialog_open(dialog, qtbot, monkeypatch, tmp_path):
    target = tmp_path / "no such folder" / "e.gif"
    _answer(monkeypatch, target)
    with qtbot.assertNotEmitted(dialog.chosen):
        assert dialog.save() is None
    assert dialog.isVisible() and dialog.error.isVisible()
    assert dialog.error.text() == f"{target}: the folder {target.parent} does not exist"


def test_saving_before_the_measurement_encodes_the_file_itself(dialog, qtbot, monkeypatch, tmp_path):
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    _answer(monkeypatch, tmp_path / "quick.webp")
    with qtbot.waitSignal(dialog.chosen) as chosen:
        dialog.save()  # at once, before the delayed measurement has even started
    choice = chosen.args[0]
    assert choice.data is None
    assert _frame_count(choice.write(), "webp") == 8


# ---- in the window ----


@pytest.fixture
def rendered(loaded_window, qtbot):
    with qtbot.waitSignal(loaded_window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert loaded_window.run_panel.start()
    return loaded_window


def _open_dialog(window, qtbot) -> ExportDialog:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.findChild(ExportDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_save_evolution_from_the_window_in_each_format(rendered, qtbot, monkeypatch, tmp_path, fmt):
    window = rendered
    button = window.save_panel.evolution_button
    assert button.isEnabled() and button.text() == "Save evolution…"
    dialog = _open_dialog(window, qtbot)
    assert dialog.frames.maximum() == 4 and dialog.frames.value() == 4  # the 4 iterations of the run
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    size = _measured(dialog, qtbot)
    target = tmp_path / f"evolution.{fmt}"
    asked = _answer(monkeypatch, target)
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=30_000):
        dialog.save()
    assert asked[0][0].endswith(f"cat_in_wave.{fmt}")
    assert target.stat().st_size == size
    height, width = window.session.result.shape[:2]
    if fmt == "mp4":
        reader = imageio_ffmpeg.read_frames(str(target))
        assert next(reader)["size"] == (width - width % 2, height - height % 2)
        assert sum(1 for _ in reader) > 4
    else:
        with Image.open(target) as animation:
            assert animation.n_frames == 4 and animation.size == (width, height)
    assert window.messages.text().startswith(f"Saved {target}")


def test_the_window_remembers_the_last_choice(rendered, qtbot, monkeypatch, tmp_path):
    window = rendered
    dialog = window.save_evolution()
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    dialog.frames.setValue(3)
    dialog.frame_ms.setValue(150)
    _answer(monkeypatch, tmp_path / "first.webp")
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=30_000):
        dialog.save()
    again = window.save_evolution()
    assert again.fmt == "webp" and again.frames.value() == 3 and again.frame_ms.value() == 150
    again.reject()


def test_a_failed_save_names_the_file_and_leaves_the_old_one(rendered, qtbot, monkeypatch, tmp_path):
    window = rendered
    target = tmp_path / "evolution.gif"
    target.write_bytes(b"an earlier animation")
    dialog = window.save_evolution()
    _measured(dialog, qtbot)
    _answer(monkeypatch, target)

    def fsync(fd: int) -> None:  # the data went into the page cache; writing it out finds no room
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        with qtbot.waitSignal(window.save_panel.animationFailed, timeout=30_000):
            dialog.save()
    assert window.messages.kind == "error" and window.messages.text() == f"{target}: the disk is full"
    assert target.read_bytes() == b"an earlier animation"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert window.session.result is not None and window.save_panel.evolution_button.isEnabled()


def test_nothing_to_save_yet(window, monkeypatch):
    asked = _answer(monkeypatch, "/nowhere.gif")
    assert not window.save_panel.evolution_button.isEnabled()
    assert window.save_evolution() is None
    assert window.messages.kind == "info" and "no evolution" in window.messages.text()
    assert asked == [] and window.findChild(ExportDialog) is None
