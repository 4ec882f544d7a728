"""The presets row: a combo of named starting points (the built-in ones, then the user's own) that sets lam,
style scale and smoothing, and a menu to save the current settings as a preset or delete one of the user's.
The presets themselves live in engine.presets.PresetStore; this row only shows and edits them."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QMenu, QToolButton, QWidget

from app.plain_text import ask_yes_no, literal, plain_label
from app.widgets.render_controls import format_lam, format_scale
from engine.errors import FudeError
from engine.presets import Preset, PresetStore
from engine.settings import RenderSettings

CUSTOM = "Custom settings"
TIP = "A starting point: sets lam, style scale and smoothing"


def describe(preset: Preset) -> str:
    """The preset's knobs in one line (its tooltip, after its description)."""
    return (f"lam {format_lam(preset.lam)} · style scale {format_scale(preset.style_scale)} · smoothing "
            f"{preset.tv_weight:g}")


def matches(preset: Preset, settings: RenderSettings) -> bool:
    return (math.isclose(preset.lam, settings.lam, rel_tol=1e-6)
            and math.isclose(preset.style_scale, settings.style_scale, rel_tol=1e-6)
            and math.isclose(preset.tv_weight, settings.tv_weight, rel_tol=1e-6))


class PresetBar(QWidget):
    """"Preset: [combo] [⋯]". Choosing one emits `presetChosen`; the combo follows the settings (`show_matching`)
    and reads "Custom settings" when they match no preset. Problems (a damaged file, a failed save) are emitted
    as `problem`, one line naming the file; the window shows them."""

    presetChosen = Signal(object)  # Preset
    saveAsked = Signal()  # the window answers with save_as(its current settings)
    saved = Signal(object)  # Preset
    deleted = Signal(object)  # Preset (the window offers to undo)
    problem = Signal(str)

    def __init__(self, store: PresetStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.last_name = ""  # the preset chosen last: preferred when several match the settings
        self._reported: str | None = None
        self.combo = QComboBox()
        self.combo.setObjectName("presetCombo")
        self.combo.setAccessibleName("Preset")
        self.combo.setToolTip(TIP)
        self.combo.activated.connect(self._on_activated)
        self.menu_button = QToolButton()
        self.menu_button.setObjectName("presetMenuButton")
        self.menu_button.setText("⋯")
        self.menu_button.setToolTip("Save the current settings as a preset, or delete one of yours")
        self.menu_button.setAccessibleName("Preset actions")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.menu = QMenu(self.menu_button)
        self.save_action = self.menu.addAction("Save as preset…")
        self.save_action.triggered.connect(self._on_save_action)
        self.delete_action = self.menu.addAction("Delete preset")
        self.delete_action.triggered.connect(self.delete_current)
        self.menu_button.setMenu(self.menu)
        title = plain_label("Preset")
        title.setStyleSheet("font-weight: 600;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.menu_button)
        self.refresh()

    # ---- showing ----

    def refresh(self) -> None:
        """Rebuild the list from the store, keeping the selection."""
        current = self.current()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(CUSTOM, "")
        self.combo.setItemData(0, "The settings match no preset", Qt.ItemDataRole.ToolTipRole)
        for preset in self.store.all():
            label = preset.name if preset.builtin else f"{preset.name} (yours)"
            self.combo.addItem(label, preset.name)
            tip = f"{preset.description}\n{describe(preset)}" if preset.description else describe(preset)
            self.combo.setItemData(self.combo.count() - 1, literal(tip), Qt.ItemDataRole.ToolTipRole)
        self._select(current.name if current is not None else "")
        self.combo.blockSignals(False)
        self._update_actions()
        self.combo.setToolTip(literal(self.store.problem or TIP))

    def current(self) -> Preset | None:
        """The preset the combo shows (None: custom settings)."""
        name = self.combo.currentData()
        return self.store.find(name) if name else None

    def show_matching(self, settings: RenderSettings) -> Preset | None:
        """Select the preset these settings match (the last one chosen first), or "Custom settings"."""
        found = [p for p in self.store.all() if matches(p, settings)]
        found.sort(key=lambda p: p.name.casefold() != self.last_name.casefold())
        self._select(found[0].name if found else "")
        self._update_actions()
        return found[0] if found else None

    def report_problem(self) -> None:
        """Emit the store's problem (a damaged or unreadable file), once per problem."""
        problem = self.store.problem
        if problem and problem != self._reported:
            self.problem.emit(problem)
        self._reported = problem

    # ---- editing ----

    def save_as(self, settings: RenderSettings) -> Preset | None:
        """Ask a name and save `settings`' lam, style scale and smoothing as the user's preset."""
        current = self.current()
        suggestion = current.name if current is not None and not current.builtin else ""
        name, accepted = QInputDialog.getText(self, "Save as preset", "Name of the new preset:", text=suggestion)
        name = " ".join(name.split()) if accepted else ""
        if not name:
            return None
        existing = self.store.find(name)
        if existing is not None and not existing.builtin:
            if not ask_yes_no(self, "Replace the preset?",
                              f"You already have a preset called “{existing.name}”. Replace it?"):
                return None
        try:
            preset = Preset.from_settings(name, settings, description="Saved by you.")
            self.store.save(preset)
        except FudeError as exc:
            self.problem.emit(str(exc))
            return None
        self.last_name = preset.name
        self.refresh()
        self._select(preset.name)
        self._update_actions()
        self.saved.emit(preset)
        self.report_problem()  # a damaged file moved aside says where it went
        return preset

    def delete_current(self) -> Preset | None:
        """Delete the user's preset the combo shows (built-ins cannot be deleted)."""
        preset = self.current()
        if preset is None or preset.builtin:
            return None
        try:
            self.store.delete(preset.name)
        except FudeError as exc:
            self.problem.emit(str(exc))
            return None
        self.refresh()
        self.deleted.emit(preset)
        return preset

    def restore(self, preset: Preset) -> bool:
        """Save a deleted preset again (undo)."""
        try:
            self.store.save(preset)
        except FudeError as exc:
            self.problem.emit(str(exc))
            return False
        self.refresh()
        return True

    # ---- internals ----

    def _select(self, name: str) -> None:
        found = self.store.find(name) if name else None
        index = self.combo.findData(found.name if found else "")
        self.combo.setCurrentIndex(max(0, index))

    def _update_actions(self) -> None:
        preset = self.current()
        own = preset if preset is not None and not preset.builtin else None
        self.delete_action.setEnabled(own is not None)
        self.delete_action.setText(f"Delete “{own.name}”" if own is not None else "Delete preset (only your own)")

    def _on_save_action(self) -> None:
        self.saveAsked.emit()

    def _on_activated(self, index: int) -> None:
        preset = self.current()
        self._update_actions()
        if preset is not None:
            self.last_name = preset.name
            self.presetChosen.emit(preset)
