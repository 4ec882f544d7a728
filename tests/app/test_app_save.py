"""Saving (PNG with settings, GIF of the evolution, mid-run and after a stop), failed saves, restoring the
settings stored in a Fude PNG, and what is remembered between launches."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from app.widgets.export_dialog import ExportDialog
from engine.export import read_png_render
from engine.images import load_image

RUN_TIMEOUT_MS = 60_000


class SaveDialog:
    """Stands in for QFileDialog.getSaveFileName: answers `path` and records what it was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path | None) -> None:
        self.path = path
        self.calls: list[tuple[str, str, str]] = []
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(self))

    def __call__(self, parent, caption: str, suggested: str, file_filter: str):
        self.calls.append((caption, suggested, file_filter))
        return (str(self.path) if self.path else ""), ""


def _run(window, qtbot) -> None:
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()


def test_save_png_and_gif_after_a_run(loaded_window, qtbot, monkeypatch, tmp_path):
    window = loaded_window
    window.session.set_lam(0.3)
    _run(window, qtbot)
    dialog = SaveDialog(monkeypatch, tmp_path / "result")  # no suffix: .png is added
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    png = tmp_path / "result.png"
    assert png.exists(), window.messages.text()
    assert dialog.calls[0][1].endswith("cat_in_wave.png")
    assert np.array_equal(load_image(png), window.session.result)
    stored = read_png_render(png)
    assert stored is not None
    assert stored.settings.lam == 0.3 and stored.settings.size == 64
    assert (stored.content_name, stored.style_name) == ("cat.png", "wave.png")
    assert window.messages.kind == "info" and str(png) in window.messages.text()

    dialog.path = tmp_path / "evolution.gif"
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    export = window.findChild(ExportDialog)  # Save evolution: GIF is the first format offered
    assert export is not None and export.fmt == "gif"
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=10_000):  # animations are written in the background
        export.save()
    gif = tmp_path / "evolution.gif"
    assert gif.exists(), window.messages.text()
    with Image.open(gif) as im:
        assert im.n_frames == 4  # each of the 4 iterations (the last is the finished picture)
        assert im.size == (window.session.result.shape[1], window.session.result.shape[0])
    assert window.preferences.store.value("paths/lastFolder") == str(tmp_path)


def test_save_png_replaces_the_file_named_in_the_dialog_with_the_picture_as_shown(loaded_window, qtbot, monkeypatch,
                                                                                  tmp_path):
    """The name comes from the file dialog (which asked before replacing): a file of that name is replaced, with
    the picture as shown (Keep colours switched on after the run) and the settings the run ended on."""
    window = loaded_window
    _run(window, qtbot)
    window.keep_colours_check.setChecked(True)
    target = tmp_path / "mine.png"
    target.write_bytes(b"an older picture")
    SaveDialog(monkeypatch, target)
    assert window.save_png() == str(target), window.messages.text()
    assert np.array_equal(load_image(target), window.session.result)
    stored = read_png_render(target)
    assert stored is not None and stored.settings.keep_colours
    assert stored.settings == window.session.record.final_settings.replaced(keep_colours=True)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["mine.png"]  # no "mine 2.png"


def test_save_gif_mid_run_and_after_stop(make_window, qtbot, monkeypatch, tmp_path, cat_path, wave_path):
    window = make_window(iterations=500)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=RUN_TIMEOUT_MS)
    dialog = SaveDialog(monkeypatch, tmp_path / "mid.gif")
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=10_000):
        assert window.save_evolution().save() == str(tmp_path / "mid.gif")
    assert window.session.state == "running"  # the run went on while the GIF was written
    with Image.open(tmp_path / "mid.gif") as im:
        assert im.n_frames >= 2
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    dialog.path = tmp_path / "stopped.gif"
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=10_000):
        assert window.save_evolution().save() == str(tmp_path / "stopped.gif")
    assert window.messages.text().startswith(f"Saved {tmp_path / 'stopped.gif'}")
    dialog.path = tmp_path / "stopped.png"
    assert window.save_png() == str(tmp_path / "stopped.png")
    assert np.array_equal(load_image(tmp_path / "stopped.png"), window.session.result)


def test_cancelled_dialog_saves_nothing(loaded_window, qtbot, monkeypatch, tmp_path):
    _run(loaded_window, qtbot)
    SaveDialog(monkeypatch, None)
    assert loaded_window.save_png() is None
    assert loaded_window.save_evolution().save() is None
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.gif"))


