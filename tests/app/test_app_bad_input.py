"""Every bad picture the command line refuses (tests/pictures.py: missing, not an image, empty, truncated, a
folder, a decompression bomb) is refused by the window in the very same words, whichever way it arrives: dropped,
pasted or opened, as a file or as raw data; and the picture that was there stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog

from tests.pictures import write_broken
from tests.qt_actions import drop, file_mime

ROOT = Path(__file__).resolve().parents[2]
CASES = ["missing", "not_an_image", "empty", "truncated", "folder", "bomb"]
BYTES_CASES = ["not_an_image", "empty", "truncated", "bomb"]  # those that have bytes to paste or drop


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    return write_broken(tmp_path_factory.mktemp("broken"))


@pytest.fixture(scope="module")
def cli_says(broken, wave_path) -> dict[str, str]:
    """What the command line prints for each bad content picture, without its `error: ` prefix."""
    said = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for case in CASES:
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "render", str(broken[case]), str(wave_path),
                                 "-o", os.devnull + ".png"], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ")
        said[case] = line.removeprefix("error: ")
    return said


def _deliver(window, pane, how: str, mime: QMimeData | None, path: Path, monkeypatch) -> None:
    if how == "drop":
        drop(pane, mime)
    elif how == "paste":
        QGuiApplication.clipboard().setMimeData(mime)
        pane.setFocus()
        window.paste_action.trigger()
    else:  # the open dialog
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(path), "")))
        pane.open_dialog()


@pytest.mark.parametrize("how", ["drop", "paste", "open"])
@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_refused_as_the_command_line_refuses_it(window, qtbot, broken, cli_says, cat_path, monkeypatch,
                                                             case, how):
    # (a file that is no picture is refused on the Style pane: the Content pane also tries it as a clip, and its
    # message says so; tests/app/test_app_video.py checks that one)
    pane = window.style_pane if case in ("truncated", "bomb", "not_an_image") else window.content_pane
    assert pane.load_path(cat_path)
    before = pane.image
    _deliver(window, pane, how, file_mime(broken[case]), broken[case], monkeypatch)
    assert pane.image is before, "the previous picture was replaced"
    assert window.messages.kind == "error"
    assert window.messages.text() == cli_says[case]


@pytest.mark.parametrize("how", ["drop", "paste"])
@pytest.mark.parametrize("case", BYTES_CASES)
def test_bad_picture_data_is_refused_for_the_same_reason(window, broken, cli_says, cat_path, monkeypatch, case, how):
    pane = window.content_pane
    assert pane.load_path(cat_path)
    before = pane.image
    mime = QMimeData()
    mime.setData("image/png", broken[case].read_bytes())
    _deliver(window, pane, how, mime, broken[case], monkeypatch)
    verb = "dropped" if how == "drop" else "pasted"
    reason = cli_says[case].split(": ", 1)[1]
    assert pane.image is before
    assert window.messages.text() == f"{verb} picture (image/png): {reason}"


def test_a_decoded_picture_over_the_bomb_limit_is_refused_too(window, cat_path, monkeypatch):
    """A picture another program already decoded (pasted as an image, not as file data) is held to the same
    pixel limit as a file: a bomb must not get in through the clipboard."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    pane = window.content_pane
    assert pane.load_path(cat_path) is False  # 128 x 85 is over the (lowered) limit: the file is refused ...
    monkeypatch.undo()
    assert pane.load_path(cat_path)
    before = pane.image
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(0x336699)
    mime = QMimeData()
    mime.setImageData(image)
    QGuiApplication.clipboard().setMimeData(mime)
    pane.setFocus()
    window.paste_action.trigger()  # ... and so is the same size pasted as an image
    assert pane.image is before
    assert window.messages.text() == ("pasted picture: is 40x30 (0 megapixels), more than the 0 megapixel limit for "
                                      "safe decoding (possible decompression bomb)")
