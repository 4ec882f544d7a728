"""The window's creative controls (issue 6): several style pictures with weights (moved mid-run too), Keep
colours switched on a shown picture, the style-scale slider and its preview, the sizes offered by the memory
that is free, presets (built-in, saved, deleted, a damaged file), and what a Fude PNG and QSettings bring back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QRect, QSettings, QSize, QUrl
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from app.loaded_image import LoadedImage
from app.memory_probe import DeviceMemory
from app.qimage import to_array
from app.widgets.render_controls import SCALE_STEPS, position_to_scale, scale_to_position
from app.widgets.style_pane import MAX_STYLES, StyleRow
from engine.colour import keep_colours
from engine.export import read_png_render
from engine.images import load_image
from engine.settings import MAX_SIZE, STYLE_SCALE_MAX, STYLE_SCALE_MIN, RenderSettings
from tests.pictures import gradient

RUN_TIMEOUT_MS = 60_000
LONG = 500  # iterations of a run the test stops itself



def _files(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _rows(window) -> list[StyleRow]:
    return [row for row in window.style_pane.findChildren(StyleRow) if row.isVisibleTo(window.style_pane)]


def _run(window, qtbot) -> None:
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()


# ---- 1. several styles ----


def test_several_paintings_dropped_at_once_each_get_a_weight(window, cat_path, wave_path, stripes_path):
    pane = window.style_pane
    assert pane.handle_mime(_files(wave_path, stripes_path))
    assert [image.name for image in pane.images] == ["wave.png", "stripes.png"]
    assert pane.image.name == "wave.png"  # what a one-style caller sees
    rows = _rows(window)
    assert len(rows) == 2 and all(row.slider.isVisibleTo(row) for row in rows)
    assert pane.normalised_weights() == (0.5, 0.5)
    assert [row.share.text() for row in rows] == ["50 %", "50 %"]

    rows[0].slider.setValue(100)
    rows[1].slider.setValue(25)
    assert pane.normalised_weights() == pytest.approx((0.8, 0.2))
    assert sum(pane.normalised_weights()) == pytest.approx(1.0)
    assert [row.share.text() for row in _rows(window)] == ["80 %", "20 %"]
    window.content_pane.load_path(cat_path)
    assert window.session.settings.style_weights == (0.8, 0.2)

    rows[1].slider.setValue(0)  # one painting may be left out of the mix ...
    assert pane.normalised_weights() == (1.0, 0.0)
    _rows(window)[0].slider.setValue(0)  # ... but not all of them
    assert _rows(window)[0].slider.value() == 1 and pane.normalised_weights() == (1.0, 0.0)

    _rows(window)[0].remove.click()
    assert [image.name for image in pane.images] == ["stripes.png"]
    (row,) = _rows(window)
    assert not row.slider.isVisibleTo(row)  # one painting has all the weight: no slider
    assert window.session.settings.style_weights == ()


def test_a_painting_dropped_or_opened_later_joins_the_mix(window, monkeypatch, wave_path, stripes_path, cat_path,
                                                         tmp_path):
    pane = window.style_pane
    pane.load_path(wave_path)
    assert pane.handle_mime(_files(stripes_path))
    assert len(pane.images) == 2
    asked = []

    def fake_open(parent, caption, folder, file_filter):
        asked.append(caption)
        return str(cat_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    pane.findChild(object, "styleAdd").click()
    assert asked == ["Add a style picture"]
    assert [image.name for image in pane.images] == ["wave.png", "stripes.png", "cat.png"]
    assert pane.selected == 2  # the preview shows the newest

    extra = tmp_path / "extra.png"
    Image.fromarray(gradient(50, 40)).save(extra)
    assert MAX_STYLES == 4 and pane.load_path(extra)
    assert not pane.findChild(object, "styleAdd").isEnabled()
    assert not pane.load_path(wave_path)  # one too many
    assert len(pane.images) == MAX_STYLES
    assert window.messages.kind == "error"
    assert window.messages.text().startswith("wave.png: not added")
    assert f"at most {MAX_STYLES}" in window.messages.text()

    window.session.swap()  # with several paintings, swap says what to do instead of guessing
    assert len(pane.images) == MAX_STYLES and "remove the other paintings" in window.messages.text()
    pane.findChild(object, "styleClear").click()
    assert pane.images == () and pane.image is None


def test_style_weights_move_mid_run(make_window, qtbot, cat_path, wave_path, stripes_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.handle_mime(_files(wave_path, stripes_path))
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.session.last_progress is not None, timeout=RUN_TIMEOUT_MS)
    assert window.session.last_progress.style_weights == pytest.approx((0.5, 0.5))
    assert not window.style_scale.isEnabled()  # the style's targets are made at the start
    changed_at = window.session.last_progress.index
    _rows(window)[1].slider.setValue(100)
    _rows(window)[0].slider.setValue(25)
    qtbot.waitUntil(lambda: window.session.last_progress.style_weights == pytest.approx((0.2, 0.8)),
                    timeout=RUN_TIMEOUT_MS)
    assert window.session.last_progress.index > changed_at
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    assert window.session.record.final_settings.style_weights == pytest.approx((0.2, 0.8))
    assert window.style_scale.isEnabled()


def test_two_styles_are_stored_in_the_png_and_restored(loaded_window, make_window, qtbot, monkeypatch, tmp_path,
                                                       stripes_path, wave_path, cat_path, tmp_path_factory):
    window = loaded_window
    window.style_pane.load_path(stripes_path)
    _rows(window)[0].slider.setValue(30)  # wave 30, stripes 50
    window.style_scale.set_scale(1.5)
    _run(window, qtbot)
    out = tmp_path / "two.png"
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, caption, suggested, f: (asked.append(suggested), str(out), "")[1:]))
    assert window.save_png() == str(out)
    assert Path(asked[0]).name == "cat_in_wave_and_stripes.png"
    stored = read_png_render(out)
    assert stored.style_names == ("wave.png", "stripes.png")
    assert stored.settings.style_weights == pytest.approx((0.375, 0.625))
    assert stored.settings.style_scale == 1.5

    other = make_window(settings_store=QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat))
    other.style_pane.handle_mime(_files(wave_path, stripes_path))
    other.session.restore_settings(stored, out.name)
    assert other.style_pane.normalised_weights() == pytest.approx((0.375, 0.625))
    assert other.style_scale.scale == 1.5 and other.session.settings.style_scale == 1.5
    assert "Settings restored" in other.messages.text()

    one = make_window(settings_store=QSettings(str(tmp_path / "one.ini"), QSettings.Format.IniFormat))
    one.style_pane.load_path(wave_path)
    one.session.restore_settings(stored, out.name)
    assert one.session.settings.style_weights == ()  # one painting: its weights could not apply
    assert one.style_scale.scale == 1.5
    assert "2 style weights were not restored" in one.messages.text()


# ---- 2. keep colours ----


def test_keep_colours_switches_the_shown_picture_without_running_again(loaded_window, qtbot, monkeypatch, tmp_path):
    window = loaded_window
    _run(window, qtbot)
    raw = window.session.result
    runs = window.canvas.frames_shown
    window.keep_colours_check.setChecked(True)
    expected = keep_colours(raw, window.content_pane.image.array)
    assert np.array_equal(window.session.result, expected)
    assert np.array_equal(to_array(window.canvas.result), expected)
    assert not np.array_equal(expected, raw)
    assert window.session.state == "idle" and window.canvas.frames_shown == runs + 1  # shown again, not rendered again
    assert window.settings_panel.keep_colours_action.isChecked()

    out = tmp_path / "kept.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(out), "")))
    window.save_png()
    assert np.array_equal(load_image(out), expected)
    assert read_png_render(out).settings.keep_colours is True
    frames = window.session.evolution_images()
    assert np.array_equal(frames[-1], expected)
    assert np.array_equal(frames[0], keep_colours(window.session.record.gif_images()[0], window.session.record.content))

    window.settings_panel.keep_colours_action.trigger()  # Ctrl+K: off again
    assert not window.keep_colours_check.isChecked()
    assert np.array_equal(window.session.result, raw)
    window.save_png()
    assert np.array_equal(load_image(out), raw)
    assert read_png_render(out).settings.keep_colours is False


def test_keep_colours_during_a_run(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    window.run_panel.start()
    qtbot.waitUntil(lambda: window.canvas.frames_shown >= 1, timeout=RUN_TIMEOUT_MS)
    window.keep_colours_check.setChecked(True)
    shown = window.canvas.frames_shown
    qtbot.waitUntil(lambda: window.canvas.frames_shown > shown, timeout=RUN_TIMEOUT_MS)  # a new frame came
    assert np.array_equal(window.session.result, keep_colours(window.session.raw_result, window.session.record.content))
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    assert window.session.settings.keep_colours and window.session.result_settings().keep_colours


# ---- 3. style scale ----


def test_style_scale_slider_is_logarithmic_and_labelled():
    assert position_to_scale(0) == STYLE_SCALE_MIN and position_to_scale(SCALE_STEPS) == STYLE_SCALE_MAX
    middle = position_to_scale(SCALE_STEPS // 2)  # the geometric middle of the range the settings allow
    assert middle == pytest.approx((STYLE_SCALE_MIN * STYLE_SCALE_MAX) ** 0.5, rel=0.01)
    for scale in (STYLE_SCALE_MIN, 0.25, 0.5, 1.0, 2.0, STYLE_SCALE_MAX):
        assert position_to_scale(scale_to_position(scale)) == pytest.approx(scale, rel=0.01)


def test_style_scale_reaches_the_settings_and_the_preview(window, wave_path):
    window.style_pane.load_path(wave_path)
    slider = window.style_scale.slider
    slider.setValue(scale_to_position(2.0))
    assert window.style_scale.scale == 2.0
    assert window.findChild(object, "styleScaleValue").text() == "2×"
    assert window.session.settings.style_scale == 2.0
    assert window.style_pane.style_scale == 2.0
    assert "2×" in window.style_pane.findChild(QWidget, "stylePicture").toolTip()


def _transitions(pane, scale: float) -> int:
    """Colour changes along the middle row of the pane's preview painted at `scale` into a 200 x 200 area."""
    pane.set_style_scale(scale)
    canvas = QImage(200, 200, QImage.Format.Format_RGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    pane.draw_picture(painter, QRect(0, 0, 200, 200))
    painter.end()
    row = to_array(canvas)[60, 10:190].astype(int)  # above the scale tag, inside the frame
    dark = row.sum(axis=1) < 384
    return int(np.count_nonzero(dark[1:] != dark[:-1]))


def test_the_preview_shows_the_strokes_at_the_result_size(window):
    board = (np.indices((64, 64)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)  # 8 x 8 squares of 8 px
    window.style_pane.set_image(LoadedImage(np.stack([board] * 3, axis=2), "board.png"))
    window.style_pane.set_result_size(QSize(100, 100))
    at_1, at_half, at_2 = (_transitions(window.style_pane, s) for s in (1.0, 0.5, 2.0))
    # the 196 px frame shows the 64 px board at 196 px (squares of 24.5 px), 98 px (12 px) or 392 px (49 px)
    assert 6 <= at_1 <= 8
    assert 13 <= at_half <= 16
    assert 2 <= at_2 <= 4


# ---- 4. the sizes that fit ----


def test_the_size_field_offers_what_fits_in_tiles_and_says_why(window, cat_path, wave_path):
    from engine.memory import FIT_MARGIN, estimate_bytes, largest_fitting_size
    from engine.tiles import MIN_TILE

    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    window.advanced.size_spin.setValue(4096)
    settings = window.session.settings
    cat, wave = window.content_pane.image.array.shape, window.style_pane.image.array.shape
    available = round(estimate_bytes(cat, wave, settings.replaced(size=1400), gif_frames=60, tile=MIN_TILE)
                      / FIT_MARGIN)
    at_once = largest_fitting_size(cat, wave, settings.replaced(size=MAX_SIZE), available, gif_frames=60)
    expected = largest_fitting_size(cat, wave, settings.replaced(size=MAX_SIZE), available, gif_frames=60,
                                    tile=MIN_TILE)
    assert at_once is not None and expected is not None and at_once < expected and 1296 <= expected <= 1400
    window.size_offer.set_device_memory(DeviceMemory("auto", "cpu", available, seconds_per_pixel=1e-6))
    assert window.advanced.size_spin.maximum() == expected
    assert window.advanced.size_spin.value() == expected
    note = window.advanced.size_note.text()
    assert f"Up to {expected} px fits" in note and f"above {at_once} px in tiles" in note
    assert "free on the CPU" in note and "4096 px was asked for" in note
    assert window.session.settings.size == expected
    duration = window.advanced.duration_note.text()
    assert duration.startswith(f"{expected} px: about ") and "in tiles of" in duration and "here" in duration
    assert not window.advanced.duration_note.isHidden()

    window.size_offer.set_device_memory(DeviceMemory("auto", "cuda", available * 1000))
    assert window.advanced.size_spin.value() == 4096  # the size asked for is back once it fits
    assert window.advanced.size_spin.maximum() == MAX_SIZE and "on the GPU" in window.advanced.size_note.text()
    assert "asked for" not in window.advanced.size_note.text()
    assert window.advanced.duration_note.text() == ""  # this device's speed was not measured

    window.size_offer.set_device_memory(DeviceMemory("auto", "cpu", available, seconds_per_pixel=1e-6))
    window.advanced.size_spin.setValue(256)  # one pass: no tiles, and far quicker
    assert window.advanced.duration_note.text().startswith("256 px: about ")
    assert "tiles" not in window.advanced.duration_note.text()


def test_the_free_memory_is_measured_off_the_gui_thread(window, qtbot):
    import torch

    offer = window.size_offer
    assert offer.device_memory is None and not offer.probe.busy  # nothing measured while it is hidden
    window.advanced.toggle.click()  # the size field is shown: what fits is measured
    qtbot.waitUntil(lambda: offer.device_memory is not None and not offer.probe.busy, timeout=30_000)
    memory = window.size_offer.device_memory
    assert memory.available is not None and memory.available > 0
    assert memory.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert window.size_offer.device_memory == memory
    assert 32 <= window.advanced.size_spin.maximum() <= MAX_SIZE
    assert "fits in" in window.advanced.size_note.text()
    assert memory.seconds_per_pixel is not None and memory.seconds_per_pixel > 0  # measured there too
    assert window.advanced.duration_note.text().startswith(f"{window.advanced.size_spin.value()} px: about ")


def test_an_unavailable_device_is_said_in_the_size_note(window, qtbot):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    window.advanced.set_expanded(True)
    window.advanced.device.setCurrentIndex(window.advanced.device.findData("cuda"))
    offer = window.size_offer
    qtbot.waitUntil(lambda: offer.device_memory is not None and offer.device_memory.choice == "cuda",
                    timeout=30_000)
    assert window.advanced.size_spin.maximum() == MAX_SIZE  # nothing is known of a device that is not there
    assert "cuda" in window.advanced.size_note.text() and "no CUDA GPU" in window.advanced.size_note.text()


# ---- 6. presets ----


def _choose(window, name: str) -> None:
    combo = window.preset_bar.combo
    index = combo.findData(name)
    assert index >= 0, name
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_builtin_presets_set_lam_scale_and_smoothing(window, store):
    combo = window.preset_bar.combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[:4] == ["", "Ink sketch", "Balanced", "Full painting"]
    assert combo.currentData() == "Balanced"  # the defaults are the Balanced preset
    _choose(window, "Ink sketch")
    settings = window.session.settings
    assert (settings.lam, settings.style_scale, settings.tv_weight) == (0.2, 0.5, 1.0)
    assert window.lam_control.lam == 0.2 and window.style_scale.scale == 0.5
    assert store.value("render/preset") == "Ink sketch"
    _choose(window, "Full painting")
    assert window.session.settings.lam == 0.005 and window.session.settings.style_scale == 1.6
    window.lam_control.slider.setValue(window.lam_control.slider.value() - 100)
    assert combo.currentText() == "Custom settings"


def test_save_delete_and_undo_a_preset(make_window, window, monkeypatch, tmp_path):
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("  My   look ", True)))
    window.session.set_lam(0.2)
    window.style_scale.set_scale(3.0)
    saved = window.presets_panel.save_preset()
    assert saved is not None and saved.name == "My look"
    assert window.preset_bar.combo.currentText() == "My look (yours)"
    record = json.loads((tmp_path / "presets.json").read_text())
    assert record["presets"][0]["lam"] == 0.2 and record["presets"][0]["style_scale"] == 3.0
    assert "Saved the preset" in window.messages.text()

    again = make_window()  # a new window (same data folder) lists it
    assert again.preset_bar.combo.findData("My look") > 0
    _choose(again, "My look")
    assert again.lam_control.lam == 0.2 and again.style_scale.scale == 3.0

    assert window.preset_bar.delete_action.isEnabled()
    window.preset_bar.delete_action.trigger()
    assert window.preset_bar.combo.findData("My look") < 0
    assert json.loads((tmp_path / "presets.json").read_text())["presets"] == []
    assert "Deleted the preset" in window.messages.text()
    window.messages.trigger_action()  # Undo
    assert window.preset_bar.combo.findData("My look") > 0
    assert window.preset_bar.store.find("my look").lam == 0.2

    _choose(window, "Balanced")
    assert not window.preset_bar.delete_action.isEnabled()  # built-ins cannot be deleted