def test_nothing_to_save_yet(window, monkeypatch):
    dialog = SaveDialog(monkeypatch, Path("/nowhere.png"))
    assert not window.save_panel.png_button.isEnabled() and not window.save_panel.evolution_button.isEnabled()
    assert window.save_png() is None and window.save_evolution() is None
    assert dialog.calls == [] and window.messages.kind == "info"


def test_save_into_a_missing_folder_shows_an_error_and_keeps_the_picture(loaded_window, qtbot, monkeypatch,
                                                                         tmp_path):
    window = loaded_window
    _run(window, qtbot)
    before = window.session.result
    target = tmp_path / "no such folder" / "out.png"
    SaveDialog(monkeypatch, target)
    assert window.save_png() is None
    assert window.messages.kind == "error"
    assert str(target) in window.messages.text() and "does not exist" in window.messages.text()
    assert window.session.result is before and window.canvas.result is not None
    export = window.save_evolution()
    assert export.save() is None and "does not exist" in export.error.text() and export.isVisible()


def test_save_into_a_read_only_folder_shows_an_error(loaded_window, qtbot, monkeypatch, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root writes anywhere: make the folder refuse the write as it would
            import tempfile

            def refuse(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        window = loaded_window
        _run(window, qtbot)
        before = window.session.result
        SaveDialog(monkeypatch, folder / "out.png")
        assert window.save_png() is None
        text = window.messages.text()
        assert window.messages.kind == "error"
        assert str(folder / "out.png") in text and "not writable" in text, text
        assert window.session.result is before and window.canvas.result is not None
        assert not (folder / "out.png").exists()
    finally:
        folder.chmod(0o755)


def test_dropping_a_fude_png_offers_its_settings(loaded_window, qtbot, monkeypatch, tmp_path):
    window = loaded_window
    window.session.set_lam(0.5)
    window.advanced.seed.setValue(7)
    _run(window, qtbot)
    png = tmp_path / "made.png"
    SaveDialog(monkeypatch, png)
    window.save_png()

    window.session.set_lam(0.01)
    window.advanced.seed.setValue(0)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))  # dropped on the window, outside the panes
    assert window.messages.kind == "info" and "made by Fude" in window.messages.text()
    window.messages.trigger_action()
    assert window.lam_control.lam == 0.5 and window.advanced.seed.value() == 7
    assert window.session.settings.iterations == 4

    # dropped on a pane, it is loaded as a picture (on the style pane, one more painting) and the offer is made too
    window.session.set_lam(0.01)
    window.style_pane.handle_mime(mime)
    assert window.style_pane.images[-1].name == "made.png"
    assert "Restore those settings?" in window.messages.text()


def test_plain_pictures_dropped_on_the_window_point_at_the_panes(window, cat_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(cat_path))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    assert "Content or the Style pane" in window.messages.text()


def test_settings_geometry_and_folder_are_remembered(make_window, tmp_path, wave_path):
    store = QSettings(str(tmp_path / "remember.ini"), QSettings.Format.IniFormat)
    first = make_window(settings_store=store)
    first.session.set_lam(0.7)
    first.advanced.seed.setValue(42)
    first.advanced.optimizer.setCurrentIndex(first.advanced.optimizer.findData("adam"))
    first.resize(780, 540)
    size = first.size()
    assert size.height() == 540
    first.style_pane.load_path(wave_path)
    first.close()
    saved = json.loads(store.value("render/settings"))
    assert saved["lam"] == 0.7 and saved["seed"] == 42 and saved["optimizer"] == "adam"

    second = make_window(settings_store=store)  # (the fixture then sets size and iterations for test runs)
    assert second.lam_control.lam == 0.7
    assert second.advanced.seed.value() == 42
    assert second.advanced.optimizer.currentData() == "adam"
    assert second.size() == size
    assert second.preferences.last_folder() == str(wave_path.parent)
    assert second.content_pane.start_folder == str(wave_path.parent)


def test_defaults_come_from_render_settings(qtbot, store, backends):
    from app.window import MainWindow
    from engine.schedule import most_iterations
    from engine.settings import RenderSettings

    window = MainWindow(store=store, backends=backends)
    qtbot.addWidget(window)
    defaults = RenderSettings()
    assert window.session.settings == defaults
    assert window.lam_control.lam == defaults.lam
    assert window.advanced.iterations.text() == f"auto (up to {most_iterations(defaults)})"
