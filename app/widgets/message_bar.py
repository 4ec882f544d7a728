"""A message strip inside the window: errors and offers shown without a modal dialog, so nothing blocks."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton

from app.plain_text import bounded, breakable, plain_label

STYLES = {
    "error": "background: #fbe3e4; border: 1px solid #e0a2a6; color: #6b1117;",
    "info": "background: #e6f0fb; border: 1px solid #a9c4e6; color: #14365c;",
}
INFO_TIMEOUT_MS = 10_000


class MessageBar(QFrame):
    """Shows one message at a time; errors stay until dismissed or replaced, notes fade after a while."""

    shown = Signal(str, str)  # kind ("error" or "info"), text
    actionTriggered = Signal()  # the message's button was pressed (the owner knows what the offer was)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAccessibleName("Messages")
        self._kind = ""
        self._text = ""
        self._label = plain_label()
        self._label.setObjectName("messageText")
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._label.setStyleSheet("border: none; background: transparent;")
        self._action = QPushButton()
        self._action.setObjectName("messageAction")
        self._action.clicked.connect(self._on_action)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.setStyleSheet("border: none;")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._action)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    @property
    def kind(self) -> str:
        """"error" or "info" while a message is up, "" when none is."""
        return self._kind

    def text(self) -> str:
        return self._text if self._kind else ""

    def show_error(self, text: str, action: str | None = None) -> None:
        """An error; with `action`, a button that emits actionTriggered (a way out, such as a retry)."""
        self._show("error", text, action, 0)

    def show_info(self, text: str, action: str | None = None, timeout_ms: int = INFO_TIMEOUT_MS) -> None:
        """A note; with `action`, a button that emits actionTriggered (and the note stays until answered)."""
        self._show("info", text, action, 0 if action else timeout_ms)

    def dismiss(self) -> None:
        self._timer.stop()
        self._kind = ""
        self.hide()

    def _show(self, kind: str, text: str, action: str | None, timeout_ms: int) -> None:
        self._kind = kind
        text = bounded(text)  # a message may quote a hostile name at length
        self._text = text
        self._label.setText(breakable(text))
        self.setStyleSheet(f"QFrame#messageBar {{ {STYLES[kind]} border-radius: 4px; }}")
        self._action.setVisible(bool(action))
        self._action.setText(action or "")
        self._timer.stop()
        if timeout_ms:
            self._timer.start(timeout_ms)
        self.show()
        self.shown.emit(kind, text)

    def trigger_action(self) -> None:
        """Press the message's button (for keyboard users and tests)."""
        self._on_action()

    def _on_action(self) -> None:
        self.dismiss()
        self.actionTriggered.emit()
