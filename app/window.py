"""MainWindow: the layout, the actions and their shortcuts, and the wiring between the panes, the controls, the
canvas, the render worker and the recovery copy (offered back after a crash); plus `run_window`, the entry
point. Helpers the window holds wire the compare switch (app/compare_switch.py), the style controls
(app/style_wiring.py), saving (app/save_actions.py) and the history (app/history_panel.py). No algorithm lives
here."""

from __future__ import annotations

import json
import os
import sys
import time
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.memory_probe import DeviceMemory
from app.panels.compare_switch import CompareSwitch
from app.panels.history_panel import HistoryPanel
from app.panels.save_panel import SaveActions
from app.panels.style_panel import StyleWiring
from app.plain_text import plain_label
from app.qimage import to_qimage
from app.refcount_guard import guard_singleton_refcounts
from app.widgets.export_dialog import ExportDialog
from app.widgets.image_pane import ImagePane, LoadedImage
from app.widgets.loss_plot import LossPlot
from app.widgets.message_bar import MessageBar
from app.widgets.preview_canvas import PreviewCanvas
from app.widgets.render_controls import AdvancedPanel, LamControl, format_lam
from app.widgets.style_pane import StylePane
from app.worker import BackendCache, PreviewFrame, Progress, RenderJob, RenderWorker, RunOutcome, RunRecord
from engine.colour import keep_colours
from engine.errors import FudeError, OutOfMemory
from engine.export import read_png_render
from engine.history import HistoryEntry
from engine.history import default_folder as default_history_folder
from engine.names import clean_name
from engine.presets import Preset
from engine.recovery import Recovered, RecoverySession, RecoveryStore
from engine.settings import (
    RenderSettings,
    StoredRender,
    describe_changes,
    png_text_chunks,
    settings_from_record,
)
from engine.untrusted import load_json

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
    """Fude's window. `store` (QSettings), `backends`, `recovery` (where unfinished pictures are kept) and
    `history_folder` (where the history of results is kept) may be injected, e.g. by tests."""

    stateChanged = Signal(str)  # "idle", "running", "paused", "stopping"
    runEnded = Signal()  # the worker thread has finished; a new run may start

    def __init__(self, store: QSettings | None = None, backends: BackendCache | None = None,
                 parent: QWidget | None = None, recovery: RecoveryStore | None = None,
                 history_folder: str | os.PathLike[str] | None = None) -> None:
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
        self._raw_result: np.ndarray | None = None  # the run's picture as it came, before Keep colours
        self.last_progress: Progress | None = None
        self.setAcceptDrops(True)
        self._history_folder = Path(history_folder) if history_folder is not None else default_history_folder()

        settings = self._stored_settings()
        self._build(settings)
        self.save_actions = SaveActions(self)
        self.saver = self.save_actions.saver
        self._build_actions()
        self.history_panel.add_actions()
        self._restore_geometry()
        self.set_last_folder(self.last_folder())
        self._update_state("idle")
        self._update_hint()
        self.offer_recovery()
        self.style_wiring.start()

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
        self.style_pane = StylePane(
            "Style — the painting",
            "Drop a painting here (or several, to mix them), paste one (Ctrl+V) or click to open a file "
            "(Ctrl+Shift+O)")
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
        self.style_wiring = StyleWiring(self, settings)
        # the parts of the helpers that the layout, the tests and the other helpers reach on the window
        self.style_scale = self.style_wiring.style_scale
        self.keep_colours_check = self.style_wiring.keep_colours_check
        self.presets = self.style_wiring.presets
        self.preset_bar = self.style_wiring.preset_bar
        self.memory_probe = self.style_wiring.memory_probe
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
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(6)
        side.addWidget(self.content_pane, 1)
        side.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.style_pane, 1)
        side.addSpacing(6)
        side.addWidget(self.preset_bar)
        side.addWidget(self.lam_control)
        side.addWidget(self.style_scale)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        side.addLayout(buttons)
        side.addWidget(self.advanced)

        self.canvas = PreviewCanvas()
        self.example_button = self.canvas.add_welcome_button("Try an example: Chelsea the cat + The Great Wave")
        self.example_button.clicked.connect(self.load_example)
        self.compare = CompareSwitch(self)
        self.compare_group = self.compare.group
        self.save_png_button = QPushButton("Save PNG…")
        self.save_png_button.setObjectName("savePngButton")
        self.save_png_button.setToolTip("Save the picture as PNG, with its settings stored in it (Ctrl+S)")
        self.save_png_button.clicked.connect(self.save_png)
        self.save_evolution_button = QPushButton("Save evolution…")
        self.save_evolution_button.setObjectName("saveEvolutionButton")
        self.save_evolution_button.setToolTip("Save the evolution so far as an animated GIF or WebP or an MP4 video "
                                              "(Ctrl+Shift+S)")
        self.save_evolution_button.clicked.connect(self.save_evolution)
        top = QHBoxLayout()
        top.addWidget(plain_label("View:"))
        top.addLayout(self.compare.row)
        top.addSpacing(12)
        top.addWidget(self.keep_colours_check)
        top.addStretch(1)
        top.addWidget(self.save_png_button)
        top.addWidget(self.save_evolution_button)

        self.stats = plain_label("")
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
        self.history_panel = HistoryPanel(self, self._history_folder)
        self.history = self.history_panel.history
        self.history_strip = self.history_panel.strip
        self.history_view = self.history_panel.view
        self.history_info = self.history_panel.info
        right.addWidget(self.history_panel.area, 1)  # the canvas, and the history strip under it
        right.addLayout(stats_row)
        right.addWidget(self.loss_plot)

        body = QHBoxLayout()
        body.setSpacing(12)
        body.addWidget(self._scrolling_sidebar(sidebar))
        body.addLayout(right, 1)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.setSpacing(8)
        outer.addWidget(self.messages)
        outer.addLayout(body, 1)
        self.setCentralWidget(central)

    @staticmethod
    def _scrolling_sidebar(sidebar: QWidget) -> QScrollArea:
        """The sidebar in a scroll area: with several paintings and Advanced open it may be taller than the
        window, which then scrolls it instead of growing past the screen."""
        area = QScrollArea()
        area.setObjectName("sidebarScroll")
        area.setWidget(sidebar)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFixedWidth(SIDEBAR_WIDTH)
        return area

    def _action(self, text: str, slot, shortcuts=(), tip: str = "") -> QAction:
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
        self.save_evolution_action = self._action("Save &evolution…", self.save_evolution, ["Ctrl+Shift+S"])
        self.quit_action = self._action("&Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.paste_action = self._action("&Paste picture", self.paste, [QKeySequence.StandardKey.Paste])
        self.swap_action = self._action("S&wap content and style", self.swap)
        self.clear_content_action = self._action("Clear c&ontent", self.content_pane.clear)
        self.clear_style_action = self._action("Clear st&yle", self.style_pane.clear)
        self.start_action = self._action("&Start", self.start, ["Ctrl+Return", "Ctrl+Enter"])
        self.pause_action = self._action("&Pause / Resume", self.toggle_pause, ["Ctrl+P"])
        self.stop_action = self._action("S&top", self.stop, ["Esc"])
        view_actions = self.compare.add_actions()
        self.compare_actions = self.compare.action_group

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_content_action, self.open_style_action, self.example_action, None,
                       self.save_png_action, self.save_evolution_action, None, self.quit_action):
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
        self.style_wiring.add_actions(view_menu)
        self.keep_colours_action = self.style_wiring.keep_colours_action

    # ---- persisted state ----

    def _stored_settings(self) -> RenderSettings:
        raw = self.store.value(KEY_SETTINGS)
        if isinstance(raw, str) and raw:
            try:
                record = load_json(raw)
                if isinstance(record, dict):
                    return settings_from_record(record)[0]
            except (ValueError, FudeError):
                pass  # unreadable, damaged or outdated: start from the defaults
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
        return self.advanced.settings(self.lam_control.lam).replaced(
            style_scale=self.style_scale.scale, keep_colours=self.keep_colours_check.isChecked(),
            style_weights=self.style_pane.style_weights())

    def apply_settings(self, settings: RenderSettings) -> None:
        self.advanced.apply(settings)
        self.lam_control.set_lam(settings.lam)
        self.style_wiring.apply_settings(settings)

    def set_lam(self, lam: float) -> None:
        self.lam_control.set_lam(lam)

    @Slot(float)
    def _on_lam_changed(self, lam: float) -> None:
        if self._worker is not None and self.state in ("running", "paused"):
            self._worker.set_lam(lam)
        self.style_wiring.show_matching_preset()

    # ---- pictures ----

    def load_example(self) -> None:
        content, style = SAMPLE_PAIR
        self.content_pane.load_path(content)
        self.style_pane.clear()  # the example is one painting, not one more in the mix
        self.style_pane.load_path(style)

    def swap(self) -> None:
        if len(self.style_pane.images) > 1:
            self.messages.show_info("Swap exchanges the content with one painting: remove the other paintings "
                                    "from the Style pane first.")
            return
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
        content = self.content_pane.image
        self.style_pane.set_result_size(None if content is None else QSize(content.width, content.height))
        self.style_wiring.update_size_offer()
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
        self._ask(f"{clean_name(Path(path).name)} was made by Fude ({made}: lam {format_lam(s.lam)}, {s.size} px, "
                  f"{s.iteration_count} iterations, {s.optimizer}, seed {s.seed}). Restore those settings?",
                  "Restore settings", "_restore_settings", stored, path)
        return stored

    def _restore_settings(self, stored: StoredRender, path: str) -> None:
        before = self.current_settings()
        self.apply_settings(stored.settings)
        changes = describe_changes(before, self.current_settings())
        changed = f": {'; '.join(changes)}." if changes else ": they were the settings already in use."
        ignored = (f" It names the weights file {stored.ignored_weights}, which is not used: a picture never "
                   "chooses a file to open." if stored.ignored_weights else "")
        self.messages.show_info(f"Settings restored from {clean_name(Path(path).name)}{changed}{ignored}"
                                f"{self.style_wiring.style_weights_note(stored)}")

    def _ask(self, text: str, button: str, method: str, *args: object, error: bool = False) -> None:
        """Show `text` with a button that calls this window's `method` with `args` (a dotted name reaches a
        helper's: "style_wiring.undo_preset_delete")."""
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
            attrgetter(method)(self)(*args)

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
        self.style_pane.set_images([LoadedImage(style, name) for style, name in zip(found.styles, found.style_names,
                                                                                   strict=True)])
        self.apply_settings(found.settings)
        self.record = RunRecord(RenderJob(found.content, found.styles, found.settings, found.content_name,
                                          found.style_names))
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
        self.style_scale.setEnabled(state == "idle")  # the style's targets are made when a run starts
        has_result = self.result is not None
        self.save_png_button.setEnabled(has_result)
        self.save_evolution_button.setEnabled(has_result and self.record is not None)
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
        styles = self.style_pane.images
        job = RenderJob(content.array, tuple(s.array for s in styles), settings, content.name,
                        tuple(s.name for s in styles), start_image, start_index)
        self.record = RunRecord(job)
        self.last_progress = None
        self._discard_session()  # the picture on the canvas is being replaced
        self.restored = None
        self._session = self.recovery.begin(content.array, job.styles, content.name, job.style_names)
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

    def _show_result(self, image: np.ndarray, recolour: bool = True) -> None:
        """Show a picture of the run on the canvas (with the content's colours while Keep colours is on:
        `result` is what is shown); `recolour=False` shows a finished picture exactly as it is."""
        self._raw_result = image if recolour else None
        shown = self.style_wiring.recoloured(image) if recolour else image
        self.result = shown
        self.canvas.set_result(to_qimage(shown))
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
            self.history_panel.keep(finished=not outcome.cancelled)
        self.progress_bar.setValue(outcome.index)
        took = f"{outcome.index} iterations in {format_duration(outcome.elapsed)}"
        if outcome.cancelled:
            self.stats.setText(f"Stopped after {took}. The picture so far is kept: save it, or Start again.")
        else:
            self._discard_session()  # a finished run leaves no recovery copy behind
            self.stats.setText(f"Done: {took}. Save it as PNG (Ctrl+S) or its evolution (Ctrl+Shift+S).")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.history_panel.keep_failed()
        kept = " The last picture is kept." if self.result is not None else ""
        self.stats.setText(f"The render failed.{kept}")

    @Slot(object)
    def _on_out_of_memory(self, error: OutOfMemory) -> None:
        self.history_panel.keep_failed()
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
        self.style_wiring.probe_if_shown()  # what the run held is free again: the size field may offer more
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

    # ---- saving and the history (app/save_actions.py, app/history_panel.py) ----

    def result_settings(self) -> RenderSettings | None:
        """The settings of the picture on the canvas, as its PNG stores them: the run's (with the lam and
        style weights it ended on) and Keep colours as shown."""
        if self.record is None:
            return None
        shown = self._raw_result is not None and self.keep_colours_check.isChecked()
        return self.record.final_settings.replaced(keep_colours=shown)

    def result_text_chunks(self) -> dict[str, str]:
        """The PNG text chunks of the picture on the canvas: the settings that made it (none when unknown)."""
        if self.record is None:
            return {}
        return png_text_chunks(self.result_settings(), self.record.content_name, self.record.style_names)

    def evolution_images(self) -> list[np.ndarray]:
        """The run's evolution as it is shown: with the content's colours while Keep colours is on."""
        images = self.record.gif_images() if self.record is not None else []
        if images and self.keep_colours_check.isChecked():
            images = [keep_colours(image, self.record.content) for image in images]
        return images

    def save_png(self) -> str | None:
        return self.save_actions.save_png()

    def save_evolution(self) -> ExportDialog | None:
        return self.save_actions.save_evolution()

    @property
    def showing_history(self) -> bool:
        return self.history_panel.showing

    def save_history_entry(self, entry: HistoryEntry) -> str | None:
        return self.history_panel.save_entry(entry)

    def ask_history_limit(self) -> int | None:
        return self.history_panel.ask_limit()

    # ---- the style controls (app/style_wiring.py) ----

    @property
    def device_memory(self) -> DeviceMemory | None:
        return self.style_wiring.device_memory

    def set_device_memory(self, memory: DeviceMemory | None) -> None:
        self.style_wiring.set_device_memory(memory)

    def save_preset(self) -> Preset | None:
        return self.style_wiring.save_preset()

    # ---- window-level events ----

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        """A drop outside the panes: a Fude PNG offers its settings; anything else is pointed at the panes."""
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if urls and self.offer_stored_settings(urls[0].toLocalFile()) is not None:
            return
        self.messages.show_info("Drop pictures on the Content or the Style pane.")

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_state()
        self.stop_worker()
        self.saver.wait()  # an animation being written is finished, not cut off
        self.history_panel.on_window_closing()
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
