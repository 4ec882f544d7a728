"""The window's Save PNG and Save evolution: ask where (with a name made from the pictures), write the picture shown
with its settings, or open the Save evolution dialog (remembering its choices) and write the animation in the
background. The window creates one `SaveActions` and holds it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFileDialog

from app.saving import BackgroundSaver
from app.widgets.export_dialog import ExportChoice, ExportDialog
from app.window_part import WindowPart
from engine.errors import FudeError
from engine.export import AnimationOptions, save_png

if TYPE_CHECKING:
    from app.window import MainWindow

KEY_EXPORT_FORMAT = "export/format"
KEY_EXPORT_FRAMES = "export/frames"
KEY_EXPORT_FRAME_MS = "export/frameMs"
KEY_EXPORT_HOLD_MS = "export/holdMs"
KEY_EXPORT_SIDE = "export/longestSide"


class SaveActions(WindowPart):
    """Saving for `window`; `saver` writes animations off the GUI thread, one at a time."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.saver = BackgroundSaver(window)
        self.saver.saved.connect(self._on_saved)
        self.saver.failed.connect(window.messages.show_error)

    def _suggested_name(self, suffix: str) -> str:
        window = self._window
        if window.record is not None:
            styles = "_and_".join(Path(name).stem for name in window.record.style_names)
            stem = f"{Path(window.record.content_name).stem}_in_{styles}"
        else:
            stem = "fude"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return os.path.join(window.last_folder(), safe + suffix)

    def _ask_path(self, title: str, suffix: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self._window, title, self._suggested_name(suffix), file_filter)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        return path

    def save_png(self) -> str | None:
        """Save the picture shown as PNG: the canvas's, or the history picture shown in its place."""
        window = self._window
        if window.history_panel.showing:
            shown = window.history_panel.strip.selected()
            if len(shown) == 1:
                return window.history_panel.save_entry(shown[0])
            window.messages.show_info("Two history pictures are shown: right-click one in the history to save it.")
            return None
        image = window.result
        if image is None:
            window.messages.show_info("There is no picture to save yet: press Start first.")
            return None
        path = self._ask_path("Save the picture as PNG", ".png", "PNG image (*.png)")
        if path is None:
            return None
        try:
            save_png(path, image, window.result_text_chunks())
        except FudeError as exc:
            window.messages.show_error(f"{exc}. The picture is still here: save it somewhere else.")
            return None
        if not window.running and image is window.result:
            window._discard_session()  # the picture is safe in the file now
        window.set_last_folder(str(Path(path).parent))
        window.messages.show_info(f"Saved {path}")
        return path

    def save_evolution(self) -> ExportDialog | None:
        """Open the Save evolution dialog (format, frames, size, the file size before saving); its Save asks where
        and the file is written in the background: `saver.saved` or `saver.failed` follows. The dialog, or None."""
        window = self._window
        images = window.evolution_images()
        if not images:
            window.messages.show_info("There is no evolution to save yet: press Start first.")
            return None
        if self.saver.busy:
            window.messages.show_info("An animation is still being written; try again in a moment.")
            return None
        fmt, options = self._export_choices()
        dialog = ExportDialog(images, self._suggested_name(""), window, fmt=fmt, options=options)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(self._on_export_chosen)
        dialog.open()  # window-modal, without a nested event loop: a run goes on behind it
        return dialog

    def _export_choices(self) -> tuple[str, AnimationOptions]:
        """The format and options last used in the Save evolution dialog (defaults when none or unreadable)."""
        store = self._window.store
        try:
            fmt = str(store.value(KEY_EXPORT_FORMAT, "gif"))
            side = store.value(KEY_EXPORT_SIDE, 0)
            options = AnimationOptions(
                frame_count=int(store.value(KEY_EXPORT_FRAMES, AnimationOptions.frame_count)),
                frame_ms=int(store.value(KEY_EXPORT_FRAME_MS, AnimationOptions.frame_ms)),
                last_frame_ms=int(store.value(KEY_EXPORT_HOLD_MS, AnimationOptions.last_frame_ms)),
                longest_side=int(side) or None)
        except (TypeError, ValueError, FudeError):
            return "gif", AnimationOptions()
        return fmt, options

    @Slot(object)
    def _on_export_chosen(self, choice: ExportChoice) -> None:
        window = self._window
        o = choice.options
        for key, value in ((KEY_EXPORT_FORMAT, choice.fmt), (KEY_EXPORT_FRAMES, o.frame_count),
                           (KEY_EXPORT_FRAME_MS, o.frame_ms), (KEY_EXPORT_HOLD_MS, o.last_frame_ms),
                           (KEY_EXPORT_SIDE, o.longest_side or 0)):
            window.store.setValue(key, value)
        if not self.saver.start(choice.path, choice.write, choice.note):
            window.messages.show_info("An animation is still being written; try again in a moment.")
            return
        window.messages.show_info(f"Writing {choice.path} ({choice.note})…")

    @Slot(str, str)
    def _on_saved(self, path: str, note: str) -> None:
        self._window.set_last_folder(str(Path(path).parent))
        self._window.messages.show_info(f"Saved {path}" + (f" ({note})" if note else ""))
