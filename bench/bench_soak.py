"""Soak test: does Fude stay flat over a long run and many runs? Prints figures; asserts nothing (the test suite
runs a short version of the window cycles, tests/app/test_app_soak.py).

1. A long run (default 2,000 iterations at 256 px, one scale, L-BFGS), driven as the command line drives it
   (GIF frames recorded, the image read back every few iterations): resident memory at the start, after the
   warm-up, every few hundred iterations, and at the end; growth is end minus after-warm-up.
2. Start/stop cycles in the real window (offscreen Qt): start a run, wait for its first frame, stop it, wait for
   its thread to end; threads alive and resident memory before and after, and any error shown or printed.
3. Close-during-run cycles: a new window each time, started, closed while rendering, deleted.
4. With --calibrate: the peak resident memory of single runs at several sizes against engine/memory.py's
   estimate, each in a fresh process (the figures behind its OVERHEAD).

    python bench/bench_soak.py [--size 256] [--iterations 2000] [--cycles 50] [--close-cycles 20]
                               [--cycle-size 64] [--skip-long] [--calibrate 128 256 512]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

MB = 1024**2
FALLBACK = ROOT / "tests" / "data"
IMAGES = ROOT.parent / "shared" / "images"


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc); elsewhere its peak so far, the best there is."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def thread_count() -> int:
    """Threads of this process that the OS sees (Qt's and torch's too), or Python's where /proc is missing."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def trim() -> None:
    """Collect garbage and hand free heap pages back, so resident memory shows what is really held."""
    from engine.memory import release_memory

    release_memory()


@dataclass
class LongRun:
    size: str
    iterations: int
    seconds: float
    start: int  # resident bytes before the run
    after_warmup: int
    end: int
    # (iteration, resident bytes as it was, resident bytes once freed heap pages were handed back)
    samples: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def growth(self) -> int:
        return self.end - self.after_warmup

    def report(self) -> str:
        lines = [f"long run: {self.iterations} iterations at {self.size} in {self.seconds:.0f} s",
                 f"  resident (free heap pages handed back first): start {self.start / MB:.0f} MB, after warm-up "
                 f"{self.after_warmup / MB:.0f} MB, end {self.end / MB:.0f} MB, growth after warm-up "
                 f"{self.growth / MB:+.1f} MB; highest seen {max([r for _, r, _ in self.samples] + [0]) / MB:.0f} MB",
                 "  samples (iteration: resident as it was / after handing back free heap pages, MB): "
                 + ", ".join(f"{i}: {raw / MB:.0f}/{held / MB:.0f}" for i, raw, held in self.samples)]
        return "\n".join(lines)


def long_run(content: np.ndarray, style: np.ndarray, backend, size: int = 256, iterations: int = 2000,
             warmup: int = 100, every: int = 100, read_every: int = 5,
             report: Callable[[str], None] | None = None) -> LongRun:
    """Run `iterations` at `size` px, one scale, recording as the command line does; resident memory over it
    (each sample also passed to `report` as it is taken)."""
    from engine.export import FrameRecorder
    from engine.run import StyleRun
    from engine.settings import RenderSettings

    settings = RenderSettings(size=size, iterations=iterations, device=backend.device.type,
                              precision=backend.precision.name, multiscale=False)
    trim()
    start = rss_bytes()
    began = time.perf_counter()
    run = StyleRun(content, style, settings, backend)
    recorder = FrameRecorder()
    after_warmup = 0
    samples: list[tuple[int, int, int]] = []
    for frame in run:
        if recorder.wants(frame.index):
            recorder.add(frame.index, frame.image())
        if frame.index % read_every == 0:
            frame.image()
            _ = frame.losses
        if frame.index % every == 0 or frame.index == warmup:
            raw = rss_bytes()
            trim()
            held = rss_bytes()
            if frame.index == warmup:
                after_warmup = held
            if frame.index % every == 0:
                samples.append((frame.index, raw, held))
                if report is not None:
                    report(f"  iteration {frame.index}: resident {raw / MB:.0f} MB, {held / MB:.0f} MB after handing "
                           f"back free heap pages; {frame.iterations_per_second:.2f} it/s")
    width, height = run.size
    del run, frame
    trim()
    end = rss_bytes()
    return LongRun(size=f"{width}x{height}", iterations=iterations, seconds=time.perf_counter() - began,
                   start=start, after_warmup=after_warmup or start, end=end, samples=samples)


