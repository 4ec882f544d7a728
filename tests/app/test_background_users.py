"""The window's work off the GUI thread, all on BackgroundTask: a memory probe asked again while it measures measures
the latest device after; pictures kept in a row are all kept, in order, and closing waits for them; the export
dialog measures only the latest choice made while it encodes, and may be deleted while it encodes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThread

from app.memory_probe import DeviceMemory, MemoryProbe
from app.widgets.export_dialog import ExportDialog
from app.widgets.history_strip import SYNC_PIXELS, HistoryStrip
from engine.export import AnimationOptions, encode_animation
from engine.history import HistoryStore
from engine.settings import RenderSettings, png_text_chunks
from tests.pictures import gradient

TIMEOUT_MS = 30_000


def _gated(record: list[str], gate: threading.Event) -> Callable[[str, bool], DeviceMemory]:
    def measure(choice: str, speed: bool) -> DeviceMemory:
        record.append(choice)
        gate.wait()
        return DeviceMemory(choice, "cpu", 2**30)

    return measure


def test_the_probe_measures_the_latest_request_after_the_one_under_way(qtbot) -> None:
    asked: list[str] = []
    gate = threading.Event()
    probe = MemoryProbe(measure_fn=_gated(asked, gate))
    measured: list[DeviceMemory] = []
    probe.measured.connect(measured.append)
    probe.request("cpu")
    qtbot.waitUntil(lambda: asked == ["cpu"], timeout=5000)
    probe.request("auto")
    probe.request("cuda")  # the latest request wins
    assert probe.busy
    gate.set()
    assert probe.wait(10)
    assert [m.choice for m in measured] == ["cpu", "cuda"] and asked == ["cpu", "cuda"]
    assert probe.latest == measured[-1] and not probe.busy


def test_a_probe_that_fails_reports_an_unknown_limit(qtbot) -> None:
    def broken(choice: str, speed: bool) -> DeviceMemory:
        raise RuntimeError("no driver")

    probe = MemoryProbe(measure_fn=broken)
    with qtbot.waitSignal(probe.measured, timeout=5000) as measured:
        probe.request("cuda")
    assert measured.args[0] == DeviceMemory("cuda", "cuda", None, "RuntimeError: no driver")
    qtbot.waitUntil(lambda: not probe.busy, timeout=5000)


def _chunks(lam: float) -> dict[str, str]:
    return png_text_chunks(RenderSettings(lam=lam, size=96, iterations=10), "cat.png", "wave.png")


def _large(seed: int) -> np.ndarray:
    image = np.random.default_rng(seed).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    assert image.shape[0] * image.shape[1] > SYNC_PIXELS
    return image


def test_pictures_kept_in_a_row_are_all_kept_in_order(qtbot, tmp_path: Path) -> None:
    strip = HistoryStrip(HistoryStore(tmp_path / "history"))
    qtbot.addWidget(strip)
    added: list[str] = []
    strip.added.connect(lambda entry: added.append(entry.key))
    images = [_large(seed) for seed in range(3)]
    for i, image in enumerate(images):
        strip.add(image, _chunks(0.1 * (i + 1)), finished=True)
    assert strip.busy
    qtbot.waitUntil(lambda: len(added) == 3, timeout=TIMEOUT_MS)
    assert not strip.busy
    assert [e.key for e in strip.entries] == added[::-1]  # newest first
    assert all(np.array_equal(strip.store.image(e), image) for e, image in zip(strip.entries[::-1], images,
                                                                                 strict=True))


def test_closing_waits_for_every_picture_being_kept(qtbot, tmp_path: Path) -> None:
    strip = HistoryStrip(HistoryStore(tmp_path / "history"))
    qtbot.addWidget(strip)
    added: list[str] = []
    strip.added.connect(lambda entry: added.append(entry.key))
    for seed in range(3):
        strip.add(_large(seed), _chunks(0.1 * (seed + 1)), finished=False)
    strip.wait()  # no event loop: all three are kept and reported now
    assert len(added) == 3 and len(strip.entries) == 3 and not strip.busy


def _frames(count: int = 6) -> list[np.ndarray]:
    final = gradient(64, 48)
    return [(final * (i / (count - 1))).astype(np.uint8) for i in range(count)]


def _gate_encoding(monkeypatch, gate: threading.Event) -> list[tuple[AnimationOptions, QThread]]:
    """Encodings wait for `gate`; each records its options and thread."""
    calls: list[tuple[AnimationOptions, QThread]] = []

    def encode(images: Sequence[np.ndarray], fmt: str, options: AnimationOptions, target: object = None) -> bytes:
        calls.append((options, QThread.currentThread()))
        gate.wait()
        return encode_animation(images, fmt, options)

    monkeypatch.setattr("app.widgets.export_dialog.encode_animation", encode)
    return calls


def test_a_choice_made_while_encoding_is_measured_after_and_only_the_latest(qtbot, monkeypatch, tmp_path) -> None:
    gate = threading.Event()
    calls = _gate_encoding(monkeypatch, gate)
    dialog = ExportDialog(_frames(), str(tmp_path / "e"))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)  # the first choice, a moment after opening
    dialog.frames.setValue(3)
    qtbot.waitUntil(lambda: dialog.waiting_choice is not None, timeout=5000)  # waits for the one under way
    dialog.frames.setValue(2)  # and is replaced by a later choice
    qtbot.waitUntil(lambda: dialog.waiting_choice is not None and dialog.waiting_choice.frame_count == 2,
                    timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: dialog.measured_size() is not None, timeout=TIMEOUT_MS)
    assert [options.frame_count for options, _ in calls] == [6, 2]
    assert dialog.measured_size() == len(encode_animation(_frames(), "gif", dialog.options()))
    dialog.frames.setValue(6)  # measured before the change: shown at once
    assert dialog.measured_size() is not None and dialog.file_size.text() != "measuring…"


def test_wait_measured_waits_for_an_earlier_choice_then_the_current_one(qtbot, monkeypatch, tmp_path) -> None:
    gate = threading.Event()
    calls = _gate_encoding(monkeypatch, gate)
    dialog = ExportDialog(_frames(), str(tmp_path / "e"))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    dialog.frames.setValue(4)
    gate.set()
    assert dialog.wait_measured(30) == len(encode_animation(_frames(), "gif", dialog.options()))
    assert [options.frame_count for options, _ in calls] == [6, 4]


def test_a_dialog_closed_while_encoding_is_deleted_and_its_encoding_ends(qtbot, monkeypatch, tmp_path) -> None:
    gate = threading.Event()
    calls = _gate_encoding(monkeypatch, gate)
    dialog = ExportDialog(_frames(), str(tmp_path / "e"))
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # as the window opens it
    dialog.show()
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    dialog.reject()  # not waiting for the encoding
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(dialog)
    del dialog
    gate.set()
    thread = calls[0][1]
    qtbot.waitUntil(lambda: not shiboken6.isValid(thread), timeout=TIMEOUT_MS)  # ended, then deleted itself
