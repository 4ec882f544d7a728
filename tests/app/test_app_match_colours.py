"""Match colours in the window: the switch and its View menu action (Ctrl+Shift+K) set the setting, the Style pane
shows the paintings in the content's colours while it is on (and follows the content), and a saved PNG carries
the setting back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from app.qimage import to_array
from app.widgets.history_strip import describe_entry
from engine.colour import match_colours
from engine.export import read_png_render
from tests.pictures import cut_out

RUN_TIMEOUT_MS = 60_000


def _shown(window) -> np.ndarray:
    """What the Style pane's preview paints from."""
    return to_array(window.style_pane.qimage)


def _grab(widget: QWidget) -> np.ndarray:
    return to_array(widget.grab().toImage())


def test_the_switch_shows_the_painting_in_the_contents_colours(loaded_window, qtbot, cat, wave, tmp_path):
    window = loaded_window
    picture = window.findChild(QWidget, "stylePicture")
    thumb = window.style_pane.findChild(QLabel, "styleThumb")
    plain_grab, plain_thumb = _grab(picture), thumb.pixmap().toImage()
    assert np.array_equal(_shown(window), wave) and not window.style_pane.showing_matched

    qtbot.mouseClick(window.match_colours_check, Qt.MouseButton.LeftButton)
    assert window.session.settings.match_colours
    assert window.settings_panel.match_colours_action.isChecked()
    matched = match_colours(wave, cat)  # both under 512 px: the preview is made at their own size
    assert np.array_equal(_shown(window), matched) and not np.array_equal(matched, wave)
    assert window.style_pane.showing_matched
    assert not np.array_equal(_grab(picture), plain_grab)
    assert thumb.pixmap().toImage() != plain_thumb

    # another content: the preview follows its colours
    tinted = tmp_path / "tinted.png"
    Image.fromarray((cat * np.array([0.3, 0.6, 1.0])).astype(np.uint8)).save(tinted)
    assert window.content_pane.load_path(tinted)
    assert np.array_equal(_shown(window), match_colours(wave, window.content_pane.image.array))
    assert not np.array_equal(_shown(window), matched)

    window.settings_panel.match_colours_action.trigger()  # the View menu's action: off again
    assert not window.match_colours_check.isChecked() and not window.session.settings.match_colours
    assert np.array_equal(_shown(window), wave) and not window.style_pane.showing_matched
    assert np.array_equal(_grab(picture), plain_grab)
    assert thumb.pixmap().toImage() == plain_thumb

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.match_colours_check.isChecked() and window.session.settings.match_colours


def test_without_a_content_the_paintings_show_as_they_are(window, qtbot, wave_path, wave, cat_path):
    window.style_pane.load_path(wave_path)
    window.match_colours_check.setChecked(True)
    assert np.array_equal(_shown(window), wave) and window.session.match_previews == ()
    window.content_pane.load_path(cat_path)
    assert window.style_pane.showing_matched
    window.content_pane.clear()
    assert np.array_equal(_shown(window), wave) and not window.style_pane.showing_matched


def test_a_transparent_background_does_not_colour_the_painting(window, tmp_path, cat, wave_path, wave):
    cut = cut_out(cat)
    path = tmp_path / "cut.png"
    Image.fromarray(cut).save(path)
    window.content_pane.load_path(path)
    window.style_pane.load_path(wave_path)
    window.match_colours_check.setChecked(True)
    content = window.content_pane.image
    assert content.alpha is not None
    assert np.array_equal(_shown(window), match_colours(wave, content.array, content.alpha))


def test_match_colours_is_stored_in_the_png_and_restored_from_it(loaded_window, qtbot, monkeypatch, tmp_path: Path):
    window = loaded_window
    window.match_colours_check.setChecked(True)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    png = tmp_path / "matched.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(png), "")))
    assert window.save_png() == str(png)
    stored = read_png_render(png)
    assert stored is not None and stored.settings.match_colours is True
    kept = window.history_panel.strip.entries[0]  # the history says so too
    assert "paintings in the content's colours" in describe_entry(kept)

    window.match_colours_check.setChecked(False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))  # dropped on the window: its settings offered
    assert "Restore those settings?" in window.messages.text()
    window.messages.trigger_action()
    assert window.match_colours_check.isChecked() and window.settings_panel.match_colours_action.isChecked()
    assert window.session.settings.match_colours and window.style_pane.showing_matched
    assert "match colours False → True" in window.messages.text()


def test_a_flat_content_keeps_the_paintings_colours_and_the_window_says_so(loaded_window, qtbot, wave, tmp_path):
    """Match colours onto a one-colour creature would turn the painting into one colour: the Style pane shows the
    painting with its own colours, and the window says why (naming the picture)."""
    window = loaded_window
    notes: list[str] = []
    window.session.info.connect(notes.append)
    qtbot.mouseClick(window.match_colours_check, Qt.MouseButton.LeftButton)
    assert not any(note.startswith("Match colours:") for note in notes)  # the cat is matched fully, silently

    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((40, 60, 3), (200, 40, 40), np.uint8)).save(flat)
    assert window.content_pane.load_path(flat)
    said = [note for note in notes if note.startswith("Match colours:")]
    assert len(said) == 1 and "flat.png is one colour" in said[0] and "100 %" in said[0]
    shown = _shown(window)
    assert np.array_equal(shown, wave)  # the painting as it is: its strokes and colours kept
    assert shown.reshape(-1, 3).std(axis=0).min() > 20
