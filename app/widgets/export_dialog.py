"""The "Save evolution" dialog: choose the animation's format (GIF, WebP, MP4), frame count, frame time, hold of
the finished picture and size, see the exact file size before saving (the file is encoded off the GUI thread,
a moment after the last change), then pick a file name. The dialog writes nothing: the window runs the chosen
`ExportChoice.write` in the background."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundTask
from app.plain_text import plain_label
from engine.errors import FudeError
from engine.export import AnimationOptions, check_writable, encode_animation, write_atomically

FORMATS: tuple[tuple[str, str, str], ...] = (  # format, what the list shows, the file dialog's filter
    ("gif", "GIF (plays everywhere, 256 colours a frame)", "GIF animation (*.gif)"),
    ("webp", "WebP (true colour, small; modern browsers)", "WebP animation (*.webp)"),
    ("mp4", "MP4 video (H.264; players and social media)", "MP4 video (*.mp4)"),
)
SIZES = (256, 384, 512, 768, 1024, 1536, 2048)  # longest sides offered below the finished picture's own
MEASURE_DELAY_MS = 250  # wait this long after the last change before encoding, so dragging a spin box is cheap
KEPT_MEASUREMENTS = 6  # encoded files kept, so flipping back to an earlier choice needs no new encoding


def format_bytes(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1000 ** 2:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1000 ** 2:.2f} MB"


@dataclass(frozen=True)
class ExportChoice:
    """What the user chose: where, in which format and how, for which frames; `data` is the measured file when
    it was ready (then that exact file is written), None when it was not (then `write` encodes it)."""

    path: str
    fmt: str
    options: AnimationOptions
    images: tuple[np.ndarray, ...] = field(repr=False)
    data: bytes | None = field(default=None, repr=False)

    def write(self) -> Path:
        """Write the file atomically (slow when it still has to be encoded: call it off the GUI thread)."""
        data = self.data
        if data is None:
            data = encode_animation(self.images, self.fmt, self.options, self.path)
        return write_atomically(self.path, lambda handle: handle.write(data))

    @property
    def note(self) -> str:
        """What was written, for the message that says it is saved."""
        frames = min(self.options.frame_count, len(self.images))
        size = f", {format_bytes(len(self.data))}" if self.data is not None else ""
        return f"{self.fmt.upper()}, {frames} frames{size}"


class ExportDialog(QDialog):
    """Shows the choices for `images` (the evolution so far, the finished picture last). Its `save()` asks for a
    file name and, when it can be written, emits `chosen(ExportChoice)` and closes."""

    chosen = Signal(object)  # ExportChoice

    def __init__(self, images: Sequence[np.ndarray], suggested: str, parent: QWidget | None = None,
                 fmt: str = "gif", options: AnimationOptions | None = None) -> None:
        super().__init__(parent)
        if not images:
            raise ValueError("the dialog needs at least one frame")
        self.setWindowTitle("Save the evolution")
        self.setObjectName("exportDialog")
        self.images = list(images)
        self.suggested = suggested  # a path without its suffix
        self.choice: ExportChoice | None = None
        options = options or AnimationOptions()
        height, width = self.images[-1].shape[:2]
        self.full_side = max(width, height)
        self._sizes: dict[tuple[str, AnimationOptions], bytes] = {}  # measured files, the latest last
        # One encoding at a time; a choice made while one runs waits for it, and only the latest such choice.
        self._measuring: tuple[str, AnimationOptions] | None = None
        self._next: tuple[str, AnimationOptions] | None = None
        self._encoder = BackgroundTask("measure", self)
        self._encoder.succeeded.connect(self._on_encoded)
        self._encoder.failed.connect(self._on_not_encoded)
        self._encoder.finished.connect(self._on_encoder_finished)
        self._closed = False

        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for key, text, _ in FORMATS:
            self.format.addItem(text, key)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.frames = QSpinBox()
        self.frames.setObjectName("exportFrames")
        self.frames.setRange(1, len(self.images))
        self.frames.setValue(min(options.frame_count, len(self.images)))
        self.frames.setToolTip(f"How many of the {len(self.images)} recorded pictures of the evolution to show, "
                               "evenly spread; the finished picture is always the last")
        self.frame_ms = QSpinBox()
        self.frame_ms.setObjectName("exportFrameMs")
        self.frame_ms.setRange(20, 2000)
        self.frame_ms.setSingleStep(10)
        self.frame_ms.setSuffix(" ms")
        self.frame_ms.setValue(min(max(options.frame_ms, 20), 2000))
        self.hold = QDoubleSpinBox()
        self.hold.setObjectName("exportHold")
        self.hold.setRange(0.1, 30.0)
        self.hold.setSingleStep(0.5)
        self.hold.setDecimals(1)
        self.hold.setSuffix(" s")
        self.hold.setValue(min(max(options.last_frame_ms / 1000, 0.1), 30.0))
        self.hold.setToolTip("How long the finished picture stays before the animation starts again")
        self.side_combo = QComboBox()
        self.side_combo.setObjectName("exportSize")
        self.side_combo.addItem(f"{self.full_side} px (the picture's own size)", None)
        for side in SIZES:
            if side < self.full_side:
                self.side_combo.addItem(f"{side} px", side)
        wanted = options.longest_side
        self.side_combo.setCurrentIndex(max(0, self.side_combo.findData(wanted)) if wanted is not None else 0)
        self.side_combo.setToolTip("The animation's longest side")
        self.summary = plain_label()
        self.summary.setObjectName("exportSummary")
        self.file_size = plain_label()
        self.file_size.setObjectName("exportFileSize")
        self.file_size.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_size.setStyleSheet("font-weight: 600;")
        self.error = plain_label()
        self.error.setObjectName("exportError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #8b1a1a;")
        self.error.hide()

        form = QFormLayout()
        form.addRow("Format:", self.format)
        form.addRow("Frames:", self.frames)
        form.addRow("Frame time:", self.frame_ms)
        form.addRow("Hold the finished picture:", self.hold)
        form.addRow("Size (longest side):", self.side_combo)
        form.addRow("", self.summary)
        form.addRow("File size:", self.file_size)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton("Save…", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setObjectName("exportSave")
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(f"The evolution so far: {len(self.images)} recorded pictures, "
                                     f"{width} × {height} px at the end."))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(MEASURE_DELAY_MS)
        self._debounce.timeout.connect(self._measure)
        self.format.currentIndexChanged.connect(self._changed)
        self.side_combo.currentIndexChanged.connect(self._changed)
        for spin in (self.frames, self.frame_ms, self.hold):
            spin.valueChanged.connect(self._changed)
        self._changed()

    # ---- the choice ----

    @property
    def fmt(self) -> str:
        return str(self.format.currentData())

    def options(self) -> AnimationOptions:
        return AnimationOptions(frame_count=self.frames.value(), frame_ms=self.frame_ms.value(),
                                last_frame_ms=round(self.hold.value() * 1000),
                                longest_side=self.side_combo.currentData())

    def _key(self) -> tuple[str, AnimationOptions]:
        return self.fmt, self.options()

    def measured_size(self) -> int | None:
        """The exact size in bytes of the file the current choice makes, once it is measured."""
        data = self._sizes.get(self._key())
        return None if data is None else len(data)

    def _changed(self) -> None:
        options = self.options()
        count = min(options.frame_count, len(self.images))
        seconds = ((count - 1) * options.frame_ms + options.last_frame_ms) / 1000
        self.summary.setText(f"{count} frames, {seconds:.1f} s a loop")
        self.error.hide()
        if self.measured_size() is not None:
            self._show_size()
        else:
            self.file_size.setText("measuring…")
            self._debounce.start()

    # ---- measuring, off the GUI thread ----

    @property
    def waiting_choice(self) -> AnimationOptions | None:
        """The options of a choice that waits for the encoding under way to end (None when none waits)."""
        return None if self._next is None else self._next[1]

    @Slot()
    def _measure(self) -> None:
        """Encode the current choice in the background, unless it is known or already being encoded; while another
        one is, the current choice is encoded after it."""
        if self._closed:
            return
        key = self._key()
        if key in self._sizes or key == self._measuring:
            return
        if self._encoder.busy:
            self._next = key  # replaces any choice waiting before it: no longer wanted
            return
        self._start(key)

    def _start(self, key: tuple[str, AnimationOptions]) -> None:
        images, (fmt, options) = self.images, key  # the encoding touches no widget, only these
        self._measuring, self._next = key, None
        self._encoder.start(lambda: encode_animation(images, fmt, options))

    @Slot(object)
    def _on_encoded(self, data: bytes) -> None:
        key = self._measuring
        if key is None:
            return
        self._sizes[key] = data
        while len(self._sizes) > KEPT_MEASUREMENTS:
            del self._sizes[next(iter(self._sizes))]
        if key == self._key():
            self._show_size()

    @Slot(object)
    def _on_not_encoded(self, exc: BaseException) -> None:
        if self._measuring != self._key():
            return
        if isinstance(exc, FudeError):
            self._show_problem(exc.reason)
        else:  # an encoder's surprise is shown, not raised into Qt
            self._show_problem(f"{type(exc).__name__}: {exc}")

    @Slot()
    def _on_encoder_finished(self) -> None:
        self._measuring = None
        key, self._next = self._next, None
        if key is not None and key not in self._sizes and not self._closed:
            self._start(key)

    def _show_size(self) -> None:
        size = self.measured_size()
        if size is None:
            return
        self.file_size.setText(format_bytes(size))

    def _show_problem(self, reason: str) -> None:
        self.file_size.setText("cannot be made")
        self._show_error(f"{self.fmt.upper()}: {reason}")

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def wait_measured(self, timeout_s: float = 60.0) -> int | None:
        """Block until the current choice is measured (for scripts and tests); its size, or None on failure."""
        self._debounce.stop()
        self._measure()
        deadline = time.monotonic() + timeout_s
        # The one being encoded may be an earlier choice; delivering it starts the current one (its `finished`).
        while self._encoder.busy and self.measured_size() is None:
            if not self._encoder.deliver(max(0.0, deadline - time.monotonic())):
                break
        return self.measured_size()

    # ---- saving ----

    def save(self) -> str | None:
        """Ask for a file name; if it can be written, emit `chosen` and close. The path, or None."""
        fmt = self.fmt
        suffix = "." + fmt
        file_filter = next(f for key, _, f in FORMATS if key == fmt)
        path, _ = QFileDialog.getSaveFileName(self, "Save the evolution", self.suggested + suffix, file_filter)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            check_writable(path)  # say so now, with this dialog still open, rather than after the encoding
        except FudeError as exc:
            self._show_error(str(exc))
            return None
        self.choice = ExportChoice(path, fmt, self.options(), tuple(self.images), self._sizes.get(self._key()))
        self.accept()
        self.chosen.emit(self.choice)
        return path

    def done(self, result: int) -> None:  # closing, either way, stops measuring
        self._closed = True
        self._debounce.stop()
        self._next = None
        # An encoding under way is not waited for: it ends on its own, even after this dialog is deleted
        # (BackgroundTask's thread outlives its task), and what it reports is no longer shown.
        super().done(result)

