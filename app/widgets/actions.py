"""make_action: one menu or shortcut action, made the same way by every panel (the window puts it in a menu)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence


def make_action(parent: QObject, text: str, slot: Callable[..., object] | None = None,
                shortcuts: Sequence[str | QKeySequence.StandardKey] = (), tip: str = "",
                checkable: bool = False) -> QAction:
    """An action called `text` that calls `slot`; its shortcuts work anywhere in the window that shows it."""
    action = QAction(text, parent)
    action.setCheckable(checkable)
    if slot is not None:
        action.triggered.connect(slot)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        action.setStatusTip(tip)
    return action
