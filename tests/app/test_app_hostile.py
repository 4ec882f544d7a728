"""The window against hostile input: names that look like HTML are shown as text, a PNG's stored settings
never choose a file and never set a number outside its range, names of any length stay one bounded line, and a
dropped link never reaches this machine or its network, never gets past the size limit, and fails with the
real reason."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QLabel, QWidget

from app.fetch import Fetcher, is_public_address
from app.preferences import KEY_SETTINGS
from engine.settings import PNG_SETTINGS_KEY, RenderSettings, png_text_chunks

HTML_NAME = '<img src="fude-marker">'


def _rich_shown(window: QWidget, needle: str) -> list[str]:
    """Every label and tooltip of `window` that shows `needle` in a way Qt would render as rich text."""
    found = []
    for label in window.findChildren(QLabel):
        if needle in label.text() and label.textFormat() != Qt.TextFormat.PlainText:
            found.append(f"label {label.objectName() or label.text()[:40]!r}")
    for widget in window.findChildren(QWidget):
        if needle in widget.toolTip():
            found.append(f"tooltip of {type(widget).__name__} {widget.objectName()!r}")
    return found


def _fude_png(path: Path, image: np.ndarray, **values: object) -> Path:
    """A PNG as Fude writes it, its stored record changed by `values`."""
    text = png_text_chunks(RenderSettings(), "cat.png", "wave.png")
    record = json.loads(text[PNG_SETTINGS_KEY])
    record.update(values)
    text[PNG_SETTINGS_KEY] = json.dumps(record)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    Image.fromarray(image).save(path, pnginfo=info)
    return path


# ---- names that look like HTML ----


def test_names_that_look_like_html_are_shown_as_text(window, qtbot, tmp_path, cat_path, wave_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    content = folder / f"{HTML_NAME}.png"
    shutil.copy(cat_path, content)
    style = folder / f"{HTML_NAME} style.png"
    shutil.copy(wave_path, style)
    assert window.content_pane.load_path(content)
    assert window.style_pane.load_path(style)
    broken = folder / f"{HTML_NAME} broken.png"
    broken.write_bytes(b"not a picture")
    window.content_pane.load_path(broken)
    assert window.messages.kind == "error" and HTML_NAME in window.messages.text()
    assert _rich_shown(window, HTML_NAME) == []


def test_a_stored_name_that_looks_like_html_is_shown_as_text(window, tmp_path, cat):
    made = _fude_png(tmp_path / "made.png", cat, content=f"{HTML_NAME}.png", styles=[HTML_NAME])
    window.content_pane.load_path(made)
    assert HTML_NAME in window.messages.text()  # the restore offer quotes it
    assert _rich_shown(window, HTML_NAME) == []


# ---- restoring settings from a PNG ----


def test_restore_never_takes_a_weights_path_and_says_what_changed(window, tmp_path, cat):
    made = _fude_png(tmp_path / "made.png", cat, weights=str(tmp_path / "evil.pth"), lam=0.2, seed=7)
    window.content_pane.load_path(made)
    window.messages.trigger_action()  # "Restore settings"
    settings = window.session.settings
    assert settings.weights == RenderSettings().weights
    assert (settings.lam, settings.seed) == (0.2, 7)
    said = window.messages.text()
    assert "lam 0.05 → 0.2" in said and "seed 0 → 7" in said
    assert "evil.pth" in said and "not used" in said


@pytest.mark.parametrize("values", [{"iterations": 10**12}, {"tv_weight": 1e300}, {"seed": 2**62}])
def test_restore_refuses_numbers_out_of_range(window, tmp_path, cat, values):
    before = window.session.settings
    made = _fude_png(tmp_path / "absurd.png", cat, **values)
    assert window.content_pane.load_path(made)  # the picture itself is fine
    assert window.messages.kind == "error"
    assert "absurd.png" in window.messages.text() and next(iter(values)) in window.messages.text()
    assert window.session.settings == before


def test_stored_window_settings_that_are_damaged_or_name_a_file_are_not_used(make_window, store, tmp_path):
    store.setValue(KEY_SETTINGS, "[" * 100_000)
    assert make_window(settings_store=store).session.settings.lam == RenderSettings().lam
    store.setValue(KEY_SETTINGS, json.dumps({**RenderSettings(lam=0.3).to_dict(), "weights": str(tmp_path / "w.pth")}))
    window = make_window(settings_store=store)
    assert window.session.settings.lam == 0.3
    assert window.session.settings.weights == RenderSettings().weights


# ---- names of any length ----


def test_a_huge_name_stays_one_bounded_line(window, qtbot):
    name = "n" * 200_000 + ".png"
    start = time.monotonic()
    window.content_pane.load_bytes(b"not a picture", name)
    window.messages.repaint()
    assert time.monotonic() - start < 5
    assert window.messages.kind == "error" and len(window.messages.text()) < 2100
    assert window.content_pane.load_bytes(Image_bytes(), "x" * 60_000 + ".png")
    assert len(window.content_pane.image.name) <= 200 and window.content_pane.image.name.endswith(".png")
    assert window.style_pane.load_bytes(Image_bytes(), "y" * 250 + ".png")
    assert window.minimumSizeHint().width() < 1000  # long names are wrapped or elided, never widen the window


def Image_bytes() -> bytes:  # noqa: N802 - a small real PNG
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- links ----


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests = 0
    sent = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/endless":  # no Content-Length: only counting the bytes can stop it
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(4096):  # up to 256 MB
                    self.wfile.write(chunk)
                    self.server.sent += len(chunk)
            except OSError:
                pass
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _url(server: _Server, path: str) -> QUrl:
    return QUrl(f"http://127.0.0.1:{server.server_address[1]}{path}")


def test_a_dropped_link_to_this_machine_is_refused(window, qtbot, server):
    for host in ("127.0.0.1", "localhost"):
        mime = QMimeData()
        mime.setUrls([QUrl(f"http://{host}:{server.server_address[1]}/cat.png")])
        with qtbot.waitSignal(window.content_pane.failed, timeout=10_000) as blocker:
            window.content_pane.handle_mime(mime)
        assert "local network" in blocker.args[0] and "Paste" in blocker.args[0]
    assert server.requests == 0


def test_a_redirect_off_the_web_reports_the_real_reason(qtbot, server):
    fetcher = Fetcher()
    with qtbot.waitSignal(fetcher.failed, timeout=10_000) as blocker:
        fetcher.fetch(_url(server, "/to-file"), allow_local=True)
    reason = blocker.args[1]
    assert "file:///etc/passwd" in reason and "not an http(s) address" in reason and "302" not in reason


def test_the_size_limit_counts_bytes_as_they_arrive(qtbot, server):
    fetcher = Fetcher(max_bytes=256 * 1024)
    fetched: list[bytes] = []
    fetcher.fetched.connect(lambda data, url: fetched.append(data))
    with qtbot.waitSignal(fetcher.failed, timeout=20_000) as blocker:
        fetcher.fetch(_url(server, "/endless"), allow_local=True)
    assert "too large" in blocker.args[1]
    assert not fetched
    qtbot.wait(200)
    assert server.sent < 32 * 2**20  # stopped near the limit (plus what the sockets buffer), not at the end


@pytest.mark.parametrize(("address", "public"), [
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("fd00::1", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("not an address", False),
])
def test_public_addresses(address, public):
    assert is_public_address(address) is public


# ---- files that are not pictures at all ----


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
def test_devices_fifos_and_postscript_dropped_on_the_window_are_refused_at_once(window, tmp_path, cat_path):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    eps = tmp_path / "drawing.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n")
    assert window.content_pane.load_path(cat_path)
    for bad in (Path("/dev/zero"), fifo, eps, tmp_path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(bad))])
        start = time.monotonic()
        assert not window.content_pane.handle_mime(mime)
        assert time.monotonic() - start < 5
        assert window.messages.kind == "error" and str(bad) in window.messages.text()
        assert window.content_pane.image.name == "cat.png"  # the picture that was there stays
