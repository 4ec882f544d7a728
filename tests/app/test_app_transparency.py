"""A creature cut out on a transparent background, through the window: the content pane keeps its alpha channel
(a dropped file, dropped bytes, a pasted image), the run's result and the saved PNG carry it exactly, the canvas,
the content pane and the history show a checkerboard where it is transparent, and a history picture keeps it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QRect, QSize
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QWidget

from app.qimage import to_qimage, to_rgba_array
from app.widgets.preview_canvas import CompareMode, fit_rect
from engine.transparency import flatten, split_alpha
from tests.pictures import cut_out
from tests.qt_actions import drop, file_mime

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def cut_cat(cat) -> np.ndarray:
    """The cat cut out: opaque in a soft-edged ellipse, transparent in the corners (H x W x 4)."""
    return cut_out(cat)


@pytest.fixture
def cut_cat_path(tmp_path: Path, cut_cat: np.ndarray) -> Path:
    path = tmp_path / "cut_cat.png"
    Image.fromarray(cut_cat).save(path)
    return path


def _run(window, qtbot) -> None:
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()


def _save_to(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(path), "")))


def _corner_colours(widget: QWidget, picture: QSize, margin: int = 12) -> set[tuple[int, int, int]]:
    """The colours of a 16 px block at the bottom-left corner (the captions are at the top) of where `widget`
    draws a `picture`-sized picture scaled to fit inside a `margin` (the canvas's and the history view's way)."""
    frame = fit_rect(picture, widget.rect().adjusted(margin, margin, -margin, -margin))
    return _colours(widget.grab().toImage(), _corner(frame))


def _corner(frame: QRect) -> QRect:
    return QRect(frame.x() + 1, frame.bottom() - 16, 16, 16)


def _colours(image: QImage, block: QRect) -> set[tuple[int, int, int]]:
    pixels = to_rgba_array(image)[block.top():block.bottom() + 1, block.left():block.right() + 1, :3]
    return {tuple(int(v) for v in colour) for colour in pixels.reshape(-1, 3)}


def _is_checkerboard(colours: set[tuple[int, int, int]]) -> bool:
    """Two different greys, and nothing else."""
    return len(colours) == 2 and all(r == g == b for r, g, b in colours)


def test_a_cut_out_content_keeps_its_alpha_through_the_run_the_canvas_and_the_save(
        make_window, qtbot, monkeypatch, tmp_path, cut_cat_path, cut_cat, wave_path):
    window = make_window()
    height, width = cut_cat.shape[:2]
    window.advanced.size_spin.setValue(max(height, width))  # the run at the content's own size
    drop(window.content_pane, file_mime(cut_cat_path))
    content = window.content_pane.image
    assert content is not None and np.array_equal(content.alpha, cut_cat[..., 3])
    assert window.session.content is content
    assert "with transparency" in window.findChild(QWidget, "contentInfo").text()
    assert _is_checkerboard(_colours(window.findChild(QWidget, "contentPicture").grab().toImage(),
                                     _content_corner(window)))
    assert window.style_pane.load_path(wave_path)
    _run(window, qtbot)

    result = window.session.result
    assert result.shape == (height, width, 4)
    assert np.array_equal(result[..., 3], cut_cat[..., 3])  # exactly the file's alpha
    assert window.canvas.result.hasAlphaChannel()
    picture = QSize(width, height)
    assert _is_checkerboard(_corner_colours(window.canvas, picture))

    out = tmp_path / "saved.png"
    _save_to(monkeypatch, out)
    assert window.save_png() == str(out)
    with Image.open(out) as saved:
        assert saved.mode == "RGBA"
        pixels = np.asarray(saved)
    assert np.array_equal(pixels[..., 3], cut_cat[..., 3]) and np.array_equal(pixels, result)

    # Before and Split show the content, transparent where it is, and the result
    for mode in (CompareMode.CONTENT, CompareMode.SPLIT):
        window.compare.set_mode(mode)
        assert _is_checkerboard(_corner_colours(window.canvas, picture)), mode
        assert not window.canvas.grab().toImage().isNull()
    window.compare.set_mode(CompareMode.RESULT)

    # the evolution as WebP keeps the alpha: its last frame is the finished picture
    dialog = window.save_evolution()
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    evolution = tmp_path / "evolution.webp"
    _save_to(monkeypatch, evolution)
    with qtbot.waitSignal(window.save_panel.animationSaved, timeout=30_000):
        dialog.save()
    with Image.open(evolution) as animation:
        animation.seek(animation.n_frames - 1)
        last = np.asarray(animation.convert("RGBA"))
    assert np.array_equal(last[..., 3], cut_cat[..., 3])

    # a user's Keep colours keeps the alpha too
    window.keep_colours_check.setChecked(True)
    assert window.session.result.shape == (height, width, 4)
    assert np.array_equal(window.session.result[..., 3], cut_cat[..., 3])


def _content_corner(window) -> QRect:
    """The 16 px block at the bottom-left corner of the content pane's picture."""
    area = window.findChild(QWidget, "contentPicture").rect().adjusted(1, 1, -1, -1)
    return _corner(fit_rect(window.content_pane.qimage.size(), area))


