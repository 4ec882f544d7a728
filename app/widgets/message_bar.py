"""A message strip inside the window: errors and offers shown without a modal dialog, so nothing blocks."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from types import MethodType

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton, QWidget

from app.plain_text import bounded, breakable, plain_label

STYLES = {
    "error": "background: #fbe3e4; border: 1px solid #e0a2a6; color: #6b1117;",
    "info": "background: #e6f0fb; border: 1px solid #a9c4e6; color: #14365c;",
}
INFO_TIMEOUT_MS = 10_000


class MessageBar(QFrame):
    """Shows one message at a time; errors stay until dismissed or replaced, notes fade after a while."""

    shown = Signal(str, str)  # kind ("error" or "info"), text
    actionTriggered = Signal()  # the message's button was pressed (after its `on_action`, if it had one)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAccessibleName("Messages")
        self._kind = ""
        self._text = ""
        self._answer: Callable[[], Callable[[], object] | None] | None = None  # what the button calls, weakly held
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

    def show_error(self, text: str, action: str | None = None, on_action: Callable[[], object] | None = None) -> None:
        """An error; with `action`, a button (a way out, such as a retry) that calls `on_action`."""
        self._show("error", text, action, 0, on_action)

    def show_info(self, text: str, action: str | None = None, on_action: Callable[[], object] | None = None,
                  timeout_ms: int = INFO_TIMEOUT_MS) -> None:
        """A note; with `action`, a button that calls `on_action` (and the note stays until answered)."""
        self._show("info", text, action, 0 if action else timeout_ms, on_action)

    def dismiss(self) -> None:
        self._timer.stop()
        self._kind = ""
        self.hide()

    def _show(self, kind: str, text: str, action: str | None, timeout_ms: int,
              on_action: Callable[[], object] | None = None) -> None:
        self._answer = _weakly(on_action) if action else None
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
        answer, self._answer = self._answer, None
        self.dismiss()
        call = answer() if answer is not None else None
        if call is not None:
            call()
        self.actionTriggered.emit()


def _weakly(call: Callable[[], object] | None) -> Callable[[], Callable[[], object] | None] | None:
    """`call`, held so that an offer never keeps its owner alive: a bound method (or a functools.partial of one)
    through a weak reference to its object, so no reference cycle runs through the bar to the window (which the
    garbage collector might then free on another thread)."""
    if call is None:
        return None
    if isinstance(call, MethodType):
        return weakref.WeakMethod(call)
    if isinstance(call, functools.partial) and isinstance(call.func, MethodType):  # partial(bound_method, *args)
        method = weakref.WeakMethod(call.func)
        args, keywords = call.args, call.keywords

        def resolve() -> Callable[[], object] | None:
            bound = method()
            return None if bound is None else (lambda: bound(*args, **keywords))

        return resolve
    return lambda: call
