"""The history strip: finished and stopped runs are kept (and survive a new window on the same folder), a click
shows one with its settings, Ctrl+click compares two side by side, the context menu saves or removes one, the
size limit is a setting that prunes, and a picture that cannot be kept is said so."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from app.qimage import to_array
from engine.export import read_png_render
from engine.history import HistoryStore
from engine.images import load_image
from engine.settings import RenderSettings, png_text_chunks
from tests.app.conftest import RUN_ITERATIONS, RUN_SIZE

RUN_TIMEOUT_MS = 60_000
KEEP_TIMEOUT_MS = 30_000


def noise(seed: int, width: int = 96, height: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def chunks(lam: float, styles: str | list[str] = "wave.png", **changes: object) -> dict[str, str]:
    return png_text_chunks(RenderSettings(lam=lam, size=96, iterations=10, **changes), "cat.png", styles)


@pytest.fixture
def history_folder(tmp_path: Path) -> Path:
    return tmp_path / "history"


@pytest.fixture
def open_window(make_window, history_folder: Path):
    """A window on the test's history folder, set up for tiny quick runs."""

    def make(iterations: int = RUN_ITERATIONS, settings_store: QSettings | None = None):
        return make_window(settings_store, iterations, history_folder=history_folder)

    return make


def _load(window, cat_path: Path, wave_path: Path) -> None:
    assert window.content_pane.load_path(cat_path)
    assert window.style_pane.load_path(wave_path)


def _click(qtbot, window, row: int, ctrl: bool = False) -> None:
    strip = window.history_panel.strip.list
    rect = strip.visualItemRect(strip.item(row))
    modifier = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def _answer_save(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(path), "")))


def _menu_action(window, entry, text: str):
    menu = window.history_panel.strip.context_menu(entry)
    matches = [a for a in menu.actions() if a.text() == text]
    assert matches, [a.text() for a in menu.actions()]
    return matches[0]


def test_finished_and_stopped_runs_are_kept_and_survive_a_new_window(open_window, qtbot, cat_path, wave_path,
                                                                      history_folder):
    window = open_window()
    _load(window, cat_path, wave_path)
    window.session.set_lam(0.3)
    with qtbot.waitSignal(window.history_panel.strip.added, timeout=KEEP_TIMEOUT_MS) as added:
        with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
            assert window.run_panel.start()
    finished = added.args[0]
    assert finished.finished and finished.stored.settings.lam == 0.3
    assert finished.stored.content_name == "cat.png" and finished.stored.style_names == ("wave.png",)
    # what Save PNG would write
    assert np.array_equal(window.history_panel.history.image(finished), window.session.result)

    window.advanced.iterations.setValue(500)
    shown = window.canvas.frames_shown
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= shown + 2, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.history_panel.strip.added, timeout=KEEP_TIMEOUT_MS) as added:
        with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
            window.session.stop()
    stopped = added.args[0]
    assert not stopped.finished
    assert [e.key for e in window.history_panel.strip.entries] == [stopped.key, finished.key]  # newest first
    assert window.history_panel.strip.list.item(0).text().startswith("■")  # stopped early
    assert "2 pictures" in window.history_panel.strip.summary.text()
    window.close()

    again = open_window()  # a restart: the same strip, from the same folder
    assert [e.key for e in again.history_panel.strip.entries] == [stopped.key, finished.key]
    assert [e.finished for e in again.history_panel.strip.entries] == [False, True]
    assert not again.history_panel.showing


def test_closing_during_a_run_keeps_the_picture_so_far(open_window, qtbot, cat_path, wave_path):
    window = open_window(iterations=500)
    _load(window, cat_path, wave_path)
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 2, timeout=RUN_TIMEOUT_MS)
    window.close()  # stops the run; the stopped picture still reaches the history before the window is gone
    assert not [t for t in threading.enumerate() if t.name.startswith("fude-history")]  # and nothing is left
    again = open_window()
    entries = again.history_panel.strip.entries
    assert len(entries) == 1 and not entries[0].finished


