"""Whether the process that wrote a file is still running: its start time (to tell it from a later process that
got its pid) and a liveness check, on Linux and macOS (os.kill, /proc) and on Windows (kernel32, through ctypes).
The recovery store asks it before it touches another Fude's unfinished picture."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Windows (kernel32): what windows_alive asks for and what it is told.
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
STILL_ACTIVE = 259
ERROR_ACCESS_DENIED = 5
WINDOWS = os.name == "nt"



class FILETIME(ctypes.Structure):
    _fields_ = [("dwLowDateTime", ctypes.c_uint32), ("dwHighDateTime", ctypes.c_uint32)]


def windows_api() -> tuple[Any, Callable[[], int]]:
    """kernel32, with the signatures windows_alive uses (a HANDLE is pointer-sized: the default int would cut a
    64-bit one short), and the call that reads the last error; only on Windows."""
    # WinDLL and get_last_error exist only on Windows (this runs only there); typeshed declares them for win32 only
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle, dword, filetime = ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(FILETIME)
    kernel32.OpenProcess.argtypes, kernel32.OpenProcess.restype = (dword, ctypes.c_int, dword), handle
    kernel32.GetExitCodeProcess.argtypes = (handle, ctypes.POINTER(dword))
    kernel32.GetProcessTimes.argtypes = (handle, filetime, filetime, filetime, filetime)
    kernel32.CloseHandle.argtypes = (handle,)
    return kernel32, ctypes.get_last_error  # type: ignore[attr-defined]  # Windows only, as above


def windows_created(kernel32: Any, handle: Any) -> str | None:
    """When the process behind `handle` was created (a FILETIME, as a decimal string), or None."""
    times = [FILETIME() for _ in range(4)]  # creation, exit, kernel, user
    if not kernel32.GetProcessTimes(handle, *(ctypes.pointer(t) for t in times)):
        return None
    return str(times[0].dwHighDateTime << 32 | times[0].dwLowDateTime)


def windows_process_start(pid: int, kernel32: Any) -> str | None:
    """When process `pid` started, on Windows (`kernel32`: the DLL, or a stand-in with its four functions)."""
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return None
    try:
        return windows_created(kernel32, handle)
    finally:
        kernel32.CloseHandle(handle)


def windows_alive(pid: int, started: str | None, kernel32: Any, last_error: Callable[[], int]) -> bool:
    """Whether process `pid` (started at `started`, when known) still runs, on Windows, where os.kill would end
    it: it can be opened, has not exited, and is the process that started then, not a later one with its pid."""
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return last_error() == ERROR_ACCESS_DENIED  # someone else's process; any other failure: no such process
    try:
        code = ctypes.c_uint32()
        if not kernel32.GetExitCodeProcess(handle, ctypes.pointer(code)):
            return True  # it exists and cannot be asked: leave its folder alone
        if code.value != STILL_ACTIVE:
            return False
        now = windows_created(kernel32, handle)
        return started is None or now is None or now == started
    finally:
        kernel32.CloseHandle(handle)


def process_start(pid: int) -> str | None:
    """When process `pid` started (Linux: /proc; Windows: its creation time), to tell a live owner from a later
    process that got its pid; None where that cannot be known."""
    if WINDOWS:
        try:
            return windows_process_start(pid, windows_api()[0])
        except (OSError, AttributeError):
            return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int, started: str | None) -> bool:
    """Whether process `pid` (which started at `started`, when known) is still running."""
    if WINDOWS:
        try:
            return windows_alive(pid, started, *windows_api())
        except (OSError, AttributeError):
            return True  # cannot tell: never prune what may be another window's live run
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except (OSError, OverflowError):
        return False
    now = process_start(pid)
    return started is None or now is None or now == started
