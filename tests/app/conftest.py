"""Fixtures for the window's tests: isolated QSettings, one shared VGG19 backend, a window set up for tiny
quick runs, and a guard that fails any test leaving a QThread running (after napari's `_dangling_qthreads`)."""

from __future__ import annotations

import gc
import inspect
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from weakref import WeakKeyDictionary

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QThread
from PySide6.QtWidgets import QFileDialog

from app.refcount_guard import guard_singleton_refcounts
from engine.driver import BackendCache

guard_singleton_refcounts()  # as the app does where it starts (app/window.py run_window), before any Qt call

RUN_SIZE = 64
RUN_ITERATIONS = 4
CLIP_FRAMES = 4  # the frames of the `clip` fixture


@pytest.fixture(autouse=True)
def _collect_qt_garbage(qapp) -> Iterator[None]:
    """After each test (and after pytest-qt has closed its widgets), free what the test left in reference
    cycles here on the GUI thread, so the garbage collector never deletes a Qt object from another thread
    (the render worker or a test's HTTP server) in a later test."""
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Any QSettings() made by the code under test reads and writes a throwaway folder, never the user's."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch: pytest.MonkeyPatch, qtbot):
    """Fail a test that leaves a QThread running (then stop the thread, so later tests are not affected)."""
    started: WeakKeyDictionary[QThread, str] = WeakKeyDictionary()
    original_start = QThread.start

    def start(self: QThread, *args: object) -> None:
        caller = inspect.stack()[1]
        started[self] = f"{caller.filename}:{caller.lineno}"
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", start)
    yield
    dangling = []
    for thread, where in list(started.items()):
        with suppress(RuntimeError):  # the C++ object is already gone: not running
            if thread.isRunning():
                dangling.append(where)
                thread.quit()
                thread.wait(5000)
    if dangling:
        pytest.fail("QThreads left running by threads started at: " + ", ".join(dangling))


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "fude.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="session")
def backends(backend) -> BackendCache:  # the engine conftest's session backend (CPU, fp32)
    return BackendCache(backend)


@pytest.fixture
def recovery_folder(tmp_path: Path) -> Path:
    return tmp_path / "recovery"


@pytest.fixture
def recovery(recovery_folder: Path):  # -> engine.recovery.RecoveryStore
    """The windows' recovery store: a test folder, saved to as often as in use (tests of saving make their own)."""
    from engine.recovery import RecoveryStore

    return RecoveryStore(recovery_folder)


@pytest.fixture
def make_window(qtbot, store: QSettings, backends: BackendCache, recovery):
    from app.window import MainWindow

    def make(settings_store: QSettings | None = None, iterations: int = RUN_ITERATIONS,
             recovery_store=None, history_folder: Path | None = None):
        window = MainWindow(store=settings_store or store, backends=backends,
                            recovery=recovery_store if recovery_store is not None else recovery,
                            history_folder=history_folder)
        qtbot.addWidget(window)
        window.advanced.size_spin.setValue(RUN_SIZE)
        window.advanced.iterations.setValue(iterations)
        window.advanced.device.setCurrentIndex(window.advanced.device.findData("cpu"))
        window.show()
        return window

    return make


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def loaded_window(window, cat_path: Path, wave_path: Path):
    assert window.content_pane.load_path(cat_path)
    assert window.style_pane.load_path(wave_path)
    return window


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the queue writes to, as the queue's Folder… dialog answers."""
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(folder)))
    return folder


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory, cat: np.ndarray) -> Path:
    """A pan across the cat: CLIP_FRAMES frames of 48 x 32 at 10 frames a second, as H.264."""
    from engine.export import ffmpeg_executable
    from engine.images import resize

    canvas = resize(cat, 64, 40)
    frames = [np.ascontiguousarray(canvas[4:36, 3 * k:3 * k + 48]) for k in range(CLIP_FRAMES)]
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    command = [ffmpeg_executable(path), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
               "rgb24", "-s", "48x32", "-framerate", "10", "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(path)]
    subprocess.run(command, input=b"".join(f.tobytes() for f in frames), check=True, timeout=60)
    return path


@pytest.fixture
def stripes_path(tmp_path: Path) -> Path:
    """A second painting: coloured stripes."""
    image = np.zeros((60, 90, 3), np.uint8)
    image[:, ::6] = (220, 40, 40)
    image[:, 3::6] = (30, 60, 200)
    path = tmp_path / "stripes.png"
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def png_bytes(cat: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(cat).save(buffer, format="PNG")
    return buffer.getvalue()
