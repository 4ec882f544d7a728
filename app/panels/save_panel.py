"""Save PNG and Save evolution: ask where (with a name made from the pictures), write the picture shown with its
settings, or open the Save evolution dialog (remembering its choices) and write the animation in the
background."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from app.background import BackgroundTask
from app.preferences import Preferences
from app.session import Session
from app.widgets.actions import make_action
from app.widgets.export_dialog import ExportChoice, ExportDialog
from app.widgets.message_bar import MessageBar
from engine.errors import FudeError
from engine.names import render_file_stem
from engine.saving import save_result


class SavePanel(QObject):
    """The Save buttons and actions for `session`'s picture; `saver` writes animations off the GUI thread, one at a
    time; `dialog_parent` is the widget the file dialogs belong to. The window decides what Save PNG saves (the
    canvas, or a history picture shown in its place), so it connects `png_button` itself."""

    animationSaved = Signal(str)  # the path of an animation written in the background
    animationFailed = Signal(str)  # why it could not be written, naming the file

    def __init__(self, session: Session, messages: MessageBar, preferences: Preferences, dialog_parent: QWidget,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._messages = messages
        self._preferences = preferences
        self._dialog_parent = dialog_parent
        self._writing: tuple[str, str] | None = None  # the animation being written: its path and a note
        self.saver = BackgroundTask("save", self)
        self.saver.succeeded.connect(self._on_saved)
        self.saver.failed.connect(self._on_failed)
        self.png_button = QPushButton("Save PNG…")
        self.png_button.setObjectName("savePngButton")
        self.png_button.setToolTip("Save the picture as PNG, with its settings stored in it (Ctrl+S)")
        self.evolution_button = QPushButton("Save evolution…")
        self.evolution_button.setObjectName("saveEvolutionButton")
        self.evolution_button.setToolTip("Save the evolution so far as an animated GIF or WebP or an MP4 video "
                                         "(Ctrl+Shift+S)")
        self.evolution_button.clicked.connect(self.save_evolution)
        self.evolution_action = make_action(self, "Save &evolution…", self.save_evolution, ["Ctrl+Shift+S"])
        session.resultChanged.connect(self._update_buttons)
        session.clipJobChanged.connect(self._update_buttons)
        self._update_buttons()

    @Slot()
    def _update_buttons(self, *_: object) -> None:
        """Enabled while there is a picture, and the canvas shows it: not while it follows a clip the queue renders
        (whose frames go into the queue's video), so that Save never writes another picture than the one seen."""
        has_result = self._session.result is not None and self._session.clip_job is None
        self.png_button.setEnabled(has_result)
        self.evolution_button.setEnabled(has_result and self._session.record is not None)

    def _suggested_name(self, suffix: str) -> str:
        record = self._session.record
        stem = render_file_stem(record.content_name, record.style_names) if record is not None else "fude"
        return os.path.join(self._preferences.last_folder(), stem + suffix)

    def _ask_path(self, title: str, suffix: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self._dialog_parent, title, self._suggested_name(suffix), file_filter)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        return path

    def save_png(self) -> str | None:
        """Save the picture on the canvas as PNG, as it is shown (Keep colours as now, the content's transparency)
        with the settings the run ended on (engine.saving.save_result); the path, or None. The name comes from the
        file dialog, which asked before replacing a file: a file of that name is replaced."""
        session = self._session
        image, raw, record = session.result, session.raw_result, session.record
        if image is None or raw is None or record is None:
            self._messages.show_info("There is no picture to save yet: press Start first.")
            return None
        path = self._ask_path("Save the picture as PNG", ".png", "PNG image (*.png)")
        if path is None:
            return None
        try:
            save_result(path, record, raw, keep_colours=session.settings.keep_colours, replace=True)
        except FudeError as exc:
            self._messages.show_error(f"{exc}. The picture is still here: save it somewhere else.")
            return None
        session.picture_saved(image)  # the picture is safe in the file now
        self._preferences.set_last_folder(str(Path(path).parent))
        self._messages.show_info(f"Saved {path}")
        return path

    def save_evolution(self) -> ExportDialog | None:
        """Open the Save evolution dialog (format, frames, size, the file size before saving); its Save asks where
        and the file is written in the background: `saver` reports how it went. The dialog, or None."""
        images = self._session.evolution_images()
        if not images:
            self._messages.show_info("There is no evolution to save yet: press Start first.")
            return None
        if self.saver.busy:
            self._messages.show_info("An animation is still being written; try again in a moment.")
            return None
        fmt, options = self._preferences.export_choices()
        dialog = ExportDialog(images, self._suggested_name(""), self._dialog_parent, fmt=fmt, options=options)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(self._on_export_chosen)
        dialog.open()  # window-modal, without a nested event loop: a run goes on behind it
        return dialog

    @Slot(object)
    def _on_export_chosen(self, choice: ExportChoice) -> None:
        self._preferences.set_export_choices(choice.fmt, choice.options)
        if not self.saver.start(choice.write):
            self._messages.show_info("An animation is still being written; try again in a moment.")
            return
        self._writing = (choice.path, choice.note)
        self._messages.show_info(f"Writing {choice.path} ({choice.note})…")

    @Slot(object)
    def _on_saved(self, _: object) -> None:
        writing, self._writing = self._writing, None
        if writing is None:
            return
        path, note = writing
        self._preferences.set_last_folder(str(Path(path).parent))
        self._messages.show_info(f"Saved {path}" + (f" ({note})" if note else ""))
        self.animationSaved.emit(path)

    @Slot(object)
    def _on_failed(self, error: BaseException) -> None:
        writing, self._writing = self._writing, None
        path = writing[0] if writing is not None else "the animation"
        if isinstance(error, FudeError):
            message = str(error)
        else:  # an unexpected failure still reaches the user, as one line
            message = f"{path}: could not be written ({type(error).__name__}: {error})"
        self._messages.show_error(message)
        self.animationFailed.emit(message)
