"""fail_step_at: make a run's step fail on purpose, the way a real failure would, for the tests of what the
driver, the worker and the window do then."""

from __future__ import annotations

import pytest

from engine.memory import is_out_of_memory
from engine.run import Frame, StyleRun


def fail_step_at(monkeypatch: pytest.MonkeyPatch, index: int, error: Exception) -> None:
    """Make the step after `index` iterations fail with `error`; an allocator's error (a RuntimeError that says
    out of memory) is raised by the network, so that StyleRun turns it into OutOfMemory as it does a real one."""
    real = StyleRun.step

    def failing(*args: object) -> None:
        raise error

    def step(self: StyleRun) -> Frame:
        if self.index >= index:
            if not is_out_of_memory(error):
                raise error
            monkeypatch.setattr(self.backend.network, "forward", failing)
        return real(self)

    monkeypatch.setattr(StyleRun, "step", step)
