"""Fude in the applications menu, from the window: the offer made once on Linux when no menu entry is installed
(a line in the message bar with an Add button, never a dialog that waits for an answer; remembered, so it is
not made again), and the Help menu's action that adds the entry (engine/desktop_entry.py) at any time."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from PySide6.QtCore import QObject

from app.preferences import Preferences
from app.widgets.actions import make_action
from app.widgets.message_bar import MessageBar
from engine import desktop_entry
from engine.errors import FudeError


class DesktopEntryPanel(QObject):
    """`install_action` for the Help menu; `offer()` at the start. `environ` and `platform` are the process's
    unless given (tests give their own)."""

    def __init__(self, messages: MessageBar, preferences: Preferences, parent: QObject | None = None,
                 environ: Mapping[str, str] | None = None, platform: str | None = None) -> None:
        super().__init__(parent)
        self._messages = messages
        self._preferences = preferences
        self._environ = environ if environ is not None else os.environ
        self._platform = platform or sys.platform
        self.install_action = make_action(
            self, "Add Fude to the &applications menu", self.install,
            tip="Put Fude in the desktop's menu, with its icon, and offer it for opening pictures")
        self.install_action.setVisible(self._platform.startswith(("linux", "win")))

    def installed(self) -> bool:
        return desktop_entry.is_installed(self._environ, self._platform)

    def offer(self) -> bool:
        """On Linux, when no menu entry is installed and it was never offered: offer to add one (a line in the
        message bar); whether it was offered now."""
        if not self._platform.startswith("linux") or self._preferences.desktop_entry_offered() or self.installed():
            return False
        self._preferences.set_desktop_entry_offered(True)
        self._messages.show_info("Fude is not in your applications menu yet. Add it, with its icon, so you can "
                                 "start it from there and open pictures with it from the file manager? "
                                 "(Later: Help ▸ Add Fude to the applications menu.)", "Add to menu", self.install)
        return True

    def install(self) -> bool:
        """Add the menu entry now; says how it went in the message bar."""
        try:
            done = desktop_entry.install(self._environ, self._platform)
        except (FudeError, OSError) as exc:
            self._messages.show_error(f"The menu entry could not be added: {exc}")
            return False
        self._messages.show_info(done.summary + ".")
        return True
