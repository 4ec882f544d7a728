"""Which picture the canvas shows: the result, the content picture (Before) or the two side by side. A row of
buttons over the canvas and the View menu's actions (Ctrl+1 to Ctrl+3) choose it, and each follows the other.
The window creates one `CompareSwitch` and holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QAbstractButton, QButtonGroup, QHBoxLayout, QToolButton

from app.widgets.preview_canvas import CompareMode
from app.window_part import WindowPart

if TYPE_CHECKING:
    from app.window import MainWindow


class CompareSwitch(WindowPart):
    """The compare buttons of `window` (`group`, laid out in `row`) and, once `add_actions` has made them, its View
    menu actions (`action_group`)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.group = QButtonGroup(window)
        self.row = QHBoxLayout()
        self.row.setSpacing(0)
        for mode, text, tip in ((CompareMode.RESULT, "Result", "Show the result (Ctrl+1)"),
                                (CompareMode.CONTENT, "Before", "Show the content picture (Ctrl+2)"),
                                (CompareMode.SPLIT, "Split", "Before and after side by side; drag the divider "
                                                             "(Ctrl+3)")):
            button = QToolButton()
            button.setObjectName(f"compare{mode.value.capitalize()}")
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode is CompareMode.RESULT)
            button.setMinimumWidth(64)
            self.group.addButton(button)
            button.setProperty("compareMode", mode.value)
            self.row.addWidget(button)
        self.group.buttonClicked.connect(self._on_button)

    def add_actions(self) -> list[QAction]:
        """The View menu's actions, one per mode (for the window to put in the menu)."""
        window = self._window
        self.action_group = QActionGroup(window)
        view_actions = []
        for key, (mode, text) in enumerate(((CompareMode.RESULT, "&Result"), (CompareMode.CONTENT, "&Before"),
                                            (CompareMode.SPLIT, "&Split before/after")), start=1):
            action = window._action(text, None, [f"Ctrl+{key}"])
            action.setData(mode.value)
            action.setCheckable(True)
            action.setChecked(mode is CompareMode.RESULT)
            self.action_group.addAction(action)
            view_actions.append(action)
        self.action_group.triggered.connect(self._on_action)
        return view_actions

    def set_mode(self, mode: CompareMode) -> None:
        """Show the result, the content (before) or both split; the buttons and the View menu follow."""
        window = self._window
        window.canvas.set_mode(mode)
        for button in self.group.buttons():
            button.setChecked(button.objectName() == f"compare{mode.value.capitalize()}")
        for action, action_mode in zip(self.action_group.actions(), CompareMode, strict=True):
            action.setChecked(action_mode is mode)
        window._update_hint()

    @Slot(QAbstractButton)
    def _on_button(self, button: QAbstractButton) -> None:
        self.set_mode(CompareMode(button.property("compareMode")))

    @Slot(QAction)
    def _on_action(self, action: QAction) -> None:
        self.set_mode(CompareMode(action.data()))
