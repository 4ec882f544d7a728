"""The Regions mode: the region editor (app/widgets/region_editor.py) bound to the session. The editor shows the
session's content picture and regions and sends each committed edit back as the session's `regions` setting
(a run under way takes it from its next iteration, like lam); a mask picture is loaded from or saved to a file
here; `mode_action` (View > Paint regions) says whether the editor is shown in place of the canvas."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

from app.preferences import Preferences
from app.session import Session
from app.widgets.actions import make_action
from app.widgets.image_pane import IMAGE_FILTER
from app.widgets.message_bar import MessageBar
from app.widgets.region_editor import RegionEditor
from engine.errors import FudeError
from engine.export import save_png
from engine.images import load_image
from engine.names import clean_name
from engine.regions import Regions, colour_coded, region_size, regions_from_colour_coded


class RegionsPanel(QObject):
    """Binds `editor` to `session`. `mode_action` is checkable: on, the window shows the editor instead of the
    canvas (`modeChanged`)."""

    modeChanged = Signal(bool)

    def __init__(self, session: Session, editor: RegionEditor, messages: MessageBar, preferences: Preferences,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._messages = messages
        self._preferences = preferences
        self.editor = editor
        self.mode_action = make_action(self, "Paint &regions", None, ["Ctrl+R"], checkable=True,
                                       tip="Paint where each painting goes and where the creature stays itself")
        self.mode_action.setToolTip("Paint where each painting goes and where the creature stays itself (Ctrl+R; "
                                    "again, or Result, to go back to the picture)")
        self.mode_action.toggled.connect(self.modeChanged)
        session.contentChanged.connect(self._on_content)
        session.stylesChanged.connect(self._show_regions)
        session.settingsChanged.connect(self._show_regions)
        editor.edited.connect(self._on_edited)
        editor.loadRequested.connect(self.open_mask)
        editor.saveRequested.connect(self.save_mask_as)
        self._on_content()

    @property
    def showing(self) -> bool:
        return self.mode_action.isChecked()

    def set_showing(self, showing: bool) -> None:
        self.mode_action.setChecked(showing)

    # ---- session -> editor ----

    @Slot()
    def _on_content(self, *_: object) -> None:
        content = self._session.content
        self.editor.set_content(None if content is None else content.array)
        self._show_regions()

    @Slot()
    def _show_regions(self, *_: object) -> None:
        self.editor.set_regions(self._session.settings.regions, len(self._session.styles))

    # ---- editor -> session ----

    @Slot(object)
    def _on_edited(self, regions: Regions | None) -> None:
        self._use(regions)

    def _use(self, regions: Regions | None) -> None:
        # every style everywhere is no regions at all: the plain run is the same picture, made faster
        chosen = None if regions is None or regions.is_everywhere else regions
        if chosen != self._session.settings.regions:
            self._session.update_settings(regions=chosen)

    # ---- mask files ----

    def load_mask(self, path: str) -> bool:
        """Take the regions of a mask picture: a black-and-white one for every painting (white: the paintings go
        there; black: the content stays), or a colour-coded one (each painting's colour, as Save mask writes)."""
        session = self._session
        content = session.content
        if content is None or not session.styles:
            self._messages.show_error("Load mask: add a content picture and a painting first; a mask says where on "
                                      "the content each painting goes.")
            return False
        try:
            picture = load_image(path)
            regions = regions_from_colour_coded(picture, len(session.styles), content.array.shape[1],
                                                content.array.shape[0])
        except FudeError as exc:
            self._messages.show_error(f"Load mask: {exc}")
            return False
        self._use(regions)
        self._messages.show_info(f"Regions loaded from {clean_name(Path(path).name)} (Undo takes them back).")
        return True

    def save_mask(self, path: str) -> bool:
        """Write the painted regions as a colour-coded PNG (white: every painting; black: the content kept; a
        painting's colour where only it goes), which Load mask reads back."""
        regions = self._current_regions()
        if regions is None:
            self._messages.show_error("Save mask: add a content picture and a painting first.")
            return False
        try:
            save_png(path, colour_coded(regions))
        except FudeError as exc:
            self._messages.show_error(f"Save mask: {exc}")
            return False
        self._messages.show_info(f"Regions saved to {clean_name(Path(path).name)}.")
        return True

    def _current_regions(self) -> Regions | None:
        session = self._session
        if session.content is None or not session.styles:
            return None
        if session.settings.regions is not None:
            return session.settings.regions
        height, width = session.content.array.shape[:2]
        return Regions.everywhere(len(session.styles), *region_size(width, height))

    @Slot()
    def open_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._dialog_parent(), "Load a mask picture",
                                              self._preferences.last_folder(), IMAGE_FILTER)
        if path:
            self._preferences.set_last_folder(str(Path(path).parent))
            self.load_mask(path)

    @Slot()
    def save_mask_as(self) -> None:
        content = self._session.content
        stem = Path(content.name).stem if content is not None else "regions"
        suggested = str(Path(self._preferences.last_folder()) / f"{clean_name(stem, 80)}_regions.png")
        path, _ = QFileDialog.getSaveFileName(self._dialog_parent(), "Save the regions as a mask picture", suggested,
                                              "PNG picture (*.png)")
        if path:
            self._preferences.set_last_folder(str(Path(path).parent))
            self.save_mask(path)

    def _dialog_parent(self) -> QWidget:
        return self.editor
