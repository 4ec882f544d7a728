"""WindowPart: the base of the helpers that wire one part of the main window (compare switch, history, saving,
style controls). Each is a QObject parented to the window, which it finds as its parent, so the window and its
helpers hold no Python reference cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from app.window import MainWindow


class WindowPart(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)

    @property
    def _window(self) -> MainWindow:
        return cast("MainWindow", self.parent())
