"""The sizes the Advanced size field offers: the free memory of the chosen device, measured in the background
whenever the field is shown (and again when the device changes or a run has freed its memory), and the largest
size whose memory estimate fits for the pictures and settings in use (in tiles where one pass does not); and how
long the size in use should take on that device, from its measured speed."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from app.memory_probe import DeviceMemory, MemoryProbe, size_offer
from app.session import Session
from app.widgets.render_controls import AdvancedPanel


class SizeOfferPanel(QObject):
    """Keeps `advanced`'s size limit in step with `session` and the measured memory."""

    def __init__(self, session: Session, advanced: AdvancedPanel, probe: MemoryProbe | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._advanced = advanced
        self.probe = probe if probe is not None else MemoryProbe(self)
        self.probe.measured.connect(self._on_measured)
        self.device_memory: DeviceMemory | None = None
        advanced.toggle.toggled.connect(self._on_advanced_toggled)
        advanced.device.currentIndexChanged.connect(self.probe_if_shown)
        session.settingsChanged.connect(self.update_offer)
        session.contentChanged.connect(self.update_offer)
        session.stylesChanged.connect(self.update_offer)
        session.runEnded.connect(self.probe_if_shown)  # what the run held is free again: more may fit

    def wait(self) -> None:
        """Finish a measurement under way (the window is closing)."""
        self.probe.wait()

    def _device_choice(self) -> str:
        return str(self._advanced.device.currentData() or "auto")

    @Slot(bool)
    def _on_advanced_toggled(self, expanded: bool) -> None:
        if expanded:
            self.probe_memory()

    @Slot()
    def probe_if_shown(self) -> None:
        """Measure again while the size field is shown (hidden, nothing needs to know yet)."""
        if self._advanced.body.isVisibleTo(self._advanced):
            self.probe_memory()

    def probe_memory(self) -> None:
        """Measure the free memory of the device chosen under Advanced (in the background); the size field then
        offers only the sizes that fit."""
        self.probe.request(self._device_choice())

    @Slot(object)
    def _on_measured(self, memory: DeviceMemory) -> None:
        if memory.choice == self._device_choice():
            self.set_device_memory(memory)

    def set_device_memory(self, memory: DeviceMemory | None) -> None:
        self.device_memory = memory
        self.update_offer()

    @Slot()
    def update_offer(self, *_: object) -> None:
        memory = self.device_memory
        if memory is None:
            return
        if memory.problem:
            self._advanced.set_size_limit(None, f"{memory.choice}: {memory.problem}")
            self._advanced.set_duration("")
            return
        session = self._session
        content = session.content
        offer = size_offer(memory, None if content is None else content.array.shape,
                           [style.array.shape for style in session.styles], session.settings)
        self._advanced.set_size_limit(offer.maximum, offer.reason)
        self._advanced.set_duration(offer.duration)
