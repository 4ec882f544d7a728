"""Pictures the operating system asks Fude to open (macOS sends a QFileOpenEvent per file for the Finder's "Open
With" and a drop on the Dock icon): the files of one such gesture become one OpenRequest, the first the content
and the others paintings, each checked as any path from outside is (app/open_request.py)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QFileOpenEvent

from app.open_request import MAX_PICTURES, OpenRequest, RequestError, check_path


class FileOpenEvents(QObject):
    """Installed on the application (`app.installEventFilter(...)`): `opened` carries the OpenRequest of the files
    that came in one go (the events of one gesture arrive together), `refused` what was wrong with one."""

    opened = Signal(object)
    refused = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths: list[str] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._send)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Type.FileOpen or not isinstance(event, QFileOpenEvent):
            return super().eventFilter(watched, event)
        path = event.file()
        try:
            check_path(path)
        except RequestError as exc:
            self.refused.emit(str(exc))
            return True
        if len(self._paths) < MAX_PICTURES:
            self._paths.append(path)
        self._flush.start()
        return True

    def _send(self) -> None:
        paths, self._paths = self._paths, []
        if paths:
            self.opened.emit(OpenRequest(paths[0], tuple(paths[1:])))
