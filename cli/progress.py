"""The command line's view of a run: a progress bar on stderr following the share of the run's work done, with the
iteration, the scale, the time left and the losses, and notes and warnings written above it."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from engine import __version__
from engine.driver import RunListener
from engine.schedule import describe_seconds

if TYPE_CHECKING:  # for the type checker only: torch loads when a render starts
    import numpy as np
    from tqdm import tqdm

    from engine.memory import MemoryCheck
    from engine.run import Frame, StyleRun

PROGRESS_REFRESH_S = 0.25
PROGRESS_STEPS = 1000  # the bar's resolution: the share of the run's work done, in thousandths
BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}|"  # and then the run's own figures


class ProgressBar(RunListener):
    """The command line's view of a run: a line saying what runs where, a progress bar with the losses (on
    stderr, unless quiet), notes and warnings written above the bar. In a batch (`label` given) the bar is named
    for the picture, sits under the batch's own bar (`position` 1) and goes when the picture is done, and the
    line saying what runs where is said only with `header`."""

    def __init__(self, quiet: bool, style_names: Sequence[str], label: str | None = None, position: int = 0,
                 header: bool = True) -> None:
        self.quiet = quiet
        self.style_names = list(style_names)
        self.label = label
        self.position = position
        self.header = header
        self.bar: tqdm[NoReturn] | None = None  # a bar over no iterable
        self._last_refresh = 0.0

    def on_memory_warning(self, check: MemoryCheck) -> None:
        warning = check.warning()
        hint = f" (--size {check.fits})" if check.fits is not None else ""
        self._write(f"warning: {warning}{hint}; trying anyway")

    def on_started(self, run: StyleRun) -> None:
        from tqdm import tqdm

        if not self.quiet and self.header:
            width, height = run.size
            backend, settings = run.backend, run.settings
            count = (f"up to {run.total} iterations, each scale until its picture settles"
                     if run.settings.iterations is None else f"{run.total} iterations")
            self._write(f"Fude {__version__}: {width}x{height} px, {count}, {settings.optimizer}, "
                        f"{backend.device.type} {backend.precision.name}, weights {backend.network.description}")
            if run.tile is not None and run.final_tiles > 1:
                self._write(f"tiles: the full size in {run.final_tiles} tiles of at most {run.tile} px")
            if len(self.style_names) > 1:
                mix = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(self.style_names, run.style_weights))
                self._write(f"styles: {mix}")
        # The bar follows the work done (a finer scale's iteration costs more, and a scale may end early when its
        # picture settles), and says the iteration, the scale and the time left itself.
        self.bar = tqdm(total=PROGRESS_STEPS, disable=self.quiet, dynamic_ncols=True, file=sys.stderr,
                        desc=self.label, position=self.position, leave=self.label is None,
                        bar_format=BAR_FORMAT)

    def on_frame(self, run: StyleRun, frame: Frame, image: np.ndarray | None) -> None:
        if self.bar is None:
            return
        now = time.monotonic()
        last = frame.index == frame.total
        # Reading the losses syncs with the device, so only when the bar will show them.
        if not self.quiet and (now - self._last_refresh >= PROGRESS_REFRESH_S or last):
            losses = frame.losses
            count = f"{frame.index}" if frame.settling and not last else f"{frame.index}/{frame.total}"
            scale = f" scale {frame.scale}/{frame.scales}" if frame.scales > 1 else ""
            seconds = frame.seconds_left
            left = "" if last or not math.isfinite(seconds) else f", {describe_seconds(seconds)} left"
            figures = (f"it {count}{scale}{left}, total {losses['total']:.4f}, content {losses['content']:.3f}, "
                       f"style {losses['style']:.4f}")
            self.bar.bar_format = BAR_FORMAT + " " + figures.replace("{", "{{").replace("}", "}}")
            self.bar.n = PROGRESS_STEPS if last else round(frame.fraction * PROGRESS_STEPS)
            self.bar.refresh()
            self._last_refresh = now

    def on_notice(self, text: str) -> None:
        self._write(f"note: {text}")

    def on_recovery_failed(self, reason: str) -> None:
        self._write(f"warning: the recovery copy cannot be written ({reason})")

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)  # above the bars, which are drawn again below it

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
