"""The two picture panes bound to the session: what the user drops, pastes or opens becomes the session's content
or style mix, and what the session holds (after a swap, a restore, the example, the paintings in the content's
colours while Match colours is on) is what the panes show. It also
offers the settings stored in a Fude PNG that is opened, and keeps the folder the next dialog opens in."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Slot
from PySide6.QtWidgets import QApplication

from app.loaded_image import LoadedImage
from app.preferences import Preferences
from app.session import Session
from app.widgets.image_pane import ImagePane
from app.widgets.message_bar import MessageBar
from app.widgets.render_controls import format_lam
from app.widgets.style_pane import StylePane
from engine.errors import FudeError
from engine.export import read_png_render
from engine.names import clean_name
from engine.settings import RenderSettings, StoredRender, describe_iterations
from resources import SAMPLES

SAMPLE_PAIR = (SAMPLES / "chelsea.png", SAMPLES / "wave.jpg")


class PicturesPanel(QObject):
    """Binds `content_pane` and `style_pane` to `session`; messages go to `messages`."""

    def __init__(self, session: Session, content_pane: ImagePane, style_pane: StylePane, messages: MessageBar,
                 preferences: Preferences, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._content = content_pane
        self._style = style_pane
        self._messages = messages
        self._preferences = preferences
        for pane in (content_pane, style_pane):
            pane.failed.connect(messages.show_error)
            pane.fileLoaded.connect(self._on_file_loaded)
        content_pane.changed.connect(self._on_content_pane)
        style_pane.changed.connect(self._on_style_pane)
        style_pane.weightsChanged.connect(session.set_style_weights)
        session.contentChanged.connect(self._show_content)
        session.stylesChanged.connect(self._show_styles)
        session.settingsChanged.connect(self._show_settings)
        session.matchPreviewsChanged.connect(style_pane.set_matched)
        preferences.folderChanged.connect(self._set_start_folder)
        self._set_start_folder(preferences.last_folder())
        self._show_settings(session.settings)

    # ---- the panes -> the session ----

    @Slot(object)
    def _on_content_pane(self, image: LoadedImage | None) -> None:
        self._session.set_content(image)

    @Slot(object)
    def _on_style_pane(self, image: LoadedImage | None) -> None:
        self._session.set_styles(self._style.images)

    # ---- the session -> the panes ----

    @Slot(object)
    def _show_content(self, image: LoadedImage | None) -> None:
        if self._content.image is not image:
            self._content.set_image(image)
        self._style.set_result_size(None if image is None else QSize(image.width, image.height))

    @Slot(object)
    def _show_styles(self, images: tuple[LoadedImage, ...]) -> None:
        shown = self._style.images
        if len(shown) != len(images) or any(a is not b for a, b in zip(shown, images)):
            self._style.set_images(list(images), self._session.settings.style_weights)

    @Slot(object)
    def _show_settings(self, settings: RenderSettings) -> None:
        self._style.set_style_scale(settings.style_scale)
        weights = settings.style_weights
        if len(weights) > 1 and len(weights) == len(self._style.images) and weights != self._style.style_weights():
            self._style.set_weights(weights)

    @Slot(str)
    def _set_start_folder(self, folder: str) -> None:
        for pane in (self._content, self._style):
            pane.start_folder = folder

    # ---- commands ----

    def load_example(self) -> None:
        content, style = SAMPLE_PAIR
        self._content.load_path(content)
        self._style.clear()  # the example is one painting, not one more in the mix
        self._style.load_path(style)

    def open_pictures(self, content: str | None, styles: Sequence[str]) -> None:
        """Pictures given from outside the window (the command line, a second `fude`, the file manager), loaded
        as a drop loads them: `content` into the Content pane, and `styles`, when there are some, in place of the
        paintings in the Style pane. A Fude PNG offers its settings; a run under way goes on with its own."""
        if content is not None:
            self._content.load_path(content)
        if styles:
            self._style.clear()  # these are the paintings asked for, not more of them in the mix
            for path in styles:
                self._style.load_path(path)

    def paste(self) -> None:
        """Paste into the focused pane, else the first empty one, else the content pane."""
        panes = (self._content, self._style)
        focus = QApplication.focusWidget()
        focused = [p for p in panes if p.hasFocus() or (focus is not None and p.isAncestorOf(focus))]
        empty = [p for p in panes if p.image is None]
        (focused or empty or [self._content])[0].paste()

    @Slot(str)
    def _on_file_loaded(self, path: str) -> None:
        self._preferences.set_last_folder(str(Path(path).parent))
        self.offer_stored_settings(path)

    def offer_stored_settings(self, path: str) -> StoredRender | None:
        """If `path` is a PNG that Fude made, offer to restore the settings stored in it."""
        try:
            stored = read_png_render(path)
        except FudeError as exc:
            self._messages.show_error(str(exc))
            return None
        if stored is None:
            return None
        s = stored.settings
        name = clean_name(Path(path).name)
        made = f"{stored.content_name} in the style of {stored.style_name}" if stored.content_name else "a render"
        self._messages.show_info(
            f"{name} was made by Fude ({made}: lam {format_lam(s.lam)}, {s.size} px, "
            f"{describe_iterations(s, brief=True)}, {s.optimizer}, seed {s.seed}). Restore those settings?",
            "Restore settings", partial(self._session.restore_settings, stored, name))
        return stored
