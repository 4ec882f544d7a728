"""MainWindow: the layout, the actions and their shortcuts, and the wiring between the panes, the controls, the
canvas, the render worker and the recovery copy (offered back after a crash); plus `run_window`, the entry
point. No algorithm lives here."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QSettings, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.compat import guard_singleton_refcounts
from app.controls import AdvancedPanel, LamControl, StyleScaleControl, format_lam
from app.export_dialog import ExportChoice, ExportDialog
from app.history_strip import HistoryStrip, HistoryView, describe_entry, entry_time
from app.image_pane import ImagePane, LoadedImage
from app.loss_plot import LossPlot
from app.memory_probe import DeviceMemory, MemoryProbe, size_offer
from app.message_bar import MessageBar
from app.presets_menu import PresetBar
from app.preview import CompareMode, PreviewCanvas
from app.qimage import to_qimage
from app.saving import BackgroundSaver
from app.style_list import StylePane
from app.worker import BackendCache, PreviewFrame, Progress, RenderJob, RenderWorker, RunOutcome, RunRecord
from engine.colour import keep_colours
from engine.errors import FudeError, OutOfMemory
from engine.export import AnimationOptions, read_png_render, save_png
from engine.history import DEFAULT_LIMIT_BYTES, HistoryEntry, HistoryStore
from engine.history import default_folder as default_history_folder
from engine.presets import FILE_NAME as PRESETS_FILE
from engine.presets import Preset, PresetStore
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
KEY_PRESET = "render/preset"
KEY_EXPORT_FORMAT = "export/format"
KEY_EXPORT_FRAMES = "export/frames"
KEY_EXPORT_FRAME_MS = "export/frameMs"
KEY_EXPORT_HOLD_MS = "export/holdMs"
KEY_EXPORT_SIDE = "export/longestSide"
KEY_HISTORY_LIMIT = "history/limitMB"
MB = 2**20


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
        self.last_progress: Progress | None = None
        self.setAcceptDrops(True)
        self.saver = BackgroundSaver(self)
        self._history_folder = Path(history_folder) if history_folder is not None else default_history_folder()

        settings = self._stored_settings()
        self._build(settings)
        self._build_actions()
        self._build_history_actions()
        self.saver.saved.connect(self._on_saved)
        self.saver.failed.connect(self.messages.show_error)
        self._restore_geometry()
        self.set_last_folder(self.last_folder())
        self._update_state("idle")
        self._update_hint()
        self.offer_recovery()
        self._start_style_features()

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
        self._build_style_controls(settings)
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
        self.save_evolution_button = QPushButton("Save evolution…")
        self.save_evolution_button.setObjectName("saveEvolutionButton")
        self.save_evolution_button.setToolTip("Save the evolution so far as an animated GIF or WebP or an MP4 video "
                                              "(Ctrl+Shift+S)")
        self.save_evolution_button.clicked.connect(self.save_evolution)
        top = QHBoxLayout()
        top.addWidget(QLabel("View:"))
        top.addLayout(compare)
        top.addSpacing(12)
        top.addWidget(self.keep_colours_check)
        top.addStretch(1)
        top.addWidget(self.save_png_button)
        top.addWidget(self.save_evolution_button)

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
        right.addWidget(self._build_history_area(), 1)  # the canvas, and the history strip under it
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
        self.save_evolution_action = self._action("Save &evolution…", self.save_evolution, ["Ctrl+Shift+S"])
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
        self._add_style_actions(view_menu)

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
        return self.advanced.settings(self.lam_control.lam).replaced(
            style_scale=self.style_scale.scale, keep_colours=self.keep_colours_check.isChecked(),
            style_weights=self.style_pane.style_weights())

    def apply_settings(self, settings: RenderSettings) -> None:
        self.advanced.apply(settings)
        self.lam_control.set_lam(settings.lam)
        self._apply_style_settings(settings)

    def set_lam(self, lam: float) -> None:
        self.lam_control.set_lam(lam)

    @Slot(float)
    def _on_lam_changed(self, lam: float) -> None:
        if self._worker is not None and self.state in ("running", "paused"):
            self._worker.set_lam(lam)
        self._show_matching_preset()

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
        self._update_size_offer()
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
        self.messages.show_info(f"Settings restored from {Path(path).name}.{self._style_weights_note(stored)}")

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

    # ---- several styles, keep colours, style scale, the sizes that fit, presets ----

    def _build_style_controls(self, settings: RenderSettings) -> None:
        """The style scale, the Keep colours switch, the presets row and the memory probe (before the layout)."""
        self._raw_result: np.ndarray | None = None  # the run's picture as it came, before Keep colours
        self.style_pane.weightsChanged.connect(self._on_style_weights_changed)
        self.style_scale = StyleScaleControl(settings.style_scale)
        self.style_scale.scaleChanged.connect(self._on_style_scale_changed)
        self.style_pane.set_style_scale(settings.style_scale)
        self.keep_colours_check = QCheckBox("Keep colours")
        self.keep_colours_check.setObjectName("keepColoursCheck")
        self.keep_colours_check.setToolTip(
            "Keep the content's colours and take only the painting's strokes and textures. Switches the picture "
            "shown and saved at once, during or after a run, without running again (Ctrl+K).")
        self.keep_colours_check.setChecked(settings.keep_colours)
        self.keep_colours_check.toggled.connect(self._on_keep_colours_toggled)
        self.presets = PresetStore(self.recovery.root.parent / PRESETS_FILE)
        self.preset_bar = PresetBar(self.presets)
        self.preset_bar.presetChosen.connect(self.apply_preset)
        self.preset_bar.saveAsked.connect(self.save_preset)
        self.preset_bar.saved.connect(self._on_preset_saved)
        self.preset_bar.deleted.connect(self._on_preset_deleted)
        self.preset_bar.problem.connect(self.messages.show_error)
        self.memory_probe = MemoryProbe(self)
        self.memory_probe.measured.connect(self._on_memory_measured)
        self.device_memory: DeviceMemory | None = None

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

    def _add_style_actions(self, view_menu: QMenu) -> None:
        self.keep_colours_action = self._action("&Keep the content's colours", None, ["Ctrl+K"])
        self.keep_colours_action.setCheckable(True)
        self.keep_colours_action.setChecked(self.keep_colours_check.isChecked())
        self.keep_colours_action.toggled.connect(self.keep_colours_check.setChecked)
        view_menu.addSeparator()
        view_menu.addAction(self.keep_colours_action)

    def _start_style_features(self) -> None:
        """After the window is built: the last preset, a damaged presets file, and measuring the free memory
        whenever the size field is shown (measuring imports torch, in the background)."""
        self.preset_bar.last_name = str(self.store.value(KEY_PRESET, "") or "")
        self._show_matching_preset()
        if self.messages.kind == "":  # an offer already showing (a recovery) goes first; the problem waits
            self.preset_bar.report_problem()
        self.advanced.device.currentIndexChanged.connect(self._probe_if_shown)
        self.advanced.optimizer.currentIndexChanged.connect(self._update_size_offer)
        self.advanced.precision.currentIndexChanged.connect(self._update_size_offer)
        self.advanced.toggle.toggled.connect(self._on_advanced_toggled)

    @Slot(bool)
    def _on_advanced_toggled(self, expanded: bool) -> None:
        if expanded:
            self.probe_memory()

    @Slot()
    def _probe_if_shown(self) -> None:
        """Measure again while the size field is shown (hidden, nothing needs to know yet)."""
        if self.advanced.body.isVisibleTo(self.advanced):
            self.probe_memory()

    def _apply_style_settings(self, settings: RenderSettings) -> None:
        """Show the style scale, keep colours and (when they are for as many paintings as the pane holds) the
        style weights of `settings`."""
        self.style_scale.set_scale(settings.style_scale)
        self.keep_colours_check.setChecked(settings.keep_colours)
        if len(settings.style_weights) > 1 and len(settings.style_weights) == len(self.style_pane.images):
            self.style_pane.set_weights(settings.style_weights)

    def _style_weights_note(self, stored: StoredRender) -> str:
        weights, count = stored.settings.style_weights, len(self.style_pane.images)
        if len(weights) > 1 and len(weights) != count:
            return (f" Its {len(weights)} style weights were not restored: the Style pane holds {count} "
                    f"painting{'' if count == 1 else 's'}.")
        return ""

    @Slot(tuple)
    def _on_style_weights_changed(self, weights: tuple[float, ...]) -> None:
        """A weight moved: a run of these same paintings takes it from its next iteration on, like lam."""
        worker = self._worker
        if worker is None or self.state not in ("running", "paused"):
            return
        pictures = tuple(image.array for image in self.style_pane.images)
        if len(pictures) == len(worker.job.styles) and all(a is b for a, b in zip(pictures, worker.job.styles)):
            worker.set_style_weights(weights)

    @Slot(float)
    def _on_style_scale_changed(self, scale: float) -> None:
        self.style_pane.set_style_scale(scale)
        self._show_matching_preset()
        self._update_size_offer()

    @Slot(bool)
    def _on_keep_colours_toggled(self, on: bool) -> None:
        self.keep_colours_action.setChecked(on)
        if self._raw_result is not None:
            self._show_result(self._raw_result)

    def _recoloured(self, image: np.ndarray) -> np.ndarray:
        """`image` with the run's content colours while Keep colours is on."""
        if not self.keep_colours_check.isChecked():
            return image
        if self.record is not None:
            content = self.record.content
        elif self.content_pane.image is not None:
            content = self.content_pane.image.array
        else:
            return image
        return keep_colours(image, content)

    def result_settings(self) -> RenderSettings | None:
        """The settings of the picture on the canvas, as its PNG stores them: the run's (with the lam and
        style weights it ended on) and Keep colours as shown."""
        if self.record is None:
            return None
        shown = self._raw_result is not None and self.keep_colours_check.isChecked()
        return self.record.final_settings.replaced(keep_colours=shown)

    def evolution_images(self) -> list[np.ndarray]:
        """The run's evolution as it is shown: with the content's colours while Keep colours is on."""
        images = self.record.gif_images() if self.record is not None else []
        if images and self.keep_colours_check.isChecked():
            images = [keep_colours(image, self.record.content) for image in images]
        return images

    def probe_memory(self) -> None:
        """Measure the free memory of the device chosen under Advanced (in the background); the size field then
        offers only the sizes that fit."""
        self.memory_probe.request(self.advanced.device.currentData() or "auto")

    @Slot(object)
    def _on_memory_measured(self, memory: DeviceMemory) -> None:
        if memory.choice == (self.advanced.device.currentData() or "auto"):
            self.set_device_memory(memory)

    def set_device_memory(self, memory: DeviceMemory | None) -> None:
        self.device_memory = memory
        self._update_size_offer()

    def _update_size_offer(self) -> None:
        memory = self.device_memory
        if memory is None:
            return
        if memory.problem:
            self.advanced.set_size_limit(None, f"{memory.choice}: {memory.problem}")
            return
        try:
            settings = self.current_settings()
        except FudeError:
            return
        content = self.content_pane.image
        offer = size_offer(memory, None if content is None else content.array.shape,
                           [style.array.shape for style in self.style_pane.images], settings)
        self.advanced.set_size_limit(offer.maximum, offer.reason)

    def _show_matching_preset(self) -> None:
        try:
            settings = self.current_settings()
        except FudeError:
            return
        self.preset_bar.show_matching(settings)

    @Slot(object)
    def apply_preset(self, preset: Preset) -> None:
        """Set lam, style scale and smoothing from `preset` (a run under way takes lam at once, the rest at the
        next Start)."""
        self.apply_settings(preset.apply(self.current_settings()))
        self.preset_bar.last_name = preset.name
        self.preset_bar.show_matching(self.current_settings())
        self.store.setValue(KEY_PRESET, preset.name)

    def save_preset(self) -> Preset | None:
        """Ask a name and save the current lam, style scale and smoothing as the user's preset."""
        return self.preset_bar.save_as(self.current_settings())

    @Slot(object)
    def _on_preset_saved(self, preset: Preset) -> None:
        self.store.setValue(KEY_PRESET, preset.name)
        self.messages.show_info(f"Saved the preset “{preset.name}” ({self.presets.path}).")

    @Slot(object)
    def _on_preset_deleted(self, preset: Preset) -> None:
        self._show_matching_preset()
        self._ask(f"Deleted the preset “{preset.name}”.", "Undo", "_undo_preset_delete", preset)

    def _undo_preset_delete(self, preset: Preset) -> None:
        if self.preset_bar.restore(preset):
            self._show_matching_preset()
            self.messages.show_info(f"The preset “{preset.name}” is back.")

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
        shown = self._recoloured(image) if recolour else image
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
            self._keep_in_history(finished=not outcome.cancelled)
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
        self._keep_failed_in_history()
        kept = " The last picture is kept." if self.result is not None else ""
        self.stats.setText(f"The render failed.{kept}")

    @Slot(object)
    def _on_out_of_memory(self, error: OutOfMemory) -> None:
        self._keep_failed_in_history()
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
        self._probe_if_shown()  # what the run held is free again: the size field may offer more
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
            styles = "_and_".join(Path(name).stem for name in self.record.style_names)
            stem = f"{Path(self.record.content_name).stem}_in_{styles}"
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

    def result_text_chunks(self) -> dict[str, str]:
        """The PNG text chunks of the picture on the canvas: the settings that made it (none when unknown)."""
        if self.record is None:
            return {}
        return png_text_chunks(self.result_settings(), self.record.content_name, self.record.style_names)

    def save_png(self) -> str | None:
        """Save the picture shown as PNG: the canvas's, or the history picture shown in its place."""
        if self.showing_history:
            shown = self.history_strip.selected()
            if len(shown) == 1:
                return self.save_history_entry(shown[0])
            self.messages.show_info("Two history pictures are shown: right-click one in the history to save it.")
            return None
        image = self.result
        if image is None:
            self.messages.show_info("There is no picture to save yet: press Start first.")
            return None
        path = self._ask_path("Save the picture as PNG", ".png", "PNG image (*.png)")
        if path is None:
            return None
        try:
            save_png(path, image, self.result_text_chunks())
        except FudeError as exc:
            self.messages.show_error(f"{exc}. The picture is still here: save it somewhere else.")
            return None
        if not self.running and image is self.result:
            self._discard_session()  # the picture is safe in the file now
        self.set_last_folder(str(Path(path).parent))
        self.messages.show_info(f"Saved {path}")
        return path

    def save_evolution(self) -> ExportDialog | None:
        """Open the Save evolution dialog (format, frames, size, the file size before saving); its Save asks where
        and the file is written in the background: `saver.saved` or `saver.failed` follows. The dialog, or None."""
        images = self.evolution_images()
        if not images:
            self.messages.show_info("There is no evolution to save yet: press Start first.")
            return None
        if self.saver.busy:
            self.messages.show_info("An animation is still being written; try again in a moment.")
            return None
        fmt, options = self._export_choices()
        dialog = ExportDialog(images, self._suggested_name(""), self, fmt=fmt, options=options)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(self._on_export_chosen)
        dialog.open()  # window-modal, without a nested event loop: a run goes on behind it
        return dialog

    def _export_choices(self) -> tuple[str, AnimationOptions]:
        """The format and options last used in the Save evolution dialog (defaults when none or unreadable)."""
        try:
            fmt = str(self.store.value(KEY_EXPORT_FORMAT, "gif"))
            side = self.store.value(KEY_EXPORT_SIDE, 0)
            options = AnimationOptions(
                frame_count=int(self.store.value(KEY_EXPORT_FRAMES, AnimationOptions.frame_count)),
                frame_ms=int(self.store.value(KEY_EXPORT_FRAME_MS, AnimationOptions.frame_ms)),
                last_frame_ms=int(self.store.value(KEY_EXPORT_HOLD_MS, AnimationOptions.last_frame_ms)),
                longest_side=int(side) or None)
        except (TypeError, ValueError, FudeError):
            return "gif", AnimationOptions()
        return fmt, options

    @Slot(object)
    def _on_export_chosen(self, choice: ExportChoice) -> None:
        o = choice.options
        for key, value in ((KEY_EXPORT_FORMAT, choice.fmt), (KEY_EXPORT_FRAMES, o.frame_count),
                           (KEY_EXPORT_FRAME_MS, o.frame_ms), (KEY_EXPORT_HOLD_MS, o.last_frame_ms),
                           (KEY_EXPORT_SIDE, o.longest_side or 0)):
            self.store.setValue(key, value)
        if not self.saver.start(choice.path, choice.write, choice.note):
            self.messages.show_info("An animation is still being written; try again in a moment.")
            return
        self.messages.show_info(f"Writing {choice.path} ({choice.note})…")

    @Slot(str, str)
    def _on_saved(self, path: str, note: str) -> None:
        self.set_last_folder(str(Path(path).parent))
        self.messages.show_info(f"Saved {path}" + (f" ({note})" if note else ""))

    # ---- history ----

    def _build_history_area(self) -> QWidget:
        """The canvas, the history view that takes its place while history pictures are shown, and the strip of
        the history under them."""
        self.history = HistoryStore(self._history_folder, self._history_limit_mb() * MB)
        self.history_strip = HistoryStrip(self.history)
        self.history_strip.selectionChanged.connect(self._on_history_selection)
        self.history_strip.saveRequested.connect(self.save_history_entry)
        self.history_strip.removeRequested.connect(self.remove_history_entry)
        self.history_strip.limitRequested.connect(self.ask_history_limit)
        self.history_strip.failed.connect(self.messages.show_error)
        self.history_view = HistoryView()
        self.history_info = QLabel()
        self.history_info.setObjectName("historyInfo")
        self.history_info.setWordWrap(True)
        self.history_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        back = QPushButton("Back to the current picture")
        back.setObjectName("historyBack")
        back.setToolTip("Show the picture of the render again (Ctrl+1)")
        back.clicked.connect(self.show_current_picture)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.history_info, 1)
        header.addWidget(back, 0, Qt.AlignmentFlag.AlignTop)
        self._history_page = QWidget()
        self._history_page.setObjectName("historyPage")
        page = QVBoxLayout(self._history_page)
        page.setContentsMargins(0, 0, 0, 0)
        page.setSpacing(4)
        page.addLayout(header)
        page.addWidget(self.history_view, 1)
        self.picture_stack = QStackedWidget()
        self.picture_stack.addWidget(self.canvas)
        self.picture_stack.addWidget(self._history_page)
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.picture_stack, 1)
        layout.addWidget(self.history_strip)
        return area

    def _build_history_actions(self) -> None:
        self.history_limit_action = self._action("History size &limit…", self.ask_history_limit)
        self.history_back_action = self._action("&Back to the current picture", self.show_current_picture)
        menu = self.menuBar().addMenu("&History")
        menu.addAction(self.history_back_action)
        menu.addAction(self.history_limit_action)
        # choosing what the canvas shows, or starting a run, leaves the history view
        self.compare_group.buttonClicked.connect(self.show_current_picture)
        self.compare_actions.triggered.connect(self.show_current_picture)
        self._history_state = self.state
        self.stateChanged.connect(self._on_state_for_history)

    def _history_limit_mb(self) -> int:
        try:
            limit = int(self.store.value(KEY_HISTORY_LIMIT, DEFAULT_LIMIT_BYTES // MB))
        except (TypeError, ValueError):
            return DEFAULT_LIMIT_BYTES // MB
        return limit if limit > 0 else DEFAULT_LIMIT_BYTES // MB

    @property
    def showing_history(self) -> bool:
        """Whether history pictures are shown in the canvas's place."""
        return self.picture_stack.currentWidget() is self._history_page

    def show_current_picture(self, *_: object) -> None:
        """Leave the history view: the canvas (the render's picture) is shown again."""
        self.history_strip.clear_selection()
        self.picture_stack.setCurrentWidget(self.canvas)
        self.history_view.set_pictures([])

    @Slot(str)
    def _on_state_for_history(self, state: str) -> None:
        if state == "running" and self._history_state == "idle":  # a new run: watch it grow
            self.show_current_picture()
        self._history_state = state

    def _keep_in_history(self, finished: bool) -> None:
        """Keep the picture on the canvas in the history (as Save PNG would write it), in the background."""
        if self.result is not None and self.record is not None:
            self.history_strip.add(self.result, self.result_text_chunks(), finished)

    def _keep_failed_in_history(self) -> None:
        """A run that failed part-way: its last good picture (already on the canvas) is kept as a stopped one."""
        if self.record is not None and self.record.latest is not None:
            self._keep_in_history(finished=False)

    @Slot(object)
    def _on_history_selection(self, entries: list[HistoryEntry]) -> None:
        """One picture picked: show it and its settings; two: side by side; none: back to the canvas."""
        if not entries:
            self.show_current_picture()
            return
        pictures = []
        for entry in entries:
            try:
                image = self.history.image(entry)
            except FudeError as exc:
                self.messages.show_error(f"{exc}. It cannot be shown.")
                return
            pictures.append((to_qimage(image), entry_time(entry) + ("" if entry.finished else " · stopped")))
        self.history_view.set_pictures(pictures)
        if len(entries) == 1:
            self.history_info.setText(describe_entry(entries[0]))
        else:
            self.history_info.setText(f"Left: {describe_entry(entries[0])}\nRight: {describe_entry(entries[1])}")
        self.picture_stack.setCurrentWidget(self._history_page)

    def _history_name(self, entry: HistoryEntry) -> str:
        stored = entry.stored
        if stored is not None and stored.content_name:
            styles = "_".join(Path(name).stem for name in (stored.style_names or (stored.style_name,)))
            stem = f"{Path(stored.content_name).stem}_in_{styles}"
        else:
            stem = "fude"
        stem += time.strftime("_%Y%m%d-%H%M%S", time.localtime(entry.created))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return os.path.join(self.last_folder(), safe + ".png")

    def save_history_entry(self, entry: HistoryEntry) -> str | None:
        """Ask where, then save a history picture as PNG with its settings; the path, or None."""
        path, _ = QFileDialog.getSaveFileName(self, "Save the history picture as PNG", self._history_name(entry),
                                              "PNG image (*.png)")
        if not path:
            return None
        if not path.lower().endswith(".png"):
            path += ".png"
        stored = entry.stored
        text = {} if stored is None else png_text_chunks(stored.settings, stored.content_name,
                                                         stored.style_names or stored.style_name)
        try:
            save_png(path, self.history.image(entry), text)
        except FudeError as exc:
            self.messages.show_error(f"{exc}. The picture is still in the history: save it somewhere else.")
            return None
        self.set_last_folder(str(Path(path).parent))
        self.messages.show_info(f"Saved {path}")
        return path

    def remove_history_entry(self, entry: HistoryEntry) -> None:
        """Delete a picture from the history (its file in the data folder)."""
        try:
            self.history.remove(entry)
        except FudeError as exc:
            self.messages.show_error(str(exc))
        else:
            self.messages.show_info(f"The picture of {entry_time(entry)} was removed from the history.")
        self.history_strip.refresh()

    def ask_history_limit(self) -> int | None:
        """Ask how many MB the history may take; the limit set, or None when cancelled."""
        megabytes, ok = QInputDialog.getInt(
            self, "History size", "Keep at most this many MB of pictures in the history\n(the oldest go first; "
            "the newest one always stays):", self.history.limit_bytes // MB, 1, 1_000_000, 10)
        if not ok:
            return None
        return megabytes if self.set_history_limit(megabytes) else None

    def set_history_limit(self, megabytes: int, confirm: bool = True) -> bool:
        """Keep at most `megabytes` of history (remembered between launches). With `confirm`, a limit that would
        remove pictures asks first; False when the user keeps the old limit."""
        entries = self.history_strip.entries
        total, doomed = 0, 0
        for i, entry in enumerate(entries):  # newest first: what the engine keeps
            total += entry.size_bytes
            if i > 0 and total > megabytes * MB:
                doomed += 1
        if confirm and doomed:
            answer = QMessageBox.question(
                self, "History size", f"At {megabytes} MB the {doomed} oldest picture{'s' if doomed != 1 else ''} "
                "of the history will be deleted. Go on?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            removed = self.history.set_limit(megabytes * MB)
        except FudeError as exc:
            self.messages.show_error(str(exc))
            return False
        self.store.setValue(KEY_HISTORY_LIMIT, megabytes)
        self.history_strip.refresh()
        gone = f"; the {len(removed)} oldest pictures were removed" if removed else ""
        self.messages.show_info(f"The history keeps up to {megabytes} MB{gone}.")
        return True

    def _close_history(self) -> None:
        """On closing: a run just stopped still reaches the history, and pictures being kept are finished."""
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall.value)  # the stopped run's outcome
        self.history_strip.wait()

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
        self.saver.wait()  # an animation being written is finished, not cut off
        self._close_history()
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
