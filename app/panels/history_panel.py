"""The window's history: the results of its runs kept in an engine.history.HistoryStore, the strip of them under
the canvas, the view that takes the canvas's place while one or two of them are shown, and what the strip asks
for (save one, remove one, the size limit). A run's picture joins the history once the session says it is final."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.plain_text import breakable, plain_label
from app.preferences import HISTORY_LIMIT_MAX_MB, MB, Preferences
from app.qimage import to_qimage
from app.session import RunState, Session
from app.widgets.actions import make_action
from app.widgets.history_strip import HistoryStrip, HistoryView, describe_entry, entry_time
from app.widgets.message_bar import MessageBar
from app.widgets.preview_canvas import PreviewCanvas
from engine.errors import FudeError
from engine.export import save_png
from engine.history import HistoryEntry, HistoryStore
from engine.names import render_file_stem
from engine.settings import png_text_chunks


class HistoryPanel(QObject):
    """The history of `session`'s pictures, kept in `folder`: its store, strip and view. `area` is the widget the
    window lays out: `canvas`, the history view that takes its place while history pictures are shown, and the
    strip under them. `limit_action` and `back_action` are for the History menu."""

    def __init__(self, session: Session, canvas: PreviewCanvas, messages: MessageBar, preferences: Preferences,
                 folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._canvas = canvas
        self._messages = messages
        self._preferences = preferences
        self.history = HistoryStore(folder, preferences.history_limit_mb() * MB)
        self.strip = HistoryStrip(self.history)
        self.strip.selectionChanged.connect(self._on_selection)
        self.strip.saveRequested.connect(self.save_entry)
        self.strip.removeRequested.connect(self.remove_entry)
        self.strip.limitRequested.connect(self.ask_limit)
        self.strip.failed.connect(messages.show_error)
        self.view = HistoryView()
        self.info = plain_label()
        self.info.setObjectName("historyInfo")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        back = QPushButton("Back to the current picture")
        back.setObjectName("historyBack")
        back.setToolTip("Show the picture of the render again (Ctrl+1)")
        back.clicked.connect(self.show_current_picture)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.info, 1)
        header.addWidget(back, 0, Qt.AlignmentFlag.AlignTop)
        self._page = QWidget()
        self._page.setObjectName("historyPage")
        page = QVBoxLayout(self._page)
        page.setContentsMargins(0, 0, 0, 0)
        page.setSpacing(4)
        page.addLayout(header)
        page.addWidget(self.view, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(canvas)
        self.stack.addWidget(self._page)
        self.area = QWidget()
        layout = QVBoxLayout(self.area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.strip)
        self.limit_action = make_action(self, "History size &limit…", self.ask_limit)
        self.back_action = make_action(self, "&Back to the current picture", self.show_current_picture)
        self._state = session.state  # the state when last told: a new run leaves the history view
        session.stateChanged.connect(self._on_state)
        session.resultSettled.connect(self.keep)

    @property
    def showing(self) -> bool:
        """Whether history pictures are shown in the canvas's place."""
        return self.stack.currentWidget() is self._page

    def show_current_picture(self, *_: object) -> None:
        """Leave the history view: the canvas (the render's picture) is shown again."""
        self.strip.clear_selection()
        self.stack.setCurrentWidget(self._canvas)
        self.view.set_pictures([])

    def shown_entries(self) -> list[HistoryEntry]:
        """The history pictures shown in the canvas's place (none while the canvas is shown)."""
        return self.strip.selected() if self.showing else []

    @Slot(object)
    def _on_state(self, state: RunState) -> None:
        if state is RunState.RUNNING and self._state is RunState.IDLE:  # a new run: watch it grow
            self.show_current_picture()
        self._state = state

    @Slot(bool)
    def keep(self, finished: bool) -> None:
        """Keep the picture on the canvas in the history (as Save PNG would write it), in the background."""
        session = self._session
        if session.result is not None and session.record is not None:
            self.strip.add(session.result, session.result_text_chunks(), finished)

    @Slot(object)
    def _on_selection(self, entries: list[HistoryEntry]) -> None:
        """One picture picked: show it and its settings; two: side by side; none: back to the canvas."""
        if not entries:
            self.show_current_picture()
            return
        pictures = []
        for entry in entries:
            try:
                image = self.history.image(entry)
            except FudeError as exc:
                self._messages.show_error(f"{exc}. It cannot be shown.")
                return
            pictures.append((to_qimage(image), entry_time(entry) + ("" if entry.finished else " · stopped")))
        self.view.set_pictures(pictures)
        if len(entries) == 1:
            self.info.setText(breakable(describe_entry(entries[0])))
        else:
            self.info.setText(breakable(f"Left: {describe_entry(entries[0])}\nRight: {describe_entry(entries[1])}"))
        self.stack.setCurrentWidget(self._page)

    def _suggested_path(self, entry: HistoryEntry) -> str:
        stored = entry.stored
        if stored is not None and stored.content_name:
            stem = render_file_stem(stored.content_name, stored.style_names or (stored.style_name,))
        else:
            stem = "fude"
        stem += time.strftime("_%Y%m%d-%H%M%S", time.localtime(entry.created))
        return os.path.join(self._preferences.last_folder(), stem + ".png")

    def save_entry(self, entry: HistoryEntry) -> str | None:
        """Ask where, then save a history picture as PNG with its settings; the path, or None."""
        path, _ = QFileDialog.getSaveFileName(self.area, "Save the history picture as PNG", self._suggested_path(entry),
                                              "PNG image (*.png)")
        if not path:
            return None
        if not path.lower().endswith(".png"):
            path += ".png"
        stored = entry.stored
        text = {} if stored is None else png_text_chunks(stored.settings, stored.content_name,
                                                         stored.style_names or stored.style_name)
        try:
            save_png(path, self.history.image(entry), text)
        except FudeError as exc:
            self._messages.show_error(f"{exc}. The picture is still in the history: save it somewhere else.")
            return None
        self._preferences.set_last_folder(str(Path(path).parent))
        self._messages.show_info(f"Saved {path}")
        return path

    def remove_entry(self, entry: HistoryEntry) -> None:
        """Delete a picture from the history (its file in the data folder)."""
        try:
            self.history.remove(entry)
        except FudeError as exc:
            self._messages.show_error(str(exc))
        else:
            self._messages.show_info(f"The picture of {entry_time(entry)} was removed from the history.")
        self.strip.refresh()

    def ask_limit(self) -> int | None:
        """Ask how many MB the history may take; the limit set, or None when cancelled."""
        megabytes, ok = QInputDialog.getInt(
            self.area, "History size", "Keep at most this many MB of pictures in the history\n(the oldest go "
            "first; the newest one always stays):", self.history.limit_bytes // MB, 1, HISTORY_LIMIT_MAX_MB, 10)
        if not ok:
            return None
        return megabytes if self.set_limit(megabytes) else None

    def set_limit(self, megabytes: int, confirm: bool = True) -> bool:
        """Keep at most `megabytes` of history (remembered between launches). With `confirm`, a limit that would
        remove pictures asks first; False when the user keeps the old limit."""
        entries = self.strip.entries
        total, doomed = 0, 0
        for i, entry in enumerate(entries):  # newest first: what the engine keeps
            total += entry.size_bytes
            if i > 0 and total > megabytes * MB:
                doomed += 1
        if confirm and doomed:
            answer = QMessageBox.question(
                self.area, "History size", f"At {megabytes} MB the {doomed} oldest picture{'s' if doomed != 1 else ''} "
                "of the history will be deleted. Go on?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            removed = self.history.set_limit(megabytes * MB)
        except FudeError as exc:
            self._messages.show_error(str(exc))
            return False
        self._preferences.set_history_limit_mb(megabytes)
        self.strip.refresh()
        gone = f"; the {len(removed)} oldest pictures were removed" if removed else ""
        self._messages.show_info(f"The history keeps up to {megabytes} MB{gone}.")
        return True

    def on_window_closing(self) -> None:
        """On closing the window: pictures being kept are finished."""
        self.strip.wait()
