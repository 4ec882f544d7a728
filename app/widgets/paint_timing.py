"""A QWidget base that measures the time its painting takes, so the window can keep the cost of showing a run
within the worker's budget. Subclasses paint in `_paint` instead of `paintEvent`."""

from __future__ import annotations

import time

from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QWidget


class PaintTimedWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paint_seconds = 0.0

    def take_paint_seconds(self) -> float:
        """Seconds spent painting since the last call (what showing the run costs the GUI thread)."""
        seconds, self._paint_seconds = self._paint_seconds, 0.0
        return seconds

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        started = time.perf_counter()
        try:
            self._paint(event)
        finally:
            self._paint_seconds += time.perf_counter() - started

    def _paint(self, event: QPaintEvent) -> None:
        raise NotImplementedError
