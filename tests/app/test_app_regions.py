"""The Regions mode in the window: a brush stroke made with the mouse reaches the settings and the run (the kept
part of the result is the content picture), painting during a run takes effect from its next iterations, the
regions go into the saved PNG and come back exactly when it is dropped, mask files load and save, and the
regions follow the pictures (cleared with a new content picture, remapped when paintings come and go)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.region_painting import KEEP
from app.widgets.style_pane import StyleRow
from engine.export import read_png_render
from engine.images import load_image, resize
from engine.regions import Regions, style_colour

RUN_TIMEOUT_MS = 60_000


def _stroke(window, qtbot, points: list[tuple[float, float]]) -> None:
    """A left-button drag through mask pixels `points` on the region editor."""
    editor = window.region_editor
    area = editor.paint_area
    first = editor.widget_point(*points[0])
    qtbot.mousePress(area, Qt.MouseButton.LeftButton, pos=first)
    for x, y in points[1:]:
        qtbot.mouseMove(area, editor.widget_point(x, y))
    qtbot.mouseRelease(area, Qt.MouseButton.LeftButton, pos=editor.widget_point(*points[-1]))


def _keep_left_side(window, qtbot) -> Regions:
    """Open Regions mode and paint 'Keep' down the left side of the cat with a large hard brush."""
    window.regions.mode_action.trigger()
    assert window.centre.currentWidget() is window.region_editor
    editor = window.region_editor
    editor.set_label(KEEP)
    editor.size_slider.setValue(25)
    editor.softness_slider.setValue(0)
    regions = editor.regions
    assert regions is not None
    x = regions.width * 0.15
    _stroke(window, qtbot, [(x, 0), (x, regions.height * 0.5), (x, regions.height - 1)])
    painted = window.session.settings.regions
    assert painted is not None and painted == editor.regions
    return painted


def test_a_stroke_reaches_the_settings_and_the_kept_part_stays_the_content(loaded_window, qtbot, cat):
    window = loaded_window
    regions = _keep_left_side(window, qtbot)
    mask = regions.mask(0)
    column = round(regions.width * 0.15)
    assert mask[:, column].max() == 0  # kept all along the stroke
    assert mask[:, regions.width - 5].min() == 255  # the right side still takes the painting
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    assert window.centre.currentWidget() is not window.region_editor  # Start shows the picture growing
    result = window.session.result
    content = resize(cat, result.shape[1], result.shape[0]).astype(int)
    kept = round(result.shape[1] * 0.15)
    assert np.abs(result[:, kept - 1: kept + 2].astype(int) - content[:, kept - 1: kept + 2]).max() <= 1
    assert np.abs(result[:, -8:].astype(int) - content[:, -8:]).mean() > 10  # painted there


def test_undo_in_the_editor_takes_the_stroke_back_out_of_the_settings(loaded_window, qtbot):
    window = loaded_window
    _keep_left_side(window, qtbot)
    window.region_editor.undo_action.trigger()
    assert window.session.settings.regions is None  # back to no regions at all


def test_painting_during_a_run_takes_effect_from_the_next_iterations(make_window, qtbot, cat_path, wave_path):
    window = make_window(iterations=400)
    window.content_pane.load_path(cat_path)
    window.style_pane.load_path(wave_path)
    assert window.run_panel.start()
    qtbot.waitUntil(lambda: window.session.last_progress is not None, timeout=RUN_TIMEOUT_MS)
    painted = _keep_left_side(window, qtbot)
    at = window.session.last_progress.index
    qtbot.waitUntil(lambda: window.session.last_progress.index > at + 3, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        window.session.stop()
    assert window.session.record.final_settings.regions == painted
    result = window.session.raw_result
    content = resize(window.session.content.array, result.shape[1], result.shape[0]).astype(int)
    kept = round(result.shape[1] * 0.15)
    assert np.abs(result[:, kept].astype(int) - content[:, kept]).max() <= 1


def test_regions_survive_save_and_drop_to_restore_exactly(loaded_window, make_window, qtbot, monkeypatch,
                                                          tmp_path, wave_path):
    window = loaded_window
    painted = _keep_left_side(window, qtbot)
    with qtbot.waitSignal(window.session.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.run_panel.start()
    out = tmp_path / "kept.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(out), "")))
    assert window.save_png() == str(out)
    assert read_png_render(out).settings.regions == painted

    other = make_window()
    other.style_pane.load_path(wave_path)
    other.content_pane.load_path(out)  # dropped: the picture, and the offer to restore its settings
    other.messages.trigger_action()  # "Restore settings"
    restored = other.session.settings.regions
    assert restored == painted and np.array_equal(restored.stack(), painted.stack())
    assert other.region_editor.regions == painted
    assert "regions" in other.messages.text()


def test_mask_files_load_and_save_and_a_broken_one_is_named(loaded_window, tmp_path, cat):
    window = loaded_window
    height, width = cat.shape[:2]
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, width // 2:] = 255
    Image.fromarray(picture).save(tmp_path / "right.png")
    assert window.regions.load_mask(str(tmp_path / "right.png"))
    loaded = window.session.settings.regions
    assert loaded is not None and loaded.mask(0)[:, : width // 2].max() == 0
    assert loaded.mask(0)[:, width // 2:].min() == 255

    assert window.regions.save_mask(str(tmp_path / "saved.png"))
    saved = load_image(tmp_path / "saved.png")
    assert np.array_equal(saved[:, :, 0], loaded.mask(0))  # one painting: black and white, as it was loaded
    window.session.update_settings(regions=None)
    assert window.regions.load_mask(str(tmp_path / "saved.png"))
    assert window.session.settings.regions == loaded

    (tmp_path / "broken.png").write_bytes(b"not a picture")
    assert not window.regions.load_mask(str(tmp_path / "broken.png"))
    assert window.messages.kind == "error" and "broken.png" in window.messages.text()
    assert window.session.settings.regions == loaded  # nothing lost


def test_regions_follow_the_paintings_and_are_cleared_with_a_new_content(loaded_window, qtbot, cat_path, tmp_path):
    window = loaded_window
    painted = _keep_left_side(window, qtbot)
    stripes = np.zeros((40, 60, 3), np.uint8)
    stripes[:, ::4] = (200, 30, 30)
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    window.style_pane.load_path(tmp_path / "stripes.png")
    two = window.session.settings.regions
    assert two is not None and two.count == 2
    assert np.array_equal(two.mask(0), painted.mask(0))  # the wave keeps its region
    assert two.mask(1).max() == 255 and two.mask(1)[painted.mask(0) == 0].max() == 0  # the new one: unpainted only
    rows = [row for row in window.style_pane.findChildren(StyleRow) if row.isVisibleTo(window.style_pane)]
    assert [row.colour.getRgb()[:3] for row in rows] == [style_colour(0), style_colour(1)]
    assert len(window.region_editor.label_buttons()) == 2 + 2  # a colour per painting, Keep and Eraser

    window.style_pane.remove(0)
    one = window.session.settings.regions
    assert one is not None and one.count == 1

    window.content_pane.load_path(tmp_path / "stripes.png")
    assert window.session.settings.regions is None
    assert "regions were cleared" in window.messages.text()


def test_a_run_whose_masks_let_no_painting_in_is_refused_with_the_reason(loaded_window):
    window = loaded_window
    height, width = window.session.content.array.shape[:2]
    window.session.update_settings(regions=Regions.from_stack([np.zeros((height, width), np.uint8)]))
    assert not window.run_panel.start()
    assert window.messages.kind == "error" and "every mask is black" in window.messages.text()


def test_the_regions_mode_is_in_the_view_menu_with_a_shortcut(window):
    key = "Ctrl+R"
    action = window.regions.mode_action
    assert key in [s.toString() for s in action.shortcuts()]
    assert action in window.menuBar().actions()[3].menu().actions()  # View
    action.trigger()
    assert window.centre.currentWidget() is window.region_editor
    window.compare.actions[0].trigger()  # View > Result goes back to the picture
    assert window.centre.currentWidget() is not window.region_editor
