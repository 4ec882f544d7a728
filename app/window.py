"""MainWindow: the layout, the actions and their shortcuts, and the wiring between the panes, the controls, the
canvas, the render worker and the recovery copy (offered back after a crash); plus `run_window`, the entry
point. No algorithm lives here."""

from __future__ import annotations

import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.compat import guard_singleton_refcounts
from app.controls import AdvancedPanel, LamControl, format_lam
from app.image_pane import ImagePane, LoadedImage
from app.loss_plot import LossPlot
from app.message_bar import MessageBar
from app.preview import CompareMode, PreviewCanvas
from app.qimage import to_qimage
from app.saving import BackgroundSaver
from app.worker import BackendCache, PreviewFrame, Progress, RenderJob, RenderWorker, RunOutcome, RunRecord
from engine.errors import FudeError, OutOfMemory
from engine.export import check_writable, read_png_render, save_gif, save_png
from engine.recovery import Recovered, RecoverySession, RecoveryStore
from engine.settings import RenderSettings, StoredRender, png_text_chunks

if TYPE_CHECKING:  # engine.memory imports torch, which is loaded on the worker thread, not by the widgets
    from engine.memory import MemoryCheck

guard_singleton_refcounts()  # before any Qt call is made: see app/compat.py

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
SAMPLE_PAIR = (SAMPLES / "chelsea.png", SAMPLES / "wave.jpg")
SIDEBAR_WIDTH = 320
STOP_WAIT_MS = 30_000  # closing waits this long at most; a run stops within one iteration, network loading takes longer

