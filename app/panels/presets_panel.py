"""The presets row bound to the session: choosing a preset sets its lam, style scale and smoothing; the row shows
the preset the settings match; saving, deleting (with an Undo offer) and a damaged presets file are reported in
the message bar. The preset chosen last is remembered between launches."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject, Slot

from app.preferences import Preferences
from app.session import Session
from app.widgets.message_bar import MessageBar
from app.widgets.preset_bar import PresetBar
from engine.presets import Preset
from engine.settings import RenderSettings


class PresetsPanel(QObject):
    """Binds `preset_bar` (over its PresetStore) to `session`."""

    def __init__(self, session: Session, preset_bar: PresetBar, messages: MessageBar, preferences: Preferences,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._bar = preset_bar
        self._messages = messages
        self._preferences = preferences
        preset_bar.last_name = preferences.preset_name()
        preset_bar.presetChosen.connect(self.apply_preset)
        preset_bar.saveAsked.connect(self.save_preset)
        preset_bar.saved.connect(self._on_saved)
        preset_bar.deleted.connect(self._on_deleted)
        preset_bar.problem.connect(messages.show_error)
        session.settingsChanged.connect(self._show_matching)
        self._show_matching(session.settings)

    def report_problem(self) -> None:
        """Say that the presets file is damaged, if it is (after any offer the window made at start-up)."""
        self._bar.report_problem()

    @Slot(object)
    def _show_matching(self, settings: RenderSettings) -> None:
        self._bar.show_matching(settings)

    @Slot(object)
    def apply_preset(self, preset: Preset) -> None:
        """Set lam, style scale and smoothing from `preset` (a run under way takes lam at once, the rest at the
        next Start)."""
        self._bar.last_name = preset.name
        self._session.set_settings(preset.apply(self._session.settings))
        self._bar.show_matching(self._session.settings)
        self._preferences.set_preset_name(preset.name)

    def save_preset(self) -> Preset | None:
        """Ask a name and save the current lam, style scale and smoothing as the user's preset."""
        return self._bar.save_as(self._session.settings)

    @Slot(object)
    def _on_saved(self, preset: Preset) -> None:
        self._preferences.set_preset_name(preset.name)
        self._messages.show_info(f"Saved the preset “{preset.name}” ({self._bar.store.path}).")

    @Slot(object)
    def _on_deleted(self, preset: Preset) -> None:
        self._bar.show_matching(self._session.settings)
        self._messages.show_info(f"Deleted the preset “{preset.name}”.", "Undo", partial(self.undo_delete, preset))

    def undo_delete(self, preset: Preset) -> None:
        if self._bar.restore(preset):
            self._bar.show_matching(self._session.settings)
            self._messages.show_info(f"The preset “{preset.name}” is back.")