@dataclass
class Cycles:
    name: str
    cycles: int
    seconds: float
    threads_before: int
    threads_after: int
    rss_before: int
    rss_after: int
    qthreads_running: int
    errors: list[str]

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before

    def report(self) -> str:
        return (f"{self.name}: {self.cycles} cycles in {self.seconds:.0f} s; threads {self.threads_before} -> "
                f"{self.threads_after}; QThreads still running {self.qthreads_running}; resident "
                f"{self.rss_before / MB:.0f} -> {self.rss_after / MB:.0f} MB ({self.rss_growth / MB:+.1f} MB); "
                f"errors {len(self.errors)}" + "".join(f"\n  {e}" for e in self.errors[:10]))


QT_NOISE = ("propagateSizeHints",)  # the offscreen platform saying what it cannot do; nothing is wrong


class ErrorCatcher:
    """Collects what would otherwise only be printed: Qt warnings and exceptions raised in slots."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __enter__(self) -> ErrorCatcher:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler

        def on_qt_message(kind, context, text: str) -> None:
            if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) and not any(
                    noise in text for noise in QT_NOISE):
                self.errors.append(f"Qt: {text}")

        self._previous_handler = qInstallMessageHandler(on_qt_message)
        self._previous_hook = sys.excepthook
        sys.excepthook = lambda kind, value, tb: self.errors.append(f"{kind.__name__}: {value}")
        return self

    def __exit__(self, *exc: object) -> None:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(self._previous_handler)
        sys.excepthook = self._previous_hook


def wait_until(app, condition: Callable[[], bool], timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.002)
    return True


def _settle(app) -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    for _ in range(3):
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    trim()


def _running_qthreads(threads: list) -> int:
    count = 0
    for thread in threads:
        try:
            count += bool(thread.running)
        except RuntimeError:  # the C++ object is gone: not running
            pass
    return count


def _measure_cycles(app, name: str, cycle: Callable[[list[str]], None], cycles: int,
                    threads: list) -> Cycles:
    """Run `cycle` once to warm up (first-use allocations are not a leak), then `cycles` times, measuring the
    threads and resident memory before and after, and what errors were printed or shown."""
    with ErrorCatcher() as caught:
        cycle(caught.errors)
        _settle(app)
        threads_before, rss_before = thread_count(), rss_bytes()
        began = time.perf_counter()
        for _ in range(cycles):
            cycle(caught.errors)
        seconds = time.perf_counter() - began
        _settle(app)
    return Cycles(name, cycles, seconds, threads_before, thread_count(), rss_before, rss_bytes(),
                  _running_qthreads(threads), caught.errors)


def start_stop_cycles(app, window, cycles: int, timeout_s: float = 120.0) -> Cycles:
    """Start and stop a run in `window` (its panes loaded) `cycles` times, after one warm-up cycle."""
    threads: list = []

    def cycle(errors: list[str]) -> None:
        shown = window.canvas.frames_shown
        if not window.run_panel.start():
            errors.append(f"start refused: {window.messages.text()}")
            return
        threads.append(window.session.worker)  # the bench checks the worker's thread itself
        if not wait_until(app, lambda: window.canvas.frames_shown > shown or not window.session.running, timeout_s):
            errors.append("no frame arrived")
        window.session.stop()
        if not wait_until(app, lambda: window.session.state == "idle" and not window.session.running, timeout_s):
            errors.append("the run did not stop")
        if window.messages.kind == "error":
            errors.append(f"shown: {window.messages.text()}")

    return _measure_cycles(app, "start/stop", cycle, cycles, threads)


def close_during_run_cycles(app, make_window: Callable[[], object], cycles: int,
                            timeout_s: float = 120.0) -> Cycles:
    """Open a window (from `make_window`, panes loaded), start a run, close the window mid-run, delete it."""
    threads: list = []

    def cycle(errors: list[str]) -> None:
        window = make_window()
        window.show()
        if not window.run_panel.start():
            errors.append(f"start refused: {window.messages.text()}")
        else:
            threads.append(window.session.worker)
            if not wait_until(app, lambda: window.canvas.frames_shown > 0 or not window.session.running, timeout_s):
                errors.append("no frame arrived")
        window.close()
        if window.session.running:
            errors.append("closing left the render thread running")
        window.deleteLater()
        _settle(app)

    return _measure_cycles(app, "close during run", cycle, cycles, threads)


def calibrate(size: int, precision: str) -> str:
    """Peak resident memory of one single-scale run against the estimate, in a fresh process."""
    code = f"""
