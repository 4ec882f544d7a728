"""The settings widgets bound to the session both ways: lam, the style scale, Keep colours and Match colours (and
their View menu actions), the Advanced fields and (shown only while the content is a clip) the steadiness ask the
session to change, and show what its settings are. Lam moves during a run; the fields a run fixes when it starts
are locked until it ends. The steadiness is the next Render video…'s: a clip in the queue keeps its own."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QCheckBox

from app.loaded_image import LoadedImage
from app.session import RunState, Session
from app.widgets.actions import make_action
from app.widgets.render_controls import AdvancedPanel, LamControl, SteadinessControl, StyleScaleControl
from engine.settings import RenderSettings
from engine.video_settings import VideoSettings


class SettingsPanel(QObject):
    """Binds `lam_control`, `style_scale`, `keep_colours_check`, `match_colours_check`, `advanced` and `steadiness`
    to `session`; `keep_colours_action` and `match_colours_action` are for the View menu."""

    def __init__(self, session: Session, lam_control: LamControl, style_scale: StyleScaleControl,
                 keep_colours_check: QCheckBox, match_colours_check: QCheckBox, advanced: AdvancedPanel,
                 steadiness: SteadinessControl, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._lam = lam_control
        self._scale = style_scale
        self._keep = keep_colours_check
        self._match = match_colours_check
        self._advanced = advanced
        self._steadiness = steadiness
        self._showing = False  # while the widgets are set from the session, what they emit is not an edit
        self.keep_colours_action = make_action(keep_colours_check, "&Keep the content's colours", None, ["Ctrl+K"],
                                               checkable=True)
        self.match_colours_action = make_action(match_colours_check, "&Match the painting's colours to the "
                                                "content's", None, ["Ctrl+Shift+K"], checkable=True)
        self.show_settings(session.settings)
        self.show_video(session.video)
        self._on_content(session.content)
        lam_control.lamChanged.connect(self._on_lam)
        style_scale.scaleChanged.connect(self._on_scale)
        keep_colours_check.toggled.connect(self._on_keep_colours)
        self.keep_colours_action.toggled.connect(keep_colours_check.setChecked)
        match_colours_check.toggled.connect(self._on_match_colours)
        self.match_colours_action.toggled.connect(match_colours_check.setChecked)
        advanced.edited.connect(self._on_advanced_edited)
        steadiness.steadinessChanged.connect(self._on_steadiness)
        session.settingsChanged.connect(self.show_settings)
        session.videoChanged.connect(self.show_video)
        session.contentChanged.connect(self._on_content)
        session.stateChanged.connect(self._on_state)
        self._on_advanced_edited()  # a size the memory limit lowered is the size in use

    @Slot(object)
    def show_settings(self, settings: RenderSettings) -> None:
        self._showing = True
        try:
            if self._lam.lam != settings.lam:
                self._lam.set_lam(settings.lam)
            if self._scale.scale != settings.style_scale:
                self._scale.set_scale(settings.style_scale)
            self._keep.setChecked(settings.keep_colours)
            self.keep_colours_action.setChecked(settings.keep_colours)
            self._match.setChecked(settings.match_colours)
            self.match_colours_action.setChecked(settings.match_colours)
            if not self._advanced.shows(settings):  # (skipped when it does: the size asked for stays)
                self._advanced.apply(settings)
        finally:
            self._showing = False

    @Slot(object)
    def show_video(self, video: VideoSettings) -> None:
        if self._steadiness.steadiness != video.steadiness:
            self._showing = True
            try:
                self._steadiness.set_steadiness(video.steadiness)
            finally:
                self._showing = False

    @Slot(object)
    def _on_content(self, content: LoadedImage | None) -> None:
        """The steadiness is for a clip: beside a picture it would only be in the way."""
        self._steadiness.setVisible(content is not None and content.clip is not None)

    @Slot(float)
    def _on_lam(self, lam: float) -> None:
        if not self._showing:
            self._session.set_lam(lam)

    @Slot(float)
    def _on_scale(self, scale: float) -> None:
        if not self._showing:
            self._session.update_settings(style_scale=scale)

    @Slot(float)
    def _on_steadiness(self, steadiness: float) -> None:
        if not self._showing:
            self._session.set_steadiness(steadiness)

    @Slot(bool)
    def _on_keep_colours(self, on: bool) -> None:
        self.keep_colours_action.setChecked(on)
        if not self._showing:
            self._session.update_settings(keep_colours=on)

    @Slot(bool)
    def _on_match_colours(self, on: bool) -> None:
        self.match_colours_action.setChecked(on)
        if not self._showing:
            self._session.update_settings(match_colours=on)

    @Slot()
    def _on_advanced_edited(self) -> None:
        if not self._showing:
            self._session.update_settings(**self._advanced.values())

    @Slot(object)
    def _on_state(self, state: RunState) -> None:
        idle = state is RunState.IDLE
        self._advanced.set_editable(idle)
        self._scale.setEnabled(idle)  # the style's targets are made when a run starts
