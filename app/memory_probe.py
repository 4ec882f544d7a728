"""How large a picture the chosen device can render: its free memory, measured by a BackgroundTask (the
measurement imports torch, which the GUI thread must never wait for), and the largest size whose memory
estimate fits (engine.memory), as the size field offers it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.background import BackgroundTask
from engine.errors import FudeError
from engine.export import GIF_MAX_FRAMES
from engine.settings import MAX_SIZE, MIN_SIZE, RenderSettings

LOW_PRECISIONS = ("bf16", "fp16")


@dataclass(frozen=True)
class DeviceMemory:
    """The memory of the device a settings' `choice` ("auto", "cuda", ...) picks."""

    choice: str
    device: str  # "cuda", "mps" or "cpu"; the choice itself when it cannot be used
    available: int | None  # bytes a run may still take; None: unknown
    problem: str = ""  # why the device cannot be used, when it cannot

    def where(self) -> str:
        return {"cuda": "the GPU", "mps": "the Apple GPU", "cpu": "the CPU"}.get(self.device, self.device)


@dataclass(frozen=True)
class SizeOffer:
    """The largest size the size field offers and why no larger one is."""

    maximum: int
    reason: str


def measure(choice: str) -> DeviceMemory:
    """The free memory of the device `choice` picks (runs on the probe's thread: it imports torch)."""
    from engine.device import pick_device
    from engine.memory import available_bytes

    try:
        device = pick_device(choice)
    except FudeError as exc:
        return DeviceMemory(choice, choice, None, exc.reason)
    return DeviceMemory(choice, device.type, available_bytes(device))


def size_offer(memory: DeviceMemory | None, content_shape: tuple[int, ...] | None,
               style_shapes: Sequence[tuple[int, ...]], settings: RenderSettings,
               gif_frames: int = GIF_MAX_FRAMES) -> SizeOffer:
    """The sizes to offer for these pictures (a square when there are none yet: the most pixels for a given
    longest side) and settings on the measured device, keeping room for the animation's frames as the run's own
    memory check does."""
    if memory is None or memory.available is None:
        return SizeOffer(MAX_SIZE, "")
    from engine.memory import gigabytes, largest_fitting_size, largest_style_shape

    content = content_shape or (1, 1, 3)
    style = largest_style_shape(list(style_shapes)) if style_shapes else content
    element_size = 2 if settings.precision in LOW_PRECISIONS else 4  # "auto" may measure fp32: plan for it
    fits = largest_fitting_size(content, style, settings.replaced(size=MAX_SIZE), memory.available, element_size,
                                gif_frames)
    free = f"the {gigabytes(memory.available)} free on {memory.where()}"
    if fits is None:
        return SizeOffer(MIN_SIZE, f"Even {MIN_SIZE} px may not fit in {free}.")
    if fits >= MAX_SIZE:
        return SizeOffer(MAX_SIZE, f"Every size up to {MAX_SIZE} px fits in {free}.")
    return SizeOffer(fits, f"Up to {fits} px fits in {free}; a larger picture would run out of memory.")


class MemoryProbe(QObject):
    """Measures a device's free memory off the GUI thread (a BackgroundTask) and emits `measured` (a DeviceMemory)
    on it. One measurement at a time: a request during one is done after it, the latest request winning."""

    measured = Signal(object)

    def __init__(self, parent: QObject | None = None,
                 measure_fn: Callable[[str], DeviceMemory] = measure) -> None:
        super().__init__(parent)
        self._measure = measure_fn
        self._task = BackgroundTask("memory-probe", self)
        self._task.succeeded.connect(self._on_measured)
        self._task.failed.connect(self._on_failed)
        self._task.finished.connect(self._on_finished)
        self._choice = ""
        self._again: str | None = None  # asked for while a measurement was under way
        self.latest: DeviceMemory | None = None

    @property
    def busy(self) -> bool:
        return self._task.busy

    def request(self, choice: str) -> None:
        """Measure the device `choice` picks; a request during a measurement is done after it."""
        if self._task.busy:
            self._again = choice
            return
        measure_fn = self._measure
        self._choice = choice
        self._task.start(lambda: measure_fn(choice))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Finish the measurement under way and any asked for after it, and report them now (for a window that is
        closing, or a script); True when none is left running."""
        while self._task.busy:
            if not self._task.deliver(timeout_s):
                return False
        return True

    @Slot(object)
    def _on_measured(self, memory: DeviceMemory) -> None:
        self._report(memory)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:  # an unexpected failure only means the limit stays unknown
        self._report(DeviceMemory(self._choice, self._choice, None, f"{type(exc).__name__}: {exc}"))

    def _report(self, memory: DeviceMemory) -> None:
        self.latest = memory
        self.measured.emit(memory)

    @Slot()
    def _on_finished(self) -> None:
        again, self._again = self._again, None
        if again is not None:
            self.request(again)