import gc, sys
sys.path.insert(0, {str(ROOT)!r})
from bench.bench_soak import _calibration_run
print(_calibration_run({size}, {precision!r}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    return (result.stdout.strip() or result.stderr.strip().splitlines()[-1])


def _calibration_run(size: int, precision: str) -> str:
    from engine.images import fit_size
    from engine.memory import estimate_bytes, tensor_bytes
    from engine.run import LBFGS_HISTORY, Backend, StyleRun
    from engine.settings import RenderSettings

    content, style = pictures()
    settings = RenderSettings(size=size, iterations=LBFGS_HISTORY + 1, device="cpu", precision=precision,
                              multiscale=False)
    backend = Backend.create(settings)
    trim()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to now
    except OSError:
        return "needs Linux (/proc/self/clear_refs) to measure a peak"
    base = rss_bytes()
    for frame in StyleRun(content, style, settings, backend):
        frame.image()
    peak = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    w, h = fit_size(content.shape[1], content.shape[0], size)
    sw, sh = fit_size(style.shape[1], style.shape[0], size)
    tensors = tensor_bytes(w, h, sw, sh, backend.precision.dtype.itemsize)
    estimate = estimate_bytes(content.shape, style.shape, settings, backend.precision.dtype.itemsize)
    return (f"{w}x{h} {backend.precision.name}: resident before {base / MB:.0f} MB, peak {peak / MB:.0f} MB, "
            f"the run's {(peak - base) / MB:.0f} MB; tensors counted {tensors / MB:.0f} MB "
            f"(x{(peak - base) / tensors:.2f}); estimate {estimate / MB:.0f} MB")


def pictures() -> tuple[np.ndarray, np.ndarray]:
    from engine.images import load_image

    folder = IMAGES if (IMAGES / "chelsea.png").is_file() and (IMAGES / "wave.jpg").is_file() else None
    if folder is not None:
        return load_image(folder / "chelsea.png"), load_image(folder / "wave.jpg")
    return load_image(FALLBACK / "cat.png"), load_image(FALLBACK / "wave.png")


def window_factory(backend, folder: Path, size: int, iterations: int, recovery_interval_s: float | None = None,
                   pair: tuple[np.ndarray, np.ndarray] | None = None):
    """A function that makes a window with isolated settings and recovery folder, both panes loaded (with `pair`
    or the sample pictures)."""
    from PySide6.QtCore import QSettings

    from app.loaded_image import LoadedImage
    from app.window import MainWindow
    from engine.driver import BackendCache
    from engine.recovery import RecoveryStore

    backends = BackendCache(backend)
    content, style = pair if pair is not None else pictures()
    interval = {} if recovery_interval_s is None else {"interval_s": recovery_interval_s}

    def make() -> MainWindow:
        store = QSettings(str(folder / "fude.ini"), QSettings.Format.IniFormat)
        window = MainWindow(store=store, backends=backends, recovery=RecoveryStore(folder / "recovery", **interval),
                            history_folder=folder / "history")
        window.advanced.size_spin.setValue(size)
        window.advanced.iterations.setValue(iterations)
        window.advanced.device.setCurrentIndex(max(0, window.advanced.device.findData(backend.device.type)))
        window.content_pane.set_image(LoadedImage(content, "content.png"))
        window.style_pane.set_image(LoadedImage(style, "style.png"))
        return window

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--close-cycles", type=int, default=20)
    parser.add_argument("--cycle-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--calibrate", type=int, nargs="*", metavar="SIZE")
    args = parser.parse_args()

    if args.calibrate is not None:
        for size in args.calibrate or [128, 256, 512]:
            for precision in ("fp32", "bf16"):
                print(f"calibration {size} px: {calibrate(size, precision)}", flush=True)

    from PySide6.QtWidgets import QApplication

    from engine.run import Backend
    from engine.settings import RenderSettings

    app = QApplication.instance() or QApplication([])
    backend = Backend.create(RenderSettings(device=args.device))
    print(f"Fude soak on {backend.device.type} {backend.precision.name}; threads now {thread_count()}, "
          f"resident {rss_bytes() / MB:.0f} MB", flush=True)
    if not args.skip_long:
        content, style = pictures()
        print(long_run(content, style, backend, args.size, args.iterations,
                       report=lambda line: print(line, flush=True)).report(), flush=True)
    with tempfile.TemporaryDirectory(prefix="fude-soak-") as folder:
        make = window_factory(backend, Path(folder), args.cycle_size, 100_000)
        window = make()
        window.show()
        print(start_stop_cycles(app, window, args.cycles).report(), flush=True)
        window.close()
        window.deleteLater()
        _settle(app)
        print(close_during_run_cycles(app, make, args.close_cycles).report(), flush=True)
        left = list((Path(folder) / "recovery").glob("*"))
        print(f"recovery folders left behind: {len(left)}", flush=True)
    gc.collect()


if __name__ == "__main__":
    main()
