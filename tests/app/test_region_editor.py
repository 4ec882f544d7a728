"""The region editor, driven as a person would: brush strokes and fills with the mouse, the label and tool buttons,
undo and redo with the keyboard, and the owner's echo of an edit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.region_painting import ERASE, KEEP
from app.widgets.region_editor import RegionEditor, Tool, region_tint
from engine.regions import Regions

W, H = 200, 150  # the content picture (and so the masks: under REGION_MAX_SIDE)


@pytest.fixture
def content() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture
def editor(qtbot, content: np.ndarray) -> RegionEditor:
    widget = RegionEditor()
    qtbot.addWidget(widget)
    widget.resize(700, 560)
    widget.set_regions(None, 2)
    widget.set_content(content)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    widget.size_slider.setValue(4)  # a brush 8 mask pixels wide
    widget.softness_slider.setValue(0)
    return widget


def drag(qtbot, editor: RegionEditor, points: list[tuple[float, float]]) -> None:
    area = editor.paint_area
    qtbot.mousePress(area, Qt.MouseButton.LeftButton, pos=editor.widget_point(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(area, editor.widget_point(x, y))
    qtbot.mouseRelease(area, Qt.MouseButton.LeftButton, pos=editor.widget_point(*points[-1]))


def test_a_brush_stroke_paints_along_the_mouse_and_undo_and_redo_take_it_back_and_forth(qtbot, editor):
    edits: list[Regions] = []
    editor.edited.connect(edits.append)
    assert not editor.undo_action.isEnabled() and not editor.redo_action.isEnabled()
    editor.set_label(1)
    drag(qtbot, editor, [(20, 75), (100, 75), (180, 75)])
    assert len(edits) == 1
    painted = edits[0]
    assert (painted.width, painted.height) == (W, H)
    assert (painted.mask(1)[73:78, 22:179] == 255).all() and (painted.mask(0)[73:78, 22:179] == 0).all()
    assert (painted.mask(0)[:60] == 255).all() and (painted.mask(0)[90:] == 255).all()  # nowhere near: untouched
    assert editor.painting is not None and editor.painting.regions == painted
    assert editor.undo_action.isEnabled()

    qtbot.keyClick(editor.paint_area, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(edits) == 2 and edits[1].is_everywhere
    assert not editor.undo_action.isEnabled() and editor.redo_action.isEnabled()

    qtbot.keyClick(editor.paint_area, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(edits) == 3 and edits[2] == painted


def test_the_brush_size_and_softness_sliders_shape_the_stroke(qtbot, editor):
    editor.size_slider.setValue(20)  # 40 mask pixels wide
    editor.softness_slider.setValue(100)
    assert editor.brush_fraction == pytest.approx(0.2) and editor.softness == pytest.approx(1.0)
    editor.set_label(KEEP)
    drag(qtbot, editor, [(100, 75)])
    regions = editor.painting.regions
    row = regions.mask(0)[75, 100:125].astype(int)
    assert row[0] < 20 and row[-1] == 255 and any(60 < v < 200 for v in row), row


def test_fill_keeps_the_whole_unpainted_area_but_not_across_a_painted_line(qtbot, editor):
    edits: list[Regions] = []
    editor.edited.connect(edits.append)
    editor.set_label(0)
    drag(qtbot, editor, [(100, -10), (100, 160)])  # a wall of painting 1, top to bottom
    editor.set_tool(Tool.FILL)
    assert editor.tool is Tool.FILL and editor.fill_button.isChecked()
    editor.set_label(KEEP)
    qtbot.mouseClick(editor.paint_area, Qt.MouseButton.LeftButton, pos=editor.widget_point(30, 30))
    assert len(edits) == 2
    stack = edits[1].stack()
    assert (stack[:, :, :90] == 0).all()  # kept: the left of the wall
    assert (stack[:, :, 110:] == 255).all()  # the right is still unpainted
    assert stack[:, 75, 100].tolist() == [255, 0]  # the wall is still painting 1's


def test_the_label_buttons_choose_what_is_painted_and_follow_the_number_of_paintings(qtbot, editor):
    buttons = editor.label_buttons()
    assert [b.text() for b in buttons] == ["Painting 1", "Painting 2", "Keep", "Eraser"]
    assert editor.label == 0 and buttons[0].isChecked()
    qtbot.mouseClick(buttons[1], Qt.MouseButton.LeftButton)
    assert editor.label == 1 and buttons[1].isChecked() and not buttons[0].isChecked()
    qtbot.mouseClick(editor.keep_button, Qt.MouseButton.LeftButton)
    assert editor.label == KEEP and not buttons[1].isChecked()
    qtbot.mouseClick(editor.eraser_button, Qt.MouseButton.LeftButton)
    assert editor.label == ERASE
    editor.set_label(1)
    editor.set_regions(None, 3)
    assert [b.text() for b in editor.label_buttons()][:3] == ["Painting 1", "Painting 2", "Painting 3"]
    assert editor.painting is not None and editor.painting.regions.count == 3
    editor.set_regions(None, 1)
    assert editor.label == 0 and len(editor.label_buttons()) == 3  # painting 2 is gone: back to painting 1
    with pytest.raises(ValueError):
        editor.set_label(1)


def test_the_echo_of_an_edit_adds_no_undo_step_but_an_outside_change_does(qtbot, editor):
    edits: list[Regions] = []
    editor.edited.connect(edits.append)
    drag(qtbot, editor, [(50, 50), (60, 60)])
    editor.set_regions(edits[0], 2)  # the owner stores the edit and hands it back
    editor.undo_action.trigger()
    assert edits[-1].is_everywhere and not editor.undo_action.isEnabled()  # one step: the stroke's

    kept = Regions.from_stack(np.zeros((2, H, W), np.uint8))
    editor.set_regions(kept, 2)  # e.g. settings read from a file
    assert editor.painting.regions == kept and len(edits) == 2  # adopted, not reported back as an edit
    editor.undo_action.trigger()
    assert editor.painting.regions.is_everywhere
    editor.set_regions(None, 2)  # "no regions" is the unpainted value there already
    assert editor.redo_action.isEnabled()


def test_clear_goes_back_to_every_painting(qtbot, editor):
    edits: list[Regions] = []
    editor.edited.connect(edits.append)
    editor.set_label(KEEP)
    drag(qtbot, editor, [(10, 10), (190, 140)])
    qtbot.mouseClick(editor.clear_button, Qt.MouseButton.LeftButton)
    assert len(edits) == 2 and edits[1].is_everywhere


def test_without_a_content_picture_there_is_nothing_to_paint(qtbot, editor, content):
    edits: list[Regions] = []
    editor.edited.connect(edits.append)
    corner = editor.widget_point(20, 20)  # where the picture was
    editor.set_content(None)
    assert not editor.tool_box.isEnabled()
    # a stroke and a fill over where the picture was, and a click in the middle: nothing is painted or reported
    area = editor.paint_area
    qtbot.mousePress(area, Qt.MouseButton.LeftButton, pos=corner)
    for x in range(corner.x(), area.width() - 5, 15):
        qtbot.mouseMove(area, corner + QPoint(x - corner.x(), 0))
    qtbot.mouseRelease(area, Qt.MouseButton.LeftButton, pos=area.rect().center())
    editor.set_tool(Tool.FILL)
    qtbot.mouseClick(area, Qt.MouseButton.LeftButton, pos=corner)
    qtbot.mouseClick(area, Qt.MouseButton.LeftButton)
    assert edits == [] and not editor.undo_action.isEnabled()
    assert editor.painting is None and editor.regions is None
    assert editor.mask_point(area.rect().center()) is None
    # and when a picture comes back, it is unpainted, with nothing to undo
    editor.set_content(content)
    assert editor.regions is not None and editor.regions.is_everywhere and not editor.undo_action.isEnabled()


def test_the_load_and_save_buttons_only_ask(qtbot, editor):
    with qtbot.waitSignal(editor.loadRequested, timeout=1000):
        qtbot.mouseClick(editor.load_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(editor.saveRequested, timeout=1000):
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)


def test_mask_points_and_widget_points_agree(editor):
    for x, y in ((0, 0), (199, 149), (57, 101)):
        mx, my = editor.mask_point(editor.widget_point(x, y))
        assert abs(mx - x) <= 1 and abs(my - y) <= 1


def test_the_tint_marks_kept_and_single_painting_pixels_and_leaves_unpainted_ones_alone():
    masks = np.array([[[255, 0, 255, 0]], [[255, 0, 0, 255]]], np.uint8)  # unpainted, kept, only 1, only 2
    colour, alpha = region_tint(masks)
    assert alpha[0, 0] == 0 and alpha[0, 1] > 0.4 and alpha[0, 2] > 0.4 and alpha[0, 3] > 0.4
    assert colour[0, 2].tolist() == pytest.approx([230, 57, 70]) and colour[0, 3].tolist() == pytest.approx(
        [29, 120, 230])
    assert colour[0, 1].max() < 100  # the dark keep wash
    single = region_tint(np.array([[[255, 0]]], np.uint8))[1]
    assert single[0, 0] == 0 and single[0, 1] > 0.4  # one painting: unpainted untinted, kept tinted
