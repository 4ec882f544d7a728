"""What a user does to the window that the tests do too, through the widgets' own handlers: drop files on a pane."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QWidget


def file_mime(path: Path) -> QMimeData:
    """What a file manager puts on a drag of the file at `path`."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


def drop(widget: QWidget, mime: QMimeData) -> None:
    """Drag `mime` over `widget` and drop it, through the widget's own drag and drop handlers (Qt only routes
    real drop events that come from a drag in progress, so the handlers are called with real event objects)."""
    position = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    widget.dragEnterEvent(enter)
    assert enter.isAccepted(), "the drag was refused"
    widget.dropEvent(QDropEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