def test_one_click_shows_a_picture_and_its_settings_two_compare(open_window, qtbot, history_folder):
    store = HistoryStore(history_folder)
    pictures = [noise(1), noise(2, 64, 96), noise(3)]
    store.add(pictures[0], chunks(0.01), finished=True)
    store.add(pictures[1], chunks(0.2, ["wave.png", "starry.png"], style_weights=(3.0, 1.0)), finished=False)
    store.add(pictures[2], chunks(0.5, style_scale=2.0), finished=True)
    window = open_window()
    strip = window.history_panel.strip
    assert strip.list.count() == 3
    assert not window.history_panel.showing

    _click(qtbot, window, 1)  # the middle one: the second picture
    assert window.history_panel.showing
    [(shown, caption)] = window.history_panel.view.pictures
    assert np.array_equal(to_array(shown), pictures[1]) and "stopped" in caption
    info = window.history_panel.info.text()
    assert "lam 0.2" in info and "96 px" in info and "10 iterations" in info and "stopped early" in info
    assert "wave.png 75% + starry.png 25%" in info

    _click(qtbot, window, 0, ctrl=True)  # the newest: compared side by side, in the order picked
    left, right = window.history_panel.view.pictures
    assert np.array_equal(to_array(left[0]), pictures[1]) and np.array_equal(to_array(right[0]), pictures[2])
    rects = window.history_panel.view.picture_rects()
    assert rects[0].right() < rects[1].left()  # side by side, not overlapping
    lines = window.history_panel.info.text().splitlines()
    assert lines[0].startswith("Left: ") and "lam 0.2" in lines[0]
    assert lines[1].startswith("Right: ") and "lam 0.5" in lines[1] and "style scale 2" in lines[1]

    _click(qtbot, window, 2, ctrl=True)  # a third pick lets go of the first
    assert [e.stored.settings.lam for e in strip.selected()] == [0.5, 0.01]
    assert len(window.history_panel.view.pictures) == 2

    window.compare.group.buttons()[0].click()  # "Result": back to the render's canvas
    assert not window.history_panel.showing and strip.selected() == []
    assert not strip.list.selectedItems()


def test_save_and_remove_from_the_context_menu(open_window, qtbot, monkeypatch, tmp_path, history_folder):
    store = HistoryStore(history_folder)
    older = store.add(noise(4), chunks(0.07), finished=True)
    newer = store.add(noise(5), chunks(0.4), finished=False)
    window = open_window()

    target = tmp_path / "kept"
    _answer_save(monkeypatch, target)  # the suffix is added
    _menu_action(window, older, "Save as PNG…").trigger()
    saved = tmp_path / "kept.png"
    assert np.array_equal(load_image(saved), noise(4))
    assert read_png_render(saved).settings.lam == 0.07
    assert window.messages.text() == f"Saved {saved}"

    _click(qtbot, window, 0)  # Ctrl+S while one history picture is shown saves that one
    _answer_save(monkeypatch, tmp_path / "shown.png")
    assert window.save_png() == str(tmp_path / "shown.png")
    assert np.array_equal(load_image(tmp_path / "shown.png"), noise(5))

    _menu_action(window, newer, "Remove from the history").trigger()
    assert [e.key for e in window.history_panel.strip.entries] == [older.key]
    assert [e.key for e in store.entries()] == [older.key] and not newer.png.exists()
    assert not window.history_panel.showing  # the picture shown is gone: back to the canvas


def test_a_history_picture_that_cannot_be_saved_says_so(open_window, monkeypatch, tmp_path, history_folder):
    entry = HistoryStore(history_folder).add(noise(6), chunks(0.1), finished=True)
    window = open_window()
    target = tmp_path / "missing folder" / "x.png"
    _answer_save(monkeypatch, target)
    assert window.history_panel.save_entry(entry) is None
    assert window.messages.kind == "error"
    assert window.messages.text().startswith(f"{target}: the folder {target.parent} does not exist")
    assert entry.png.exists()


