"""What the live preview costs: iterations per second of the same run driven headless (a bare StyleRun loop)
and driven by the real window with its preview canvas, loss plot and progress on (offscreen Qt), interleaved
so that the machine's load hits both alike. Prints each pair and the median cost.

The headless run is measured in a child process, on its main thread, as `render` runs; the window runs in this
process, whose main (GUI) thread never runs torch, as in the app. Running both here would measure an artefact:
with the GUI thread's OpenMP team alive beside the worker thread's, libgomp sees more threads than cores, stops
spinning between parallel regions and sleeps instead (~700 context switches an iteration, 10-20% slower).

    python bench/bench_preview.py [--size 512] [--iterations 300] [--pairs 2]

Both are timed by the wall clock from the first iteration's report to the last, so everything the preview
adds (images made for frames, signals, painting on the GUI thread, which shares the CPU) is counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QObject, QSettings, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.window import MainWindow  # noqa: E402
from engine.driver import BackendCache  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.recovery import RecoveryStore  # noqa: E402
from engine.run import Backend, StyleRun  # noqa: E402
from engine.settings import RenderSettings  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
FALLBACK = ROOT / "tests" / "data"


def headless_rate(content, style, settings: RenderSettings, backend: Backend) -> float:
    run = StyleRun(content, style, settings, backend)
    first = None
    for frame in run:
        if first is None:
            first = (frame.index, time.perf_counter())
    last = (run.index, time.perf_counter())
    return (last[0] - first[0]) / (last[1] - first[1])


class _ProgressMarks(QObject):
    """Records when each progress report reaches the GUI thread. A QObject living there, so the worker's signal
    is queued to it like the window's own: a plain function would be called on the worker's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[int, float]] = []

    @Slot(object)
    def on_progress(self, progress) -> None:
        self.marks.append((progress.index, time.perf_counter()))


def window_rate(app: QApplication, window: MainWindow, timeout_s: float) -> tuple[float, int]:
    listener = _ProgressMarks()
    shown_before = window.canvas.frames_shown
    loop = QEventLoop()  # block in Qt's event loop, as the app does: polling would steal the engine's CPU
    window.session.runEnded.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    assert window.run_panel.start(), window.messages.text()
    window.session.worker.progress.connect(listener.on_progress)
    loop.exec()
    window.session.runEnded.disconnect(loop.quit)
    if window.session.running:
        window.session.stop_worker()
        raise RuntimeError("the window's run did not finish in time")
    (i0, t0), (i1, t1) = listener.marks[0], listener.marks[-1]
    return (i1 - i0) / (t1 - t0), window.canvas.frames_shown - shown_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=None, help="default: what a user gets")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--content", default=str(IMAGES / "chelsea.png" if IMAGES.exists() else FALLBACK / "cat.png"))
    parser.add_argument("--style", default=str(IMAGES / "wave.jpg" if IMAGES.exists() else FALLBACK / "wave.png"))
    parser.add_argument("--headless-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()

    if args.headless_only:
        settings = RenderSettings(size=args.size, iterations=args.iterations, device=args.device)
        backend = Backend.create(settings)
        rate = headless_rate(load_image(args.content), load_image(args.style), settings, backend)
        print(f"{rate} {backend.device} {backend.precision.name}")
        return 0

    app = QApplication.instance() or QApplication([])
    settings = RenderSettings(size=args.size, iterations=args.iterations, device=args.device)
    store = QSettings(str(ROOT / "scratch-bench-preview.ini"), QSettings.Format.IniFormat)
    history = tempfile.TemporaryDirectory(prefix="fude-bench-")  # not the user's own history or recovery
    # the window makes its own backend on its worker thread, as in the app
    window = MainWindow(store=store, backends=BackendCache(), history_folder=Path(history.name) / "history",
                        recovery=RecoveryStore(Path(history.name) / "recovery"))
    window.resize(1280, 800)
    window.show()
    window.content_pane.load_path(Path(args.content))
    window.style_pane.load_path(Path(args.style))
    window.session.set_settings(settings)
    child = [sys.executable, __file__, "--headless-only", "--size", str(args.size), "--device", args.device,
             "--content", args.content, "--style", args.style]
    if args.iterations is not None:
        child += ["--iterations", str(args.iterations)]
    print(f"{args.size} px, {settings.iteration_count} iterations")
    print(f"{'pair':>4} {'headless it/s':>14} {'window it/s':>12} {'frames shown':>13} {'cost':>7}  device, precision")
    costs = []
    try:
        for pair in range(1, args.pairs + 1):
            rate, device, precision = subprocess.run(child, check=True, capture_output=True, text=True).stdout.split()
            headless = float(rate)
            windowed, frames = window_rate(app, window, timeout_s=3600)
            cost = 1 - windowed / headless
            costs.append(cost)
            print(f"{pair:>4} {headless:>14.3f} {windowed:>12.3f} {frames:>13} {cost:>6.1%}  {device}, {precision}",
                  flush=True)
    finally:
        window.close()
        Path(store.fileName()).unlink(missing_ok=True)
        history.cleanup()
    print(f"median preview cost: {statistics.median(costs):.1%} of headless iterations per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
