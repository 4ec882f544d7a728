"""Write a file off the GUI thread: encoding an animation of dozens of frames (GIF, WebP, MP4) takes seconds, so
the window stays responsive. The writer runs on a plain Python thread (it never touches a widget) and reports
back through signals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.errors import FudeError


class BackgroundSaver(QObject):
    """One save at a time. `saved(path, note)` or `failed(message)` arrive on the GUI thread."""

    saved = Signal(str, str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, path: str, write: Callable[[], object], note: str = "") -> bool:
        """Run `write()` (which raises FudeError on failure) in the background; False if a save is under way."""
        if self.busy:
            return False

        def work() -> None:
            try:
                write()
            except FudeError as exc:
                self.failed.emit(str(exc))
            except Exception as exc:  # noqa: BLE001 - an unexpected failure must still reach the user
                self.failed.emit(f"{path}: could not be written ({type(exc).__name__}: {exc})")
            else:
                self.saved.emit(path, note)

        self._thread = threading.Thread(target=work, name=f"fude-save-{Path(path).name}", daemon=False)
        self._thread.start()
        return True

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for a save under way to finish; True when none is left running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return not self.busy