def test_the_size_limit_is_a_setting_that_prunes_the_oldest(open_window, monkeypatch, tmp_path, history_folder):
    store = HistoryStore(history_folder)
    entries = [store.add(noise(10 + i, 400, 400), chunks(0.01 * (i + 1)), finished=True) for i in range(4)]
    size = entries[0].size_bytes
    assert 400_000 < size < 2**20 / 2  # noise does not compress: about 0.5 MB each
    settings = QSettings(str(tmp_path / "limit.ini"), QSettings.Format.IniFormat)
    window = open_window(settings_store=settings)
    assert window.history_panel.history.limit_bytes == 200 * 2**20

    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (1, True)))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No))
    assert window.history_panel.ask_limit() is None  # the user kept the old limit when told what would go
    assert "2 oldest pictures" in asked[0]
    assert len(window.history_panel.strip.entries) == 4 and window.history_panel.history.limit_bytes == 200 * 2**20

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    assert window.history_panel.ask_limit() == 1
    kept = [e.key for e in window.history_panel.strip.entries]
    assert kept == [entries[3].key, entries[2].key]  # the newest that fit in 1 MB
    assert window.history_panel.history.total_bytes() <= 2**20
    assert "of 1.0 MB" in window.history_panel.strip.summary.text()
    assert "2 oldest pictures were removed" in window.messages.text()
    window.close()
    again = open_window(settings_store=settings)
    assert again.history_panel.history.limit_bytes == 2**20  # remembered


def test_small_pictures_are_kept_at_once_and_large_ones_in_the_background(qtbot, tmp_path):
    from app.widgets.history_strip import SYNC_PIXELS, HistoryStrip

    strip = HistoryStrip(HistoryStore(tmp_path / "history"))
    qtbot.addWidget(strip)
    with qtbot.waitSignal(strip.added, timeout=1):  # emitted before add returns
        strip.add(noise(20), chunks(0.1), finished=True)
    assert len(strip.entries) == 1 and not strip.busy

    big = noise(21, 600, 600)
    assert big.shape[0] * big.shape[1] > SYNC_PIXELS
    with qtbot.waitSignal(strip.added, timeout=KEEP_TIMEOUT_MS) as added:
        strip.add(big, chunks(0.2), finished=False)
        assert len(strip.entries) == 1  # not yet: it is being written on another thread
    assert [e.key for e in strip.entries] == [added.args[0].key, strip.entries[1].key]
    assert np.array_equal(strip.store.image(added.args[0]), big)
    assert not [t for t in threading.enumerate() if t.name == "fude-history"]

    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    strip.store = HistoryStore(blocked)
    with qtbot.waitSignal(strip.failed, timeout=KEEP_TIMEOUT_MS) as failed:
        strip.add(big, chunks(0.3), finished=True)
    assert failed.args[0].startswith(str(blocked)) and failed.args[0].endswith("not kept in the history.")


def test_a_picture_that_cannot_be_kept_is_said_so(qtbot, store, backends, recovery, tmp_path, cat_path, wave_path):
    from app.window import MainWindow

    blocked = tmp_path / "not a folder"
    blocked.write_text("a file where the history folder should be")
    window = MainWindow(store=store, backends=backends, recovery=recovery, history_folder=blocked)
    qtbot.addWidget(window)
    window.advanced.size_spin.setValue(RUN_SIZE)
    window.advanced.iterations.setValue(RUN_ITERATIONS)
    window.advanced.device.setCurrentIndex(window.advanced.device.findData("cpu"))
    assert "empty" in window.history_panel.strip.summary.text()  # an unusable folder is an empty history, not a crash
    _load(window, cat_path, wave_path)
    with qtbot.waitSignal(window.history_panel.strip.failed, timeout=KEEP_TIMEOUT_MS) as failed:
        with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
            assert window.run_panel.start()
    assert failed.args[0].startswith(str(blocked)) and "not kept in the history" in failed.args[0]
    assert window.messages.kind == "error" and window.messages.text() == failed.args[0]
    # the picture itself is still here
    assert window.session.result is not None and window.save_panel.png_button.isEnabled()
