"""Which picture the canvas shows: the result, the content picture (Before) or the two side by side. A row of
buttons over the canvas and the View menu's actions (Ctrl+1 to Ctrl+3) choose it, and each follows the other."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QAbstractButton, QButtonGroup, QHBoxLayout, QToolButton

from app.widgets.actions import make_action
from app.widgets.preview_canvas import CompareMode, PreviewCanvas

MODES = ((CompareMode.RESULT, "Result", "&Result", "Show the result (Ctrl+1)"),
         (CompareMode.CONTENT, "Before", "&Before", "Show the content picture (Ctrl+2)"),
         (CompareMode.SPLIT, "Split", "&Split before/after",
          "Before and after side by side; drag the divider (Ctrl+3)"))


class CompareSwitch(QObject):
    """The compare buttons of `canvas` (laid out in `row`) and its View menu actions (`actions`); `chosen` says
    that the user picked a mode, either way."""

    chosen = Signal(object)  # CompareMode

    def __init__(self, canvas: PreviewCanvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._canvas = canvas
        self.group = QButtonGroup(self)
        self.row = QHBoxLayout()
        self.row.setSpacing(0)
        self.action_group = QActionGroup(self)
        self.actions: list[QAction] = []
        for key, (mode, text, menu_text, tip) in enumerate(MODES, start=1):
            button = QToolButton()
            button.setObjectName(f"compare{mode.value.capitalize()}")
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode is CompareMode.RESULT)
            button.setMinimumWidth(64)
            button.setProperty("compareMode", mode.value)
            self.group.addButton(button)
            self.row.addWidget(button)
            action = make_action(self, menu_text, None, [f"Ctrl+{key}"], checkable=True)
            action.setData(mode.value)
            action.setChecked(mode is CompareMode.RESULT)
            self.action_group.addAction(action)
            self.actions.append(action)
        self.group.buttonClicked.connect(self._on_button)
        self.action_group.triggered.connect(self._on_action)

    def set_mode(self, mode: CompareMode) -> None:
        """Show the result, the content (before) or both split; the buttons and the View menu follow."""
        self._canvas.set_mode(mode)
        for button in self.group.buttons():
            button.setChecked(button.property("compareMode") == mode.value)
        for action in self.actions:
            action.setChecked(action.data() == mode.value)

    @Slot(QAbstractButton)
    def _on_button(self, button: QAbstractButton) -> None:
        self._choose(CompareMode(button.property("compareMode")))

    @Slot(QAction)
    def _on_action(self, action: QAction) -> None:
        self._choose(CompareMode(action.data()))

    def _choose(self, mode: CompareMode) -> None:
        self.set_mode(mode)
        self.chosen.emit(mode)
