"""The window's history: the results of its runs kept in an engine.history.HistoryStore, the strip of them under
the canvas, the view that takes the canvas's place while one or two of them are shown, and what the strip asks
for (save one, remove one, the size limit). The window creates one `HistoryPanel` and holds it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, Qt, Slot
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
from app.qimage import to_qimage
from app.widgets.history_strip import HistoryStrip, HistoryView, describe_entry, entry_time
from app.window_part import WindowPart
from engine.errors import FudeError
from engine.export import save_png
from engine.history import DEFAULT_LIMIT_BYTES, HistoryEntry, HistoryStore
from engine.settings import png_text_chunks

if TYPE_CHECKING:
    from app.window import MainWindow

KEY_HISTORY_LIMIT = "history/limitMB"
MB = 2**20


class HistoryPanel(WindowPart):
    """The history store, its strip and its view for `window`, kept in `folder`. `area` is the widget the window
    lays out: the canvas, the history view that takes its place while history pictures are shown, and the strip
    under them."""

    def __init__(self, window: MainWindow, folder: Path) -> None:
        super().__init__(window)
        self.history = HistoryStore(folder, self._limit_mb() * MB)
        self.strip = HistoryStrip(self.history)
        self.strip.selectionChanged.connect(self._on_selection)
        self.strip.saveRequested.connect(self.save_entry)
        self.strip.removeRequested.connect(self.remove_entry)
        self.strip.limitRequested.connect(self.ask_limit)
        self.strip.failed.connect(window.messages.show_error)
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
        self.stack.addWidget(window.canvas)
        self.stack.addWidget(self._page)
        self.area = QWidget()
        layout = QVBoxLayout(self.area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.strip)
        self._state = window.state  # the window's state when last told: a new run leaves the history view

    def add_actions(self) -> None:
        """The History menu; choosing what the canvas shows, or starting a run, leaves the history view."""
        window = self._window
        self.limit_action = window._action("History size &limit…", self.ask_limit)
        self.back_action = window._action("&Back to the current picture", self.show_current_picture)
        menu = window.menuBar().addMenu("&History")
        menu.addAction(self.back_action)
        menu.addAction(self.limit_action)
        window.compare_group.buttonClicked.connect(self.show_current_picture)
        window.compare_actions.triggered.connect(self.show_current_picture)
        window.stateChanged.connect(self._on_state)

    def _limit_mb(self) -> int:
        try:
            limit = int(self._window.store.value(KEY_HISTORY_LIMIT, DEFAULT_LIMIT_BYTES // MB))
        except (TypeError, ValueError):
            return DEFAULT_LIMIT_BYTES // MB
        return limit if limit > 0 else DEFAULT_LIMIT_BYTES // MB

    @property
    def showing(self) -> bool:
        """Whether history pictures are shown in the canvas's place."""
        return self.stack.currentWidget() is self._page

    def show_current_picture(self, *_: object) -> None:
        """Leave the history view: the canvas (the render's picture) is shown again."""
        self.strip.clear_selection()
        self.stack.setCurrentWidget(self._window.canvas)
        self.view.set_pictures([])

    @Slot(str)
    def _on_state(self, state: str) -> None:
        if state == "running" and self._state == "idle":  # a new run: watch it grow
            self.show_current_picture()
        self._state = state

    def keep(self, finished: bool) -> None:
        """Keep the picture on the canvas in the history (as Save PNG would write it), in the background."""
        window = self._window
        if window.result is not None and window.record is not None:
            self.strip.add(window.result, window.result_text_chunks(), finished)

    def keep_failed(self) -> None:
        """A run that failed part-way: its last good picture (already on the canvas) is kept as a stopped one."""
        record = self._window.record
        if record is not None and record.latest is not None:
            self.keep(finished=False)

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
                self._window.messages.show_error(f"{exc}. It cannot be shown.")
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
            styles = "_".join(Path(name).stem for name in (stored.style_names or (stored.style_name,)))
            stem = f"{Path(stored.content_name).stem}_in_{styles}"
        else:
            stem = "fude"
        stem += time.strftime("_%Y%m%d-%H%M%S", time.localtime(entry.created))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return os.path.join(self._window.last_folder(), safe + ".png")

    def save_entry(self, entry: HistoryEntry) -> str | None:
        """Ask where, then save a history picture as PNG with its settings; the path, or None."""
        window = self._window
        path, _ = QFileDialog.getSaveFileName(window, "Save the history picture as PNG", self._suggested_path(entry),
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
            window.messages.show_error(f"{exc}. The picture is still in the history: save it somewhere else.")
            return None
        window.set_last_folder(str(Path(path).parent))
        window.messages.show_info(f"Saved {path}")
        return path

    def remove_entry(self, entry: HistoryEntry) -> None:
        """Delete a picture from the history (its file in the data folder)."""
        try:
            self.history.remove(entry)
        except FudeError as exc:
            self._window.messages.show_error(str(exc))
        else:
            self._window.messages.show_info(f"The picture of {entry_time(entry)} was removed from the history.")
        self.strip.refresh()

    def ask_limit(self) -> int | None:
        """Ask how many MB the history may take; the limit set, or None when cancelled."""
        megabytes, ok = QInputDialog.getInt(
            self._window, "History size", "Keep at most this many MB of pictures in the history\n(the oldest go "
            "first; the newest one always stays):", self.history.limit_bytes // MB, 1, 1_000_000, 10)
        if not ok:
            return None
        return megabytes if self.set_limit(megabytes) else None

    def set_limit(self, megabytes: int, confirm: bool = True) -> bool:
        """Keep at most `megabytes` of history (remembered between launches). With `confirm`, a limit that would
        remove pictures asks first; False when the user keeps the old limit."""
        window = self._window
        entries = self.strip.entries
        total, doomed = 0, 0
        for i, entry in enumerate(entries):  # newest first: what the engine keeps
            total += entry.size_bytes
            if i > 0 and total > megabytes * MB:
                doomed += 1
        if confirm and doomed:
            answer = QMessageBox.question(
                window, "History size", f"At {megabytes} MB the {doomed} oldest picture{'s' if doomed != 1 else ''} "
                "of the history will be deleted. Go on?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            removed = self.history.set_limit(megabytes * MB)
        except FudeError as exc:
            window.messages.show_error(str(exc))
            return False
        window.store.setValue(KEY_HISTORY_LIMIT, megabytes)
        self.strip.refresh()
        gone = f"; the {len(removed)} oldest pictures were removed" if removed else ""
        window.messages.show_info(f"The history keeps up to {megabytes} MB{gone}.")
        return True

    def on_window_closing(self) -> None:
        """On closing the window: a run just stopped still reaches the history, and pictures being kept are
        finished."""
        QCoreApplication.sendPostedEvents(self._window, QEvent.Type.MetaCall.value)  # the stopped run's outcome
        self.strip.wait()