KEY_GEOMETRY = "window/geometry"
KEY_FOLDER = "paths/lastFolder"
KEY_SETTINGS = "render/settings"


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class MainWindow(QMainWindow):
    """Fude's window. `store` (QSettings), `backends` and `recovery` (where unfinished pictures are kept) may be
    injected, e.g. by tests."""

    stateChanged = Signal(str)  # "idle", "running", "paused", "stopping"
    runEnded = Signal()  # the worker thread has finished; a new run may start

    def __init__(self, store: QSettings | None = None, backends: BackendCache | None = None,
                 parent: QWidget | None = None, recovery: RecoveryStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fude — paint one picture in the style of another")
        self.setObjectName("mainWindow")
        self.store = store if store is not None else QSettings()
        self.backends = backends if backends is not None else BackendCache()
        self.recovery = recovery if recovery is not None else RecoveryStore()
        self._session: RecoverySession | None = None  # the recovery copy of the picture on the canvas
        self.restored: Recovered | None = None  # a restored picture that Continue goes on from
        self._start_after_stop = False  # start again when the run now stopping has ended (a retry)
        self.state = "idle"
        self._thread: QThread | None = None
        self._worker: RenderWorker | None = None
        self.record: RunRecord | None = None
        self.result: np.ndarray | None = None  # the picture on the canvas: what Save PNG writes
        self.last_progress: Progress | None = None
        self.setAcceptDrops(True)
        self.saver = BackgroundSaver(self)

        settings = self._stored_settings()
        self._build(settings)
        self._build_actions()
        self.saver.saved.connect(self._on_saved)
        self.saver.failed.connect(self.messages.show_error)
        self._restore_geometry()
        self.set_last_folder(self.last_folder())
        self._update_state("idle")
        self._update_hint()
        self.offer_recovery()

    # ---- construction ----

    def _build(self, settings: RenderSettings) -> None:
        self.messages = MessageBar()
        self.messages.actionTriggered.connect(self._on_message_action)
        # what the message bar's button does: a method's name and its arguments (a name, not a bound method, so
        # the window holds no reference cycle to itself that the garbage collector might free on another thread)
        self._offer: tuple[str, tuple[object, ...]] | None = None
        self.content_pane = ImagePane(
            "content", "Content — the creature",
            "Drop a photo of a creature here, paste one (Ctrl+V) or click to open a file (Ctrl+O)")
        self.style_pane = ImagePane(
            "style", "Style — the painting",
            "Drop a painting here, paste one (Ctrl+V) or click to open a file (Ctrl+Shift+O)")
        for pane in (self.content_pane, self.style_pane):
            pane.failed.connect(self.messages.show_error)
            pane.changed.connect(self._on_pane_changed)
            pane.fileLoaded.connect(self._on_file_loaded)
        self.swap_button = QToolButton()
        self.swap_button.setObjectName("swapButton")
        self.swap_button.setText("⇅  Swap content and style")
        self.swap_button.setAutoRaise(True)
        self.swap_button.clicked.connect(self.swap)

        self.lam_control = LamControl(settings.lam)
        self.lam_control.lamChanged.connect(self._on_lam_changed)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setToolTip("Start the render (Ctrl+Enter)")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setToolTip("Pause or resume the render (Ctrl+P)")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the render and keep the picture so far (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.advanced = AdvancedPanel(settings)

        sidebar = QWidget()
        sidebar.setObjectName("sidebar")
        sidebar.setFixedWidth(SIDEBAR_WIDTH)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(6)
        side.addWidget(self.content_pane, 1)
        side.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.style_pane, 1)
        side.addSpacing(6)
        side.addWidget(self.lam_control)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        side.addLayout(buttons)
        side.addWidget(self.advanced)

        self.canvas = PreviewCanvas()
        self.example_button = self.canvas.add_welcome_button("Try an example: Chelsea the cat + The Great Wave")
        self.example_button.clicked.connect(self.load_example)
        self.compare_group = QButtonGroup(self)
        compare = QHBoxLayout()
        compare.setSpacing(0)
        for mode, text, tip in ((CompareMode.RESULT, "Result", "Show the result (Ctrl+1)"),
                                (CompareMode.CONTENT, "Before", "Show the content picture (Ctrl+2)"),
                                (CompareMode.SPLIT, "Split", "Before and after side by side; drag the divider "
                                                             "(Ctrl+3)")):
            button = QToolButton()
            button.setObjectName(f"compare{mode.value.capitalize()}")
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode is CompareMode.RESULT)
            button.setMinimumWidth(64)
            self.compare_group.addButton(button)
            button.setProperty("compareMode", mode.value)
            compare.addWidget(button)
        self.compare_group.buttonClicked.connect(self._on_compare_button)
        self.save_png_button = QPushButton("Save PNG…")
        self.save_png_button.setObjectName("savePngButton")
        self.save_png_button.setToolTip("Save the picture as PNG, with its settings stored in it (Ctrl+S)")
        self.save_png_button.clicked.connect(self.save_png)
        self.save_gif_button = QPushButton("Save GIF…")
        self.save_gif_button.setObjectName("saveGifButton")
        self.save_gif_button.setToolTip("Save the evolution so far as an animated GIF (Ctrl+Shift+S)")
        self.save_gif_button.clicked.connect(self.save_gif)
        top = QHBoxLayout()
        top.addWidget(QLabel("View:"))
        top.addLayout(compare)
        top.addStretch(1)
        top.addWidget(self.save_png_button)
        top.addWidget(self.save_gif_button)

        self.stats = QLabel("")
        self.stats.setObjectName("runStats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFixedWidth(260)
        self.progress_bar.setValue(0)
        stats_row = QHBoxLayout()
        stats_row.addWidget(self.stats, 1)
        stats_row.addWidget(self.progress_bar)
        self.loss_plot = LossPlot()

        right = QVBoxLayout()
        right.setSpacing(6)
        right.addLayout(top)
        right.addWidget(self.canvas, 1)
        right.addLayout(stats_row)
        right.addWidget(self.loss_plot)

        body = QHBoxLayout()
        body.setSpacing(12)
        body.addWidget(sidebar)
        body.addLayout(right, 1)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.setSpacing(8)
        outer.addWidget(self.messages)
        outer.addLayout(body, 1)
        self.setCentralWidget(central)

    def _action(self, text: str, slot, shortcuts=(), tip: str = "") -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if slot is not None:
            action.triggered.connect(slot)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_content_action = self._action("Open &content picture…", self.content_pane.open_dialog,
                                                [QKeySequence.StandardKey.Open])
        self.open_style_action = self._action("Open &style picture…", self.style_pane.open_dialog,
                                              ["Ctrl+Shift+O"])
        self.example_action = self._action("Try an &example", self.load_example)
        self.save_png_action = self._action("Save &PNG…", self.save_png, [QKeySequence.StandardKey.Save])
        self.save_gif_action = self._action("Save &GIF…", self.save_gif, ["Ctrl+Shift+S"])
        self.quit_action = self._action("&Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.paste_action = self._action("&Paste picture", self.paste, [QKeySequence.StandardKey.Paste])
        self.swap_action = self._action("S&wap content and style", self.swap)
        self.clear_content_action = self._action("Clear c&ontent", self.content_pane.clear)
        self.clear_style_action = self._action("Clear st&yle", self.style_pane.clear)
        self.start_action = self._action("&Start", self.start, ["Ctrl+Return", "Ctrl+Enter"])
        self.pause_action = self._action("&Pause / Resume", self.toggle_pause, ["Ctrl+P"])
        self.stop_action = self._action("S&top", self.stop, ["Esc"])
        self.compare_actions = QActionGroup(self)
        view_actions = []
        for key, (mode, text) in enumerate(((CompareMode.RESULT, "&Result"), (CompareMode.CONTENT, "&Before"),
                                            (CompareMode.SPLIT, "&Split before/after")), start=1):
            action = self._action(text, None, [f"Ctrl+{key}"])
            action.setData(mode.value)
            action.setCheckable(True)
            action.setChecked(mode is CompareMode.RESULT)
            self.compare_actions.addAction(action)
            view_actions.append(action)
        self.compare_actions.triggered.connect(self._on_compare_action)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_content_action, self.open_style_action, self.example_action, None,
                       self.save_png_action, self.save_gif_action, None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit_menu = bar.addMenu("&Edit")
        for action in (self.paste_action, self.swap_action, self.clear_content_action, self.clear_style_action):
            edit_menu.addAction(action)
        run_menu = bar.addMenu("&Run")
        for action in (self.start_action, self.pause_action, self.stop_action):
            run_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in view_actions:
            view_menu.addAction(action)

    # ---- persisted state ----

    def _stored_settings(self) -> RenderSettings:
        raw = self.store.value(KEY_SETTINGS)
        if raw:
            try:
                return RenderSettings.from_dict(json.loads(str(raw)))
            except (ValueError, TypeError, FudeError):
                pass  # unreadable or outdated: start from the defaults
        return RenderSettings()

    def _restore_geometry(self) -> None:
        geometry = self.store.value(KEY_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty() and self.restoreGeometry(geometry):
            return
        self.resize(1280, 820)

    def save_state(self) -> None:
        self.store.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.store.setValue(KEY_SETTINGS, json.dumps(self.current_settings().to_dict()))
        self.store.sync()

    def last_folder(self) -> str:
        folder = str(self.store.value(KEY_FOLDER, "") or "")
        return folder if folder and os.path.isdir(folder) else str(Path.home())

    def set_last_folder(self, folder: str) -> None:
        self.store.setValue(KEY_FOLDER, folder)
        for pane in (self.content_pane, self.style_pane):
            pane.start_folder = folder

    # ---- settings ----

    def current_settings(self) -> RenderSettings:
        return self.advanced.settings(self.lam_control.lam)

    def apply_settings(self, settings: RenderSettings) -> None:
        self.advanced.apply(settings)
        self.lam_control.set_lam(settings.lam)

    def set_lam(self, lam: float) -> None:
        self.lam_control.set_lam(lam)

    @Slot(float)
    def _on_lam_changed(self, lam: float) -> None:
        if self._worker is not None and self.state in ("running", "paused"):
            self._worker.set_lam(lam)

    def set_compare(self, mode: CompareMode) -> None:
        """Show the result, the content (before) or both split; the buttons and the View menu follow."""
        self.canvas.set_mode(mode)
        for button in self.compare_group.buttons():
            button.setChecked(button.objectName() == f"compare{mode.value.capitalize()}")
        for action, action_mode in zip(self.compare_actions.actions(), CompareMode, strict=True):
            action.setChecked(action_mode is mode)
        self._update_hint()

    @Slot(QAbstractButton)
    def _on_compare_button(self, button: QAbstractButton) -> None:
        self.set_compare(CompareMode(button.property("compareMode")))

    @Slot(QAction)
    def _on_compare_action(self, action: QAction) -> None:
        self.set_compare(CompareMode(action.data()))

    # ---- pictures ----

    def load_example(self) -> None:
        content, style = SAMPLE_PAIR
        self.content_pane.load_path(content)
        self.style_pane.load_path(style)

    def swap(self) -> None:
        content, style = self.content_pane.image, self.style_pane.image
        self.content_pane.set_image(style)
        self.style_pane.set_image(content)

    def paste(self) -> None:
        panes = (self.content_pane, self.style_pane)
        focused = [p for p in panes if p.hasFocus() or p.isAncestorOf(QApplication.focusWidget() or self)]
        empty = [p for p in panes if p.image is None]
        (focused or empty or [self.content_pane])[0].paste()

    @Slot(object)
    def _on_pane_changed(self, image: LoadedImage | None) -> None:
        self.canvas.set_content(self.content_pane.qimage)
        self._update_state(self.state)
        self._update_hint()

    @Slot(str)
    def _on_file_loaded(self, path: str) -> None:
        self.set_last_folder(str(Path(path).parent))
        self.offer_stored_settings(path)

    def offer_stored_settings(self, path: str) -> StoredRender | None:
        """If `path` is a PNG that Fude made, offer to restore the settings stored in it."""
        try:
            stored = read_png_render(path)
        except FudeError as exc:
            self.messages.show_error(str(exc))
            return None
        if stored is None:
            return None
        s = stored.settings
        made = f"{stored.content_name} in the style of {stored.style_name}" if stored.content_name else "a render"
        self._ask(f"{Path(path).name} was made by Fude ({made}: lam {format_lam(s.lam)}, {s.size} px, "
                  f"{s.iteration_count} iterations, {s.optimizer}, seed {s.seed}). Restore those settings?",
                  "Restore settings", "_restore_settings", stored, path)
        return stored

    def _restore_settings(self, stored: StoredRender, path: str) -> None:
        self.apply_settings(stored.settings)
        self.messages.show_info(f"Settings restored from {Path(path).name}.")

    def _ask(self, text: str, button: str, method: str, *args: object, error: bool = False) -> None:
        """Show `text` with a button that calls this window's `method` with `args`."""
        self._offer = (method, args)
        if error:
            self.messages.show_error(text, button)
        else:
            self.messages.show_info(text, button)

    @Slot()
    def _on_message_action(self) -> None:
        offer, self._offer = self._offer, None
        if offer is not None:
            method, args = offer
            getattr(self, method)(*args)

    # ---- recovery ----

    def offer_recovery(self) -> Recovered | None:
        """If an unfinished picture was left behind (a crash, a kill), offer to restore it."""
        found = self.recovery.latest()
        if found is not None:
            self._ask(f"A picture was left unfinished and unsaved ({found.describe()}). Restore it?",
                      "Restore", "restore", found)
        return found

    def restore(self, found: Recovered) -> bool:
        """Load the panes, the settings and the picture of an unfinished run, so it can be saved or continued."""
        if self.state != "idle" or self.running:
            self.messages.show_info("Stop the render first, then restore the unfinished picture.")
            return False
        self._discard_session()
        self.content_pane.set_image(LoadedImage(found.content, found.content_name))
        self.style_pane.set_image(LoadedImage(found.style, found.style_name))
        self.apply_settings(found.settings)
        self.record = RunRecord(RenderJob(found.content, found.style, found.settings, found.content_name,
                                          found.style_name))
        self.record.set_latest(found.image, lam=found.settings.lam)
        self.last_progress = None
        self._show_result(found.image)
        self.loss_plot.clear(found.total)
        self.progress_bar.setRange(0, found.total)
        self.progress_bar.setValue(found.index)
        self._session = self.recovery.adopt(found)  # kept until the picture is saved, replaced or closed
        self.restored = found
        self.stats.setText(f"Restored at iteration {found.index} of {found.total}.")
        if found.index < found.total:
            self._ask("The unfinished picture is back: save it (Ctrl+S), or continue the render from it.",
                      "Continue", "continue_restored")
        else:
            self.messages.show_info("The unfinished picture is back: save it (Ctrl+S).")
        self._update_state(self.state)
        return True

    def continue_restored(self) -> bool:
        """Go on with a restored picture's run from where it was left."""
        found = self.restored
        if found is None:
            return False
        return self._start_run((found.image, found.index))

    def _discard_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.discard()

    def _update_hint(self) -> None:
        content, style = self.content_pane.image, self.style_pane.image
        if content is None and style is None:
            hint = ("Drop a photo of a creature on Content and a painting on Style (from your files or a web "
                    "browser, or paste them), then press Start.")
        elif content is None:
            hint = "Now add the creature: drop or paste a photo on the Content pane."
        elif style is None:
            hint = "Now add a painting: drop or paste one on the Style pane."
        else:
            hint = "Press Start (Ctrl+Enter) and watch the picture grow out of the noise."
        self.canvas.set_hint(hint)
        self.canvas.set_welcome_wanted(content is None and style is None)

    # ---- the run ----

    def _update_state(self, state: str) -> None:
        self.state = state
        active = state in ("running", "paused")
        ready = self.content_pane.image is not None and self.style_pane.image is not None
        self.start_button.setEnabled(state == "idle" and ready)
        self.start_action.setEnabled(state == "idle")
        self.pause_button.setEnabled(active)
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_action.setEnabled(active)
        self.stop_button.setEnabled(active)
        self.stop_action.setEnabled(active)
        self.advanced.set_editable(state == "idle")
        has_result = self.result is not None
        self.save_png_button.setEnabled(has_result)
        self.save_gif_button.setEnabled(has_result and self.record is not None)
        self.stateChanged.emit(state)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def worker(self) -> RenderWorker | None:
        return self._worker

    def start(self) -> bool:
        """Start a run with the panes' pictures and the current settings (a slot: buttons pass no picture)."""
        return self._start_run(None)

    def _start_run(self, resume: tuple[np.ndarray, int] | None) -> bool:
        """Start a run; with `resume` (a picture and the iterations it had), continue from that picture."""
        if self.state != "idle" or self.running:
            return False
        content, style = self.content_pane.image, self.style_pane.image
        if content is None or style is None:
            missing = "a content picture (the creature)" if content is None else "a style picture (the painting)"
            self.messages.show_error(f"Start: add {missing} first.")
            return False
        try:
            settings = self.current_settings()
        except FudeError as exc:
            self.messages.show_error(str(exc))
            return False
        self.save_state()
        if self.messages.kind == "error":
            self.messages.dismiss()
        start_image, start_index = resume if resume is not None else (None, 0)
        job = RenderJob(content.array, style.array, settings, content.name, style.name, start_image, start_index)
        self.record = RunRecord(job)
        self.last_progress = None
        self._discard_session()  # the picture on the canvas is being replaced
        self.restored = None
        self._session = self.recovery.begin(content.array, style.array, content.name, style.name)
        worker = RenderWorker(job, self.record, self.backends, recovery=self._session)
        thread = QThread()
        thread.setObjectName("fude-render")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.phase.connect(self._on_phase)
        worker.started.connect(self._on_started)
        worker.progress.connect(self._on_progress)
        worker.frameReady.connect(self._on_frame)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.outOfMemory.connect(self._on_out_of_memory)
        worker.memoryWarning.connect(self._on_memory_warning)
        worker.notice.connect(self.messages.show_info)
        worker.pausedChanged.connect(self._on_paused_changed)
        thread.finished.connect(self._on_thread_finished)
        self._worker, self._thread = worker, thread
        self.progress_bar.setRange(0, settings.iteration_count)
        self.progress_bar.setValue(min(start_index, settings.iteration_count))
        self.stats.setText("Starting…")
        self._update_state("running")
        thread.start()
        return True

    def stop(self) -> None:
        if self._worker is not None and self.state in ("running", "paused"):
            self._worker.cancel()
            self.stats.setText(self.stats.text() + " · stopping…")
            self._update_state("stopping")

    def retry_at(self, size: int | None, device: str | None = None) -> bool:
        """Render again at `size` px (and on `device`), stopping the run under way first if there is one."""
        if size is not None:
            self.advanced.size.setValue(size)
        if device is not None:
            self.advanced.device.setCurrentIndex(max(0, self.advanced.device.findData(device)))
        if self.state == "idle" and not self.running:
            return self.start()
        self._start_after_stop = True
        self.stop()
        return True

    def toggle_pause(self) -> None:
        if self._worker is None:
            return
        if self.state == "running":
            self._worker.pause()
            self._update_state("paused")
        elif self.state == "paused":
            self._worker.resume()
            self._update_state("running")

    @Slot(str)
    def _on_phase(self, text: str) -> None:
        self.stats.setText(text)

    @Slot(int, int, int)
    def _on_started(self, total: int, width: int, height: int) -> None:
        self.progress_bar.setRange(0, total)
        self.loss_plot.clear(total)
        self.stats.setText(f"Running: {width} × {height} px, {total} iterations")

    @Slot(object)
    def _on_frame(self, frame: PreviewFrame) -> None:
        started = time.perf_counter()
        self._show_result(frame.image)
        if self._worker is not None:
            # what this frame cost to take, plus what painting the last one cost (painting comes later)
            self._worker.add_display_cost(time.perf_counter() - started + self.canvas.take_paint_seconds())
            self._worker.acknowledge_frame()

    def _show_result(self, image: np.ndarray) -> None:
        self.result = image
        self.canvas.set_result(to_qimage(image))
        if not self.save_png_button.isEnabled():
            self._update_state(self.state)

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        started = time.perf_counter()
        self._show_progress(progress)
        if self._worker is not None:
            self._worker.add_display_cost(time.perf_counter() - started + self.loss_plot.take_paint_seconds())

    def _show_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress_bar.setValue(progress.index)
        self.loss_plot.add(progress.index, progress.losses)
        paused = " · paused" if self.state == "paused" else ""
        scale = f" · scale {progress.scale} of {progress.scales}" if progress.scales > 1 else ""
        self.stats.setText(
            f"Iteration {progress.index} of {progress.total}{scale} · {progress.iterations_per_second:.2f} it/s · "
            f"{format_duration(progress.seconds_left)} left · lam {format_lam(progress.lam)}{paused}")

    @Slot(bool)
    def _on_paused_changed(self, paused: bool) -> None:
        if paused and self.last_progress is not None:
            self._show_progress(self.last_progress)

    @Slot(object)
    def _on_finished(self, outcome: RunOutcome) -> None:
        if outcome.index > 0:
            self._show_result(outcome.image)
        self.progress_bar.setValue(outcome.index)
        took = f"{outcome.index} iterations in {format_duration(outcome.elapsed)}"
        if outcome.cancelled:
            self.stats.setText(f"Stopped after {took}. The picture so far is kept: save it, or Start again.")
        else:
            self._discard_session()  # a finished run leaves no recovery copy behind
            self.stats.setText(f"Done: {took}. Save it as PNG (Ctrl+S) or its evolution as GIF (Ctrl+Shift+S).")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        kept = " The last picture is kept." if self.result is not None else ""
        self.stats.setText(f"The render failed.{kept}")

    @Slot(object)
    def _on_out_of_memory(self, error: OutOfMemory) -> None:
        kept = " The last good picture is kept." if self.result is not None else ""
        text = f"{error}.{kept}"
        if error.fits is not None:
            self._ask(text, f"Retry at {error.fits} px", "retry_at", error.fits, error=True)
        elif error.path != "cpu":
            self._ask(text, "Retry on the CPU", "retry_at", None, "cpu", error=True)
        else:
            self.messages.show_error(text)
        self.stats.setText(f"Out of memory.{kept}")

    @Slot(object)
    def _on_memory_warning(self, check: MemoryCheck) -> None:
        text = f"{check.warning()}. The render goes on, but may run out of memory."
        if check.fits is not None:
            self._ask(text, f"Restart at {check.fits} px", "retry_at", check.fits)
        else:
            self.messages.show_info(text)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._update_state("idle")
        self.runEnded.emit()
        if self._start_after_stop:
            self._start_after_stop = False
            self.start()

    def stop_worker(self, wait_ms: int = STOP_WAIT_MS) -> bool:
        """Cancel any run and wait for its thread to end; True when no thread is left running."""
        thread, worker = self._thread, self._worker
        if thread is None:
            return True
        if worker is not None:
            worker.cancel()
        thread.quit()
        return thread.wait(wait_ms)

    # ---- saving ----

    def _suggested_name(self, suffix: str) -> str:
        if self.record is not None:
            stem = f"{Path(self.record.content_name).stem}_in_{Path(self.record.style_name).stem}"
        else:
            stem = "fude"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return os.path.join(self.last_folder(), safe + suffix)

    def _ask_path(self, title: str, suffix: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, self._suggested_name(suffix), file_filter)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        return path

    def save_png(self) -> str | None:
        image = self.result
        if image is None:
            self.messages.show_info("There is no picture to save yet: press Start first.")
            return None
        path = self._ask_path("Save the picture as PNG", ".png", "PNG image (*.png)")
        if path is None:
            return None
        if self.record is not None:
            text = png_text_chunks(self.record.final_settings, self.record.content_name, self.record.style_name)
        else:
            text = {}
        try:
            save_png(path, image, text)
        except FudeError as exc:
            self.messages.show_error(f"{exc}. The picture is still here: save it somewhere else.")
            return None
        if not self.running and image is self.result:
            self._discard_session()  # the picture is safe in the file now
        self.set_last_folder(str(Path(path).parent))
        self.messages.show_info(f"Saved {path}")
        return path

    def save_gif(self) -> str | None:
        """Ask where, then write the GIF in the background; `saver.saved` or `saver.failed` follows."""
        images = self.record.gif_images() if self.record is not None else []
        if not images:
            self.messages.show_info("There is no evolution to save yet: press Start first.")
            return None
        if self.saver.busy:
            self.messages.show_info("A GIF is still being written; try again in a moment.")
            return None
        path = self._ask_path("Save the evolution as an animated GIF", ".gif", "GIF animation (*.gif)")
        if path is None:
            return None
        try:
            check_writable(path)  # fail now, with the dialog just closed, rather than after the encoding
        except FudeError as exc:
            self.messages.show_error(str(exc))
            return None
        self.saver.start(path, partial(save_gif, path, images), f"{len(images)} frames")
        self.messages.show_info(f"Writing {path} ({len(images)} frames)…")
        return path

    @Slot(str, str)
    def _on_saved(self, path: str, note: str) -> None:
        self.set_last_folder(str(Path(path).parent))
        self.messages.show_info(f"Saved {path}" + (f" ({note})" if note else ""))

    # ---- window-level events ----

    def dragEnterEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: ANN001, N802
        """A drop outside the panes: a Fude PNG offers its settings; anything else is pointed at the panes."""
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if urls and self.offer_stored_settings(urls[0].toLocalFile()) is not None:
            return
        self.messages.show_info("Drop pictures on the Content or the Style pane.")

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802
        self.save_state()
        self.stop_worker()
        self.saver.wait()  # a GIF being written is finished, not cut off
        self._discard_session()  # closing is a choice: only a crash or a kill leaves a picture to restore
        super().closeEvent(event)


def run_window(argv: list[str] | None = None) -> int:
    """Create the application, show the window and run the event loop; the exit status."""
    QApplication.setOrganizationName("Fude")
    QApplication.setApplicationName("Fude")
    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    app.setApplicationDisplayName("Fude")
    window = MainWindow()
    window.show()
    return app.exec()