def test_an_opaque_content_shows_no_checkerboard(loaded_window, qtbot, cat):
    window = loaded_window
    assert window.content_pane.image.alpha is None
    _run(window, qtbot)
    result = window.session.result
    assert result.shape[2] == 3 and not window.canvas.result.hasAlphaChannel()
    assert not _is_checkerboard(_corner_colours(window.canvas, QSize(result.shape[1], result.shape[0])))
    assert not _is_checkerboard(_colours(window.findChild(QWidget, "contentPicture").grab().toImage(),
                                         _content_corner(window)))


def test_the_history_keeps_a_transparent_picture(make_window, qtbot, monkeypatch, tmp_path, cut_cat_path, cut_cat,
                                                 wave_path):
    window = make_window(history_folder=tmp_path / "history")
    height, width = cut_cat.shape[:2]
    window.advanced.size_spin.setValue(max(height, width))
    drop(window.content_pane, file_mime(cut_cat_path))
    window.style_pane.load_path(wave_path)
    with qtbot.waitSignal(window.history_panel.strip.added, timeout=RUN_TIMEOUT_MS) as added:
        _run(window, qtbot)
    entry = added.args[0]
    kept = window.history_panel.history.image(entry)
    assert np.array_equal(kept, window.session.result) and kept.shape[2] == 4

    window.history_panel.strip.select([entry.key])  # a click on it: shown in the canvas's place
    assert window.history_panel.showing
    view = window.history_panel.view
    assert _is_checkerboard(_corner_colours(view, QSize(width, height)))

    out = tmp_path / "again.png"
    _save_to(monkeypatch, out)
    assert window.save_png() == str(out)  # the history picture shown, saved again
    with Image.open(out) as saved:
        assert np.array_equal(np.asarray(saved)[..., 3], cut_cat[..., 3])


def test_dropped_bytes_and_a_pasted_image_keep_their_alpha_in_the_content_pane_only(window, qtbot, cut_cat):
    buffer = io.BytesIO()
    Image.fromarray(cut_cat).save(buffer, format="PNG")
    mime = QMimeData()
    mime.setData("image/png", buffer.getvalue())  # a picture dragged from a web page
    assert window.content_pane.handle_mime(mime)
    colours, alpha = split_alpha(cut_cat)
    assert np.array_equal(window.content_pane.image.alpha, alpha)
    assert np.array_equal(window.content_pane.image.array, colours)

    window.content_pane.clear()
    QGuiApplication.clipboard().setImage(to_qimage(cut_cat))
    window.content_pane.setFocus()
    qtbot.waitUntil(window.content_pane.hasFocus)
    window.paste_action.trigger()
    pasted = window.content_pane.image
    assert pasted is not None and np.array_equal(pasted.alpha, cut_cat[..., 3])
    assert np.array_equal(pasted.array, colours)

    window.style_pane.setFocus()  # a painting never carries alpha: flattened onto white
    qtbot.waitUntil(window.style_pane.hasFocus)
    window.paste_action.trigger()
    style = window.style_pane.image
    assert style is not None and style.alpha is None
    assert np.array_equal(style.array, flatten(cut_cat))


def test_an_opaque_picture_with_an_alpha_channel_is_opaque(window, tmp_path, cat):
    path = tmp_path / "opaque_rgba.png"
    Image.fromarray(np.dstack([cat, np.full(cat.shape[:2], 255, np.uint8)])).save(path)
    assert window.content_pane.load_path(path)
    assert window.content_pane.image.alpha is None
    assert np.array_equal(window.content_pane.image.array, cat)
    assert "with transparency" not in window.findChild(QWidget, "contentInfo").text()


def test_qimages_round_trip_with_straight_alpha(cut_cat):
    image = to_qimage(cut_cat)
    assert image.hasAlphaChannel() and (image.width(), image.height()) == (cut_cat.shape[1], cut_cat.shape[0])
    assert np.array_equal(to_rgba_array(image), cut_cat)  # straight, not premultiplied: the colours survive
    opaque = to_rgba_array(to_qimage(cut_cat[..., :3]))
    assert np.array_equal(opaque[..., :3], cut_cat[..., :3]) and (opaque[..., 3] == 255).all()
