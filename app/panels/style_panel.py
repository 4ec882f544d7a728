"""The window's style controls beside lam, and what they change: the style scale, the Keep colours switch (which
recolours the picture shown at once), the style weights a run takes as they move, the presets row, and the sizes
the size field offers for the measured free memory of the device. The window creates one `StyleWiring` and
holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QMenu

from app.memory_probe import DeviceMemory, MemoryProbe, size_offer
from app.widgets.preset_bar import PresetBar
from app.widgets.render_controls import StyleScaleControl
from app.window_part import WindowPart
from engine.colour import keep_colours
from engine.errors import FudeError
from engine.presets import FILE_NAME as PRESETS_FILE
from engine.presets import Preset, PresetStore
from engine.settings import RenderSettings, StoredRender

if TYPE_CHECKING:
    from app.window import MainWindow

KEY_PRESET = "render/preset"


class StyleWiring(WindowPart):
    """The style scale, the Keep colours switch, the presets row and the memory probe of `window`, made from
    `settings` before the window lays them out."""

    def __init__(self, window: MainWindow, settings: RenderSettings) -> None:
        super().__init__(window)
        window.style_pane.weightsChanged.connect(self._on_style_weights_changed)
        self.style_scale = StyleScaleControl(settings.style_scale)
        self.style_scale.scaleChanged.connect(self._on_style_scale_changed)
        window.style_pane.set_style_scale(settings.style_scale)
        self.keep_colours_check = QCheckBox("Keep colours")
        self.keep_colours_check.setObjectName("keepColoursCheck")
        self.keep_colours_check.setToolTip(
            "Keep the content's colours and take only the painting's strokes and textures. Switches the picture "
            "shown and saved at once, during or after a run, without running again (Ctrl+K).")
        self.keep_colours_check.setChecked(settings.keep_colours)
        self.keep_colours_check.toggled.connect(self._on_keep_colours_toggled)
        self.presets = PresetStore(window.recovery.root.parent / PRESETS_FILE)
        self.preset_bar = PresetBar(self.presets)
        self.preset_bar.presetChosen.connect(self.apply_preset)
        self.preset_bar.saveAsked.connect(self.save_preset)
        self.preset_bar.saved.connect(self._on_preset_saved)
        self.preset_bar.deleted.connect(self._on_preset_deleted)
        self.preset_bar.problem.connect(window.messages.show_error)
        self.memory_probe = MemoryProbe(self)
        self.memory_probe.measured.connect(self._on_memory_measured)
        self.device_memory: DeviceMemory | None = None

    def add_actions(self, view_menu: QMenu) -> None:
        self.keep_colours_action = self._window._action("&Keep the content's colours", None, ["Ctrl+K"])
        self.keep_colours_action.setCheckable(True)
        self.keep_colours_action.setChecked(self.keep_colours_check.isChecked())
        self.keep_colours_action.toggled.connect(self.keep_colours_check.setChecked)
        view_menu.addSeparator()
        view_menu.addAction(self.keep_colours_action)

    def start(self) -> None:
        """After the window is built: the last preset, a damaged presets file, and measuring the free memory
        whenever the size field is shown (measuring imports torch, in the background)."""
        window = self._window
        self.preset_bar.last_name = str(window.store.value(KEY_PRESET, "") or "")
        self.show_matching_preset()
        if window.messages.kind == "":  # an offer already showing (a recovery) goes first; the problem waits
            self.preset_bar.report_problem()
        window.advanced.device.currentIndexChanged.connect(self.probe_if_shown)
        window.advanced.optimizer.currentIndexChanged.connect(self.update_size_offer)
        window.advanced.precision.currentIndexChanged.connect(self.update_size_offer)
        window.advanced.toggle.toggled.connect(self._on_advanced_toggled)

    @Slot(bool)
    def _on_advanced_toggled(self, expanded: bool) -> None:
        if expanded:
            self.probe_memory()

    @Slot()
    def probe_if_shown(self) -> None:
        """Measure again while the size field is shown (hidden, nothing needs to know yet)."""
        advanced = self._window.advanced
        if advanced.body.isVisibleTo(advanced):
            self.probe_memory()

    def apply_settings(self, settings: RenderSettings) -> None:
        """Show the style scale, keep colours and (when they are for as many paintings as the pane holds) the
        style weights of `settings`."""
        self.style_scale.set_scale(settings.style_scale)
        self.keep_colours_check.setChecked(settings.keep_colours)
        style_pane = self._window.style_pane
        if len(settings.style_weights) > 1 and len(settings.style_weights) == len(style_pane.images):
            style_pane.set_weights(settings.style_weights)

    def style_weights_note(self, stored: StoredRender) -> str:
        """What a restore from `stored` says about style weights it could not restore ("" when none)."""
        weights, count = stored.settings.style_weights, len(self._window.style_pane.images)
        if len(weights) > 1 and len(weights) != count:
            return (f" Its {len(weights)} style weights were not restored: the Style pane holds {count} "
                    f"painting{'' if count == 1 else 's'}.")
        return ""

    @Slot(tuple)
    def _on_style_weights_changed(self, weights: tuple[float, ...]) -> None:
        """A weight moved: a run of these same paintings takes it from its next iteration on, like lam."""
        window = self._window
        worker = window.worker
        if worker is None or window.state not in ("running", "paused"):
            return
        pictures = tuple(image.array for image in window.style_pane.images)
        if len(pictures) == len(worker.job.styles) and all(a is b for a, b in zip(pictures, worker.job.styles)):
            worker.set_style_weights(weights)

    @Slot(float)
    def _on_style_scale_changed(self, scale: float) -> None:
        self._window.style_pane.set_style_scale(scale)
        self.show_matching_preset()
        self.update_size_offer()

    @Slot(bool)
    def _on_keep_colours_toggled(self, on: bool) -> None:
        self.keep_colours_action.setChecked(on)
        window = self._window
        if window._raw_result is not None:
            window._show_result(window._raw_result)

    def recoloured(self, image: np.ndarray) -> np.ndarray:
        """`image` with the run's content colours while Keep colours is on."""
        if not self.keep_colours_check.isChecked():
            return image
        window = self._window
        if window.record is not None:
            content = window.record.content
        elif window.content_pane.image is not None:
            content = window.content_pane.image.array
        else:
            return image
        return keep_colours(image, content)

    def probe_memory(self) -> None:
        """Measure the free memory of the device chosen under Advanced (in the background); the size field then
        offers only the sizes that fit."""
        self.memory_probe.request(self._window.advanced.device.currentData() or "auto")

    @Slot(object)
    def _on_memory_measured(self, memory: DeviceMemory) -> None:
        if memory.choice == (self._window.advanced.device.currentData() or "auto"):
            self.set_device_memory(memory)

    def set_device_memory(self, memory: DeviceMemory | None) -> None:
        self.device_memory = memory
        self.update_size_offer()

    def update_size_offer(self) -> None:
        memory = self.device_memory
        if memory is None:
            return
        window = self._window
        if memory.problem:
            window.advanced.set_size_limit(None, f"{memory.choice}: {memory.problem}")
            return
        try:
            settings = window.current_settings()
        except FudeError:
            return
        content = window.content_pane.image
        offer = size_offer(memory, None if content is None else content.array.shape,
                           [style.array.shape for style in window.style_pane.images], settings)
        window.advanced.set_size_limit(offer.maximum, offer.reason)

    def show_matching_preset(self) -> None:
        try:
            settings = self._window.current_settings()
        except FudeError:
            return
        self.preset_bar.show_matching(settings)

    @Slot(object)
    def apply_preset(self, preset: Preset) -> None:
        """Set lam, style scale and smoothing from `preset` (a run under way takes lam at once, the rest at the
        next Start)."""
        window = self._window
        window.apply_settings(preset.apply(window.current_settings()))
        self.preset_bar.last_name = preset.name
        self.preset_bar.show_matching(window.current_settings())
        window.store.setValue(KEY_PRESET, preset.name)

    def save_preset(self) -> Preset | None:
        """Ask a name and save the current lam, style scale and smoothing as the user's preset."""
        return self.preset_bar.save_as(self._window.current_settings())

    @Slot(object)
    def _on_preset_saved(self, preset: Preset) -> None:
        self._window.store.setValue(KEY_PRESET, preset.name)
        self._window.messages.show_info(f"Saved the preset “{preset.name}” ({self.presets.path}).")

    @Slot(object)
    def _on_preset_deleted(self, preset: Preset) -> None:
        self.show_matching_preset()
        self._window._ask(f"Deleted the preset “{preset.name}”.", "Undo", "style_wiring.undo_preset_delete", preset)

    def undo_preset_delete(self, preset: Preset) -> None:
        if self.preset_bar.restore(preset):
            self.show_matching_preset()
            self._window.messages.show_info(f"The preset “{preset.name}” is back.")
