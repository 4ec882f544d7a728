"""How large a picture the chosen device can render and how long it will take: its free memory and its speed,
measured by a BackgroundTask (the measurement imports torch, which the GUI thread must never wait for), the largest
size whose memory estimate fits (engine.memory; in tiles where one pass does not), and the time a run of the
settings in use should take (engine.schedule), as the size field offers them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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
    seconds_per_pixel: float | None = None  # the network's forward and backward pass here; None: not measured

    def where(self) -> str:
        return {"cuda": "the GPU", "mps": "the Apple GPU", "cpu": "the CPU"}.get(self.device, self.device)


@dataclass(frozen=True)
class SizeOffer:
    """The largest size the size field offers and why no larger one is; how long the size in use should take."""

    maximum: int
    reason: str
    duration: str = ""


def measure(choice: str, speed: bool = True) -> DeviceMemory:
    """The free memory of the device `choice` picks and, with `speed`, how fast the network runs there (runs on
    the probe's thread: it imports torch and loads the network for a moment)."""
    from engine.device import pick_device
    from engine.memory import available_bytes

    try:
        device = pick_device(choice)
    except FudeError as exc:
        return DeviceMemory(choice, choice, None, exc.reason)
    available = available_bytes(device)  # before the network is loaded to measure the speed
    seconds_per_pixel = None
    if speed:
        from engine.network import load_vgg19
        from engine.schedule import measure_speed

        try:
            seconds_per_pixel = measure_speed(load_vgg19().to(device), device)
        except FudeError:
            seconds_per_pixel = None  # no weights: the run will say so; the time stays unknown
    return DeviceMemory(choice, device.type, available, seconds_per_pixel=seconds_per_pixel)


def size_offer(memory: DeviceMemory | None, content_shape: tuple[int, ...] | None,
               style_shapes: Sequence[tuple[int, ...]], settings: RenderSettings,
               gif_frames: int = GIF_MAX_FRAMES) -> SizeOffer:
    """The sizes to offer for these pictures (a square when there are none yet: the most pixels for a given
    longest side) and settings on the measured device, keeping room for the animation's frames as the run's own
    memory check does: every size that fits, in tiles where one pass does not; and how long `settings.size`
    should take there."""
    if memory is None or memory.available is None:
        return SizeOffer(MAX_SIZE, "")
    import torch

    from engine.memory import check_memory, gigabytes, largest_fitting_size, largest_style_shape
    from engine.tiles import MIN_TILE

    content = content_shape or (1, 1, 3)
    style = largest_style_shape(list(style_shapes)) if style_shapes else content
    element_size = 2 if settings.precision in LOW_PRECISIONS else 4  # "auto" may measure fp32: plan for it
    largest = settings.replaced(size=MAX_SIZE)
    at_once = largest_fitting_size(content, style, largest, memory.available, element_size, gif_frames)
    tiled = largest_fitting_size(content, style, largest, memory.available, element_size, gif_frames, MIN_TILE)
    free = f"the {gigabytes(memory.available)} free on {memory.where()}"
    if tiled is None:
        return SizeOffer(MIN_SIZE, f"Even {MIN_SIZE} px may not fit in {free}.")
    if at_once is not None and at_once >= MAX_SIZE:
        reason = f"Every size up to {MAX_SIZE} px fits in {free}."
    elif tiled >= MAX_SIZE:
        reason = (f"Every size fits in {free}; above {at_once or MIN_SIZE} px the picture is computed in tiles "
                  "(the same picture, more slowly).")
    else:
        reason = (f"Up to {tiled} px fits in {free}, above {at_once or MIN_SIZE} px in tiles; a larger picture "
                  "would run out of memory.")
    duration = ""
    if memory.seconds_per_pixel is not None:
        size = min(settings.size, tiled)
        check = check_memory(content, style, settings.replaced(size=size), torch.device(memory.device),
                             element_size, gif_frames, available=memory.available)
        duration = run_duration(content, settings.replaced(size=size), memory.seconds_per_pixel, check.tile)
    return SizeOffer(tiled, reason, duration)


def run_duration(content_shape: tuple[int, ...], settings: RenderSettings, seconds_per_pixel: float,
                 tile: int | None) -> str:
    """"512 px: about 1 min here (up to 3 min: each scale stops once its picture has settled).", said of a run of
    `settings` on a content picture of this (H, W, ...) shape. The time is the run's usual work and the most its
    work can be, from the same model the run's own time left comes from (engine.schedule.Schedule)."""
    from engine.schedule import ITERATION_COST, Schedule, describe_seconds

    schedule = Schedule.of(settings, content_shape[1], content_shape[0], tile)
    seconds_per_work = seconds_per_pixel * ITERATION_COST
    text = f"{settings.size} px: {describe_seconds(schedule.expected_work * seconds_per_work)} here"
    if tile is not None:
        text += f", in tiles of {tile} px"
    if schedule.settling:
        most = describe_seconds(schedule.most_work * seconds_per_work).removeprefix("about ")
        text += f" (up to {most}: each scale stops once its picture has settled)"
    return text + "."


class MemoryProbe(QObject):
    """Measures a device's free memory off the GUI thread (a BackgroundTask) and emits `measured` (a DeviceMemory)
    on it. One measurement at a time: a request during one is done after it, the latest request winning."""

    measured = Signal(object)

    def __init__(self, parent: QObject | None = None,
                 measure_fn: Callable[[str, bool], DeviceMemory] = measure) -> None:
        super().__init__(parent)
        self._measure = measure_fn
        self._task = BackgroundTask("memory-probe", self)
        self._task.succeeded.connect(self._on_measured)
        self._task.failed.connect(self._on_failed)
        self._task.finished.connect(self._on_finished)
        self._choice = ""
        self._again: str | None = None  # asked for while a measurement was under way
        self._speeds: dict[str, float] = {}  # seconds per pixel measured, by device choice
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
        speed = choice not in self._speeds  # the speed is measured once per device choice: it does not change
        self._task.start(lambda: measure_fn(choice, speed))

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
        if memory.seconds_per_pixel is not None:
            self._speeds[memory.choice] = memory.seconds_per_pixel
        elif memory.choice in self._speeds:
            memory = replace(memory, seconds_per_pixel=self._speeds[memory.choice])
        self.latest = memory
        self.measured.emit(memory)

    @Slot()
    def _on_finished(self) -> None:
        again, self._again = self._again, None
        if again is not None:
            self.request(again)