def test_a_preset_name_taken_by_a_builtin_or_by_yours(window, monkeypatch, tmp_path):
    answers = iter([("balanced", True), ("Mine", True), ("Mine", True), ("", False)])
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: next(answers)))
    assert window.presets_panel.save_preset() is None
    assert window.messages.kind == "error" and "built-in" in window.messages.text()
    assert window.presets_panel.save_preset().name == "Mine"
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))
    window.session.set_lam(0.9)
    assert window.presets_panel.save_preset() is None  # not replaced without asking
    assert window.preset_bar.store.find("Mine").lam == 0.05
    assert window.presets_panel.save_preset() is None  # cancelled


def test_a_damaged_presets_file_is_a_message_not_a_crash(make_window, monkeypatch, tmp_path):
    (tmp_path / "presets.json").write_text("{ this is not json")
    window = make_window()
    assert window.messages.kind == "error"
    assert "presets.json" in window.messages.text() and "damaged" in window.messages.text()
    assert [window.preset_bar.combo.itemData(i) for i in range(window.preset_bar.combo.count())][1:] == [
        "Ink sketch", "Balanced", "Full painting"]
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Kept", True)))
    assert window.presets_panel.save_preset() is not None
    assert (tmp_path / "presets.json.damaged").read_text() == "{ this is not json"  # moved aside, not lost


