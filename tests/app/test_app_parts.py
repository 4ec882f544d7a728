"""The window's parts on their own: numpy <-> QImage, the lam slider's scale, the canvas's compare views and
frames of changing size, and the keyboard shortcuts (the worker's preview throttle: test_worker.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog

from app.qimage import to_array, to_qimage
from app.widgets.preview_canvas import CompareMode, PreviewCanvas
from app.widgets.render_controls import LAM_SLIDER_MAX, LAM_SLIDER_MIN, LAM_STEPS, lam_to_position, position_to_lam
from engine.settings import RenderSettings


@pytest.mark.parametrize("width", [1, 5, 6, 7, 64])  # odd widths: QImage pads each row to 4 bytes
def test_qimage_round_trip(width):
    rng = np.random.default_rng(width)
    array = rng.integers(0, 256, (9, width, 3), dtype=np.uint8)
    image = to_qimage(array)
    del array  # the QImage owns its pixels
    again = to_array(image)
    assert again.shape == (9, width, 3)
    assert np.array_equal(to_array(to_qimage(again)), again)
    assert image.pixelColor(0, 0) == QColor(*again[0, 0])


def test_qimage_from_a_non_contiguous_view_and_with_alpha():
    base = np.zeros((4, 8, 3), np.uint8)
    base[:, ::2] = (10, 20, 30)
    view = base[:, ::2]  # a strided view, not contiguous
    assert np.array_equal(to_array(to_qimage(view)), np.full((4, 4, 3), (10, 20, 30), np.uint8))
    transparent = QImage(3, 2, QImage.Format.Format_ARGB32)
    transparent.fill(QColor(0, 0, 0, 0))
    assert np.array_equal(to_array(transparent), np.full((2, 3, 3), 255, np.uint8))  # onto white


def test_lam_slider_is_logarithmic_from_more_content_to_more_style():
    assert position_to_lam(0) == LAM_SLIDER_MAX and position_to_lam(LAM_STEPS) == LAM_SLIDER_MIN
    middle = position_to_lam(LAM_STEPS // 2)
    assert middle == pytest.approx((LAM_SLIDER_MAX * LAM_SLIDER_MIN) ** 0.5, rel=0.01)
    assert lam_to_position(RenderSettings().lam) == pytest.approx(LAM_STEPS * (np.log10(10 / 0.05) / 4), abs=1)
    for position in (0, 137, 500, 999):
        assert lam_to_position(position_to_lam(position)) == position


def test_lam_control_shows_the_number(window):
    slider = window.findChild(object, "lamSlider")
    slider.setValue(0)
    assert window.lam_control.lam == LAM_SLIDER_MAX
    assert window.findChild(object, "lamValue").text() == "10"
    slider.setValue(LAM_STEPS)
    assert window.session.settings.lam == LAM_SLIDER_MIN


def test_canvas_compare_views_and_frames_of_changing_size(qtbot):
    canvas = PreviewCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    content = np.zeros((30, 40, 3), np.uint8)
    content[:] = (0, 0, 255)
    canvas.set_content(to_qimage(content))
    for shape in ((15, 20, 3), (30, 40, 3), (60, 80, 3)):  # e.g. coarse to fine
        canvas.set_result(to_qimage(np.full(shape, (255, 0, 0), np.uint8)))
        shot = canvas.grab().toImage()
        assert shot.pixelColor(200, 150) == QColor(255, 0, 0)
    canvas.set_mode(CompareMode.CONTENT)
    assert canvas.grab().toImage().pixelColor(200, 150) == QColor(0, 0, 255)
    canvas.set_mode(CompareMode.SPLIT)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 150))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 150))
    assert canvas.divider > 0.6
    shot = canvas.grab().toImage()
    assert shot.pixelColor(100, 200) == QColor(0, 0, 255)  # left of the divider: before
    assert shot.pixelColor(350, 200) == QColor(255, 0, 0)  # right of it: after


def test_compare_buttons_switch_the_canvas(loaded_window):
    window = loaded_window
    window.findChild(object, "compareSplit").click()
    assert window.canvas.mode is CompareMode.SPLIT
    window.findChild(object, "compareContent").click()
    assert window.canvas.mode is CompareMode.CONTENT
    assert window.canvas.content is not None


def test_open_shortcuts(window, qtbot, monkeypatch, cat_path, wave_path):
    answers = iter([str(cat_path), str(wave_path)])
    captions = []

    def fake_open(parent, caption, folder, file_filter):
        captions.append(caption)
        return next(answers), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert captions == ["Open the content picture", "Open the style picture"]
    assert window.content_pane.image.name == "cat.png" and window.style_pane.image.name == "wave.png"


def test_none_keeps_its_references_through_many_qt_calls(qtbot):
    """PySide6 6.12 on Python 3.11 drops a reference to None on every void call (and to True on every emit);
    app.refcount_guard must keep the window from aborting with "deallocating None" after a few thousand paints.
    The same checks hold on every Python: the guard gives None, True and False their surplus exactly when this
    interpreter loses references (never on 3.12+, whose immortal objects lose none), only once, and then no
    session's worth of calls can use it up."""
    import sys

    from PySide6.QtWidgets import QLabel

    from app.refcount_guard import SURPLUS, affected, guard_singleton_refcounts

    singletons = (None, True, False)
    guard_singleton_refcounts()  # what run_window does first (tests/app/conftest.py did it on import too)
    none_lost, true_lost = affected()  # measured here, independently of the guard's own decision
    losing = none_lost or true_lost
    for obj in singletons:
        assert (sys.getrefcount(obj) > SURPLUS // 2) == losing, (obj, sys.getrefcount(obj), losing)
    before = [sys.getrefcount(obj) for obj in singletons]
    assert guard_singleton_refcounts() is False  # guarded already, or nothing to guard: no second surplus
    assert all(abs(sys.getrefcount(obj) - count) < SURPLUS // 4 for obj, count in zip(singletons, before,
                                                                                      strict=True))

    label = QLabel()
    qtbot.addWidget(label)
    calls = 20_000
    start = sys.getrefcount(None)
    for _ in range(calls):
        label.setText("x")
    end = sys.getrefcount(None)
    lost_per_call = max(0, start - end) / calls  # 1 on an affected interpreter, 0 elsewhere
    assert (lost_per_call > 0.5) == none_lost
    # what is left would last a billion more calls (days of painting), also where none is lost (3.12+: immortal)
    assert end > lost_per_call * 10**9


