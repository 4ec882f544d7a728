"""The content and style panes: drops (file URLs, raw image data, Qt images, web links), paste, open, clear,
swap, and clear messages for bad input that leave the previous picture in place."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from app.fetch import Fetcher
from app.qimage import to_qimage
from tests.qt_actions import drop, file_mime

PANES = ["content_pane", "style_pane"]


@pytest.mark.parametrize("pane_name", PANES)
def test_drop_file_url(window, cat_path, cat, pane_name):
    pane = getattr(window, pane_name)
    drop(pane, file_mime(cat_path))
    assert pane.image is not None
    assert np.array_equal(pane.image.array, cat)
    assert pane.image.name == "cat.png"
    assert pane.findChild(object, f"{pane.role}Info").text() == f"cat.png · {cat.shape[1]} × {cat.shape[0]}"
    assert window.messages.kind == ""


@pytest.mark.parametrize("pane_name", PANES)
def test_drop_raw_image_data(window, png_bytes, cat, pane_name):
    pane = getattr(window, pane_name)
    mime = QMimeData()
    mime.setData("image/png", png_bytes)
    assert pane.handle_mime(mime)
    assert np.array_equal(pane.image.array, cat)
    assert "dropped picture" in pane.image.name


def test_drop_qt_image_data(window, wave):
    mime = QMimeData()
    mime.setImageData(to_qimage(wave))
    assert window.style_pane.handle_mime(mime)
    assert np.array_equal(window.style_pane.image.array, wave)


def test_paste_image_data_into_the_focused_pane(window, qtbot, wave):
    QGuiApplication.clipboard().setImage(to_qimage(wave))
    window.style_pane.setFocus()
    qtbot.waitUntil(window.style_pane.hasFocus)
    window.paste_action.trigger()
    assert window.style_pane.image is not None
    assert np.array_equal(window.style_pane.image.array, wave)
    assert window.content_pane.image is None


@pytest.mark.parametrize("pane_name", PANES)
def test_a_non_image_file_shows_a_message_and_keeps_the_picture(window, tmp_path, cat_path, wave, pane_name):
    pane = getattr(window, pane_name)
    pane.load_path(cat_path)
    before = pane.image
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    drop(pane, file_mime(bad))
    assert pane.image is before
    assert window.messages.kind == "error"
    assert str(bad) in window.messages.text()
    assert "not an image" in window.messages.text()


def test_a_missing_file_shows_a_message_naming_it(window, tmp_path):
    missing = tmp_path / "gone.png"
    assert not window.content_pane.handle_mime(file_mime(missing))
    assert window.content_pane.image is None
    assert window.messages.kind == "error"
    assert str(missing) in window.messages.text() and "no such file" in window.messages.text()


def test_damaged_image_data_names_the_drop(window, png_bytes, cat_path):
    window.content_pane.load_path(cat_path)
    mime = QMimeData()
    mime.setData("image/png", png_bytes[:200])
    assert not window.content_pane.handle_mime(mime)
    assert window.content_pane.image.name == "cat.png"
    assert "dropped picture (image/png)" in window.messages.text()


def test_something_unusable_dropped(window):
    mime = QMimeData()
    mime.setText("just some words")
    assert not window.content_pane.can_use(mime)
    assert not window.content_pane.handle_mime(mime)
    assert "nothing Fude can use" in window.messages.text()


def test_clear_and_swap(window, cat_path, wave_path):
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    assert window.run_panel.start_button.isEnabled()
    window.swap_button.click()
    assert window.content_pane.image.name == "wave.png"
    assert window.style_pane.image.name == "cat.png"
    window.content_pane.findChild(object, "contentClear").click()
    assert window.content_pane.image is None
    assert not window.run_panel.start_button.isEnabled()
    window.swap_action.trigger()
    assert window.content_pane.image.name == "cat.png" and window.style_pane.image is None


def test_click_on_an_empty_pane_opens_the_file_dialog(window, qtbot, monkeypatch, wave_path):
    asked = []

    def fake_open(parent, caption, folder, file_filter):
        asked.append(caption)
        return str(wave_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    qtbot.mouseClick(window.style_pane, Qt.MouseButton.LeftButton, pos=QPoint(40, 60))
    assert asked == ["Open the style picture"]
    assert window.style_pane.image.name == "wave.png"
    # a click on a pane that has a picture does not open the dialog again
    qtbot.mouseClick(window.style_pane, Qt.MouseButton.LeftButton, pos=QPoint(40, 60))
    assert len(asked) == 1


def test_example_pair_loads(window):
    assert window.example_button.isVisible()
    window.example_button.click()
    assert window.content_pane.image.name == "chelsea.png"
    assert window.style_pane.image.name == "wave.jpg"
    assert not window.example_button.isVisible()


# ---- web drops, against a local server only ----


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def web(tmp_path: Path, png_bytes: bytes) -> Iterator[str]:
    (tmp_path / "cat.png").write_bytes(png_bytes)
    (tmp_path / "big.png").write_bytes(png_bytes * 40)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_pasted_web_url_fetches_the_picture(window, qtbot, web, cat):
    mime = QMimeData()
    mime.setUrls([QUrl(f"{web}/cat.png")])
    with qtbot.waitSignal(window.content_pane.changed, timeout=10_000):
        assert window.content_pane.handle_mime(mime, verb="pasted")
    assert np.array_equal(window.content_pane.image.array, cat)
    assert window.content_pane.image.name == "cat.png"


def test_pasted_link_text_is_fetched(window, qtbot, web, cat):
    mime = QMimeData()
    mime.setText(f"{web}/cat.png\n".strip())
    with qtbot.waitSignal(window.style_pane.changed, timeout=10_000):
        window.style_pane.handle_mime(mime, verb="pasted")
    assert np.array_equal(window.style_pane.image.array, cat)


def test_failed_fetch_names_the_url(window, qtbot, web, cat_path):
    window.content_pane.load_path(cat_path)
    mime = QMimeData()
    mime.setUrls([QUrl(f"{web}/nothing-here.png")])
    with qtbot.waitSignal(window.content_pane.failed, timeout=10_000) as blocker:
        window.content_pane.handle_mime(mime, verb="pasted")
    assert f"{web}/nothing-here.png" in blocker.args[0] and "404" in blocker.args[0]
    assert window.messages.kind == "error" and "404" in window.messages.text()
    assert window.content_pane.image.name == "cat.png"


def test_fetch_size_limit(qtbot, web, png_bytes):
    fetcher = Fetcher(max_bytes=len(png_bytes) * 10)
    with qtbot.waitSignal(fetcher.failed, timeout=10_000) as blocker:
        fetcher.fetch(QUrl(f"{web}/big.png"), allow_local=True)
    assert "too large" in blocker.args[1]


def test_unreachable_server_says_so(window, qtbot):
    import socket

    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mime = QMimeData()
    mime.setUrls([QUrl(f"http://127.0.0.1:{port}/cat.png")])
    with qtbot.waitSignal(window.content_pane.failed, timeout=10_000) as blocker:
        window.content_pane.handle_mime(mime, verb="pasted")
    assert f"127.0.0.1:{port}/cat.png" in blocker.args[0] and "refused" in blocker.args[0]
