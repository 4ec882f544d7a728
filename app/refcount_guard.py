"""Guard against a PySide6 reference-count bug that would crash the window after a minute or two of painting.

PySide6 6.12.0 on CPython 3.11 does not add a reference to None when a void C++ method returns (every
`setText`, `QPainter.drawLine`, ...), nor to True when `Signal.emit` returns. On Python 3.12+ these objects
are immortal and nothing happens; on 3.11 their reference counts fall by one per call until the interpreter
aborts ("none_dealloc: deallocating None" / "bool_dealloc"). A live preview makes thousands of such calls a
minute. PySide6 6.11 does not have the bug; the real fix is a PySide6 that is not affected (or Python 3.12+).

`guard_singleton_refcounts()` measures whether this interpreter and PySide6 are affected and, only if they
are, gives None, True and False a large surplus of references, which makes them as good as immortal, as they
are on 3.12+. It is a no-op everywhere else.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

SURPLUS = 1 << 40  # far more calls than any session makes; Py_ssize_t holds it with room to spare
_PROBE_CALLS = 64


class _Probe(QObject):
    ping = Signal()


def affected() -> tuple[bool, bool]:
    """(None is under-referenced by void calls, True is under-referenced by Signal.emit), measured."""
    probe = _Probe()
    probe.setObjectName("probe")
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    none_lost = sys.getrefcount(None) < before
    probe.ping.emit()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        probe.ping.emit()
    true_lost = sys.getrefcount(True) < before
    return none_lost, true_lost


def _add_references(obj: object, count: int) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += count  # ob_refcnt is the object's first field


def guard_singleton_refcounts() -> bool:
    """Protect None, True and False if this PySide6 loses references to them; True if it had to. Safe to call
    more than once (the modules that make many Qt calls each call it on import)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal objects: the lost references do no harm
    if sys.getrefcount(None) > SURPLUS // 2:
        return False  # already guarded
    none_lost, true_lost = affected()
    if not (none_lost or true_lost):
        return False
    for obj in (None, True, False):
        _add_references(obj, SURPLUS)
    return True