# ---- what is remembered ----


def test_keep_colours_scale_and_preset_are_remembered(make_window, store):
    first = make_window()
    _choose(first, "Full painting")
    first.keep_colours_check.setChecked(True)
    first.close()
    second = make_window()
    assert second.keep_colours_check.isChecked() and second.settings_panel.keep_colours_action.isChecked()
    assert second.style_scale.scale == 1.6 and second.style_pane.style_scale == 1.6
    assert second.preset_bar.combo.currentData() == "Full painting"
    assert second.session.settings.lam == 0.005 and second.session.settings.keep_colours


def test_restored_settings_bring_keep_colours_back(window, tmp_path):
    from engine.settings import StoredRender

    stored = StoredRender(RenderSettings(keep_colours=True, style_scale=0.5, lam=0.1), "cat.png", "wave.png", "1")
    window.session.restore_settings(stored, "x.png")
    assert window.keep_colours_check.isChecked() and window.style_scale.scale == 0.5
    assert window.lam_control.lam == 0.1


def test_a_stopped_run_of_two_styles_is_recovered_with_both(make_window, qtbot, recovery, cat_path, wave_path,
                                                            stripes_path):
    window = make_window(iterations=LONG)
    window.content_pane.load_path(cat_path)
    window.style_pane.handle_mime(_files(wave_path, stripes_path))
    _rows(window)[1].slider.setValue(10)  # wave 50, stripes 10
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.session.last_progress is not None and window.session.last_progress.index >= 2,
                    timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    found = recovery.latest()
    assert found is not None and found.style_names == ("wave.png", "stripes.png")

    other = make_window(settings_store=QSettings(str(Path(recovery.root).parent / "o.ini"),
                                                 QSettings.Format.IniFormat))
    assert other.session.restore(found)
    assert [image.name for image in other.style_pane.images] == ["wave.png", "stripes.png"]
    assert other.style_pane.normalised_weights() == pytest.approx((50 / 60, 10 / 60), abs=1e-4)
    assert other.session.record.style_names == ("wave.png", "stripes.png")
