"""Saves that fail (a full disk, simulated with a failing write since root writes anywhere; an invalid name; a
name too long) say so in one line, leave any existing file as it was and nothing partial beside it, and keep the
picture on the canvas to be saved somewhere else."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from engine.images import load_image

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def rendered(loaded_window, qtbot):
    with qtbot.waitSignal(loaded_window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert loaded_window.run_panel.start()
    return loaded_window


def _answer(monkeypatch, path: str) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (path, "")))


def _disk_full(monkeypatch) -> None:
    def fsync(fd: int) -> None:  # the data went into the page cache; writing it out finds no room
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)


def test_png_onto_a_full_disk_keeps_the_old_file_and_the_picture(rendered, monkeypatch, tmp_path):
    window = rendered
    target = tmp_path / "earlier.png"
    target.write_bytes(b"the user's earlier picture")
    before = window.session.result
    _answer(monkeypatch, str(target))
    with monkeypatch.context() as patch:
        _disk_full(patch)
        assert window.save_png() is None
    text = window.messages.text()
    assert window.messages.kind == "error" and text.startswith(f"{target}: the disk is full"), text
    assert "save it somewhere else" in text and "\n" not in text
    assert target.read_bytes() == b"the user's earlier picture"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []  # nothing partial left
    assert window.session.result is before and window.save_panel.png_button.isEnabled()
    elsewhere = tmp_path / "elsewhere.png"
    _answer(monkeypatch, str(elsewhere))
    assert window.save_png() == str(elsewhere)
    assert np.array_equal(load_image(elsewhere), before)


@pytest.mark.parametrize("name, words", [
    ("bad\0name.png", "is not a valid file name (it contains a NUL character)"),
    ("x" * 300 + ".png", "is not a valid file name here"),
])
def test_png_with_an_invalid_name_says_so(rendered, monkeypatch, tmp_path, name, words):
    window = rendered
    before = window.session.result
    _answer(monkeypatch, str(tmp_path / name))
    assert window.save_png() is None
    assert window.messages.kind == "error" and words in window.messages.text(), window.messages.text()
    assert window.session.result is before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_gif_onto_a_full_disk_keeps_the_old_file(rendered, qtbot, monkeypatch, tmp_path):
    window = rendered
    target = tmp_path / "evolution.gif"
    target.write_bytes(b"an earlier animation")
    _answer(monkeypatch, str(target))
    with monkeypatch.context() as patch:
        _disk_full(patch)
        with qtbot.waitSignal(window.save_panel.animationFailed, timeout=10_000) as failed:
            assert window.save_evolution().save() == str(target)
    assert failed.args[0] == f"{target}: the disk is full"
    assert window.messages.kind == "error" and window.messages.text() == f"{target}: the disk is full"
    assert target.read_bytes() == b"an earlier animation"
    assert not [p for p in Path(tmp_path).iterdir() if p.name.endswith(".part")]
    assert window.session.result is not None


def test_gif_with_an_invalid_name_is_refused_before_writing(rendered, monkeypatch, tmp_path):
    window = rendered
    _answer(monkeypatch, str(tmp_path / "bad\0name.gif"))
    export = window.save_evolution()
    assert export.save() is None
    assert "not a valid file name" in export.error.text() and not window.save_panel.saver.busy