RUN_WINDOW_SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.window import MainWindow, run_window

def close_it():
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    print("shown:", [w.windowTitle() for w in windows], QApplication.organizationName(),
          QApplication.applicationName())
    for w in windows:
        w.close()

QTimer.singleShot(0, close_it)
sys.exit(run_window([sys.argv[0]]))
"""


def test_run_window_opens_and_quits(tmp_path):
    """The entry point, in its own process (an application that has quit cannot run event loops again)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path),
           "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", RUN_WINDOW_SCRIPT], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "shown: ['Fude" in done.stdout and "Fude Fude" in done.stdout
    assert "Traceback" not in done.stderr
    assert list(tmp_path.rglob("Fude.conf")), "the settings were not written to the user's config folder"


def test_advanced_panel_forces_precision_and_coarse_to_fine(window):
    panel = window.advanced
    assert panel.precision.currentData() == "auto" and panel.multiscale.isChecked()
    panel.precision.setCurrentIndex(panel.precision.findData("fp32"))
    panel.multiscale.setChecked(False)
    settings = window.session.settings
    assert settings.precision == "fp32" and settings.multiscale is False
    panel.apply(settings.replaced(precision="bf16", multiscale=True))
    assert panel.precision.currentData() == "bf16" and panel.multiscale.isChecked()
