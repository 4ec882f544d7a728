"""MainWindow: the layout, the menus and their shortcuts. It makes the session (app/session.py, the one source of
truth), the widgets (app/widgets/) and the panels that bind them to the session (app/panels/); it holds no
state of its own and no algorithm. What it decides itself: what is offered at the start (an unfinished picture,
the queue kept from the last time, a note about files set aside in the data folder) and what closing with jobs
in the queue does (it asks). `run_window` is the entry point of the desktop app: the application's name and icon,
one window per user (app/single_instance.py), and the pictures it was asked to open."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.file_open import FileOpenEvents
from app.icon import application_icon
from app.open_request import OpenRequest
from app.panels.compare_switch import CompareSwitch
from app.panels.desktop_entry_panel import DesktopEntryPanel
from app.panels.history_panel import HistoryPanel
from app.panels.pictures_panel import PicturesPanel
from app.panels.presets_panel import PresetsPanel
from app.panels.queue_panel import QueuePanel
from app.panels.regions_panel import RegionsPanel
from app.panels.run_panel import RunPanel
from app.panels.save_panel import SavePanel
from app.panels.settings_panel import SettingsPanel
from app.panels.size_offer_panel import SizeOfferPanel
from app.plain_text import literal, plain_label
from app.preferences import Preferences
from app.refcount_guard import guard_singleton_refcounts
from app.session import Session
from app.single_instance import Answer, HandOver, claim, server_name
from app.widgets.about_dialog import AboutDialog, about_facts
from app.widgets.actions import make_action
from app.widgets.export_dialog import ExportDialog
from app.widgets.image_pane import ImagePane
from app.widgets.loss_plot import LossPlot
from app.widgets.message_bar import MessageBar
from app.widgets.preset_bar import PresetBar
from app.widgets.preview_canvas import PreviewCanvas
from app.widgets.region_editor import RegionEditor
from app.widgets.render_controls import AdvancedPanel, LamControl, SteadinessControl, StyleScaleControl
from app.widgets.style_pane import StylePane
from engine.driver import BackendCache
from engine.history import default_folder as default_history_folder
from engine.presets import FILE_NAME as PRESETS_FILE
from engine.presets import PresetStore
from engine.queue_store import QueueStore
from engine.recovery import Recovered, RecoveryStore
from engine.settings import RenderSettings
from engine.untrusted import is_plain_folder
from resources import ICON_NAME

SIDEBAR_WIDTH = 320
QUEUE_FOLDER = "queue"  # in the data folder, beside the recovery copies


class CloseChoice(StrEnum):
    """What the user answered when closing with jobs in the queue."""

    KEEP = "keep"
    DISCARD = "discard"
    CANCEL = "cancel"


class MainWindow(QMainWindow):
    """Fude's window. `store` (QSettings), `backends`, `recovery` (where unfinished pictures are kept) and
    `history_folder` (where the history of results is kept) may be injected, e.g. by tests. With
    `offer_desktop_entry` (the desktop app), it offers once to add Fude to the applications menu."""

    def __init__(self, store: QSettings | None = None, backends: BackendCache | None = None,
                 parent: QWidget | None = None, recovery: RecoveryStore | None = None,
                 history_folder: str | os.PathLike[str] | None = None, offer_desktop_entry: bool = False) -> None:
        super().__init__(parent)
        # the application's display name, which Qt adds to a title that does not already end with it
        self.setWindowTitle("Fude")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.preferences = Preferences(store, self)
        settings = self.preferences.settings()
        self.session = Session(settings, backends, recovery, self, video=self.preferences.video())
        self._build_widgets(settings)
        folder = Path(history_folder) if history_folder is not None else default_history_folder()
        self._build_panels(folder)
        self._lay_out()
        self._build_menus()
        self._restore_geometry()
        self.report_set_aside()
        offered = self.queue_panel.offer_stored()
        self.offer_recovery()
        if offered and self.messages.kind == "":  # the unfinished picture is asked first; the queue's dock asks too
            self.messages.show_info(f"{offered} queued job{'s were' if offered != 1 else ' was'} left waiting when "
                                    "Fude last closed. Put them back in the queue?", "Restore",
                                    self.queue_panel.restore_offered)
        if self.messages.kind == "":  # an offer already showing (a recovery) goes first; the problem waits
            self.presets_panel.report_problem()
        if offer_desktop_entry and self.messages.kind == "":  # the least pressing: it waits for a quiet start
            self.desktop_entry.offer()
        self.about_dialog: AboutDialog | None = None

    # ---- construction ----

    def _build_widgets(self, settings: RenderSettings) -> None:
        self.messages = MessageBar()
        self.content_pane = ImagePane(
            "content", "Content — the creature",
            "Drop a photo of a creature (or a video) here, paste one (Ctrl+V) or click to open a file (Ctrl+O)",
            keeps_alpha=True, takes_clips=True)
        self.style_pane = StylePane(
            "Style — the painting",
            "Drop a painting here (or several, to mix them), paste one (Ctrl+V) or click to open a file "
            "(Ctrl+Shift+O)")
        self.swap_button = QToolButton()
        self.swap_button.setObjectName("swapButton")
        self.swap_button.setText("⇅  Swap")
        self.swap_button.setToolTip("Swap the content and the style picture")
        self.swap_button.setAutoRaise(True)
        self.lam_control = LamControl(settings.lam)
        self.style_scale = StyleScaleControl(settings.style_scale)
        self.steadiness = SteadinessControl(self.session.video.steadiness)  # (shown while the content is a clip)
        self.keep_colours_check = QCheckBox("Keep colours")
        self.keep_colours_check.setObjectName("keepColoursCheck")
        self.keep_colours_check.setToolTip(
            "Keep the content's colours and take only the painting's strokes and textures. Switches the picture "
            "shown and saved at once, during or after a run, without running again (Ctrl+K).")
        self.match_colours_check = QCheckBox("Match colours")
        self.match_colours_check.setObjectName("matchColoursCheck")
        self.match_colours_check.setToolTip(
            "Move the painting's colours onto the creature's before the run: the strokes come in the creature's "
            "palette while the texture stays the painting's. The Style pane shows the painting so. Takes effect at "
            "the next Start (Ctrl+Shift+K).")
        self.advanced = AdvancedPanel(settings)
        self.preset_bar = PresetBar(PresetStore(self.session.recovery.root.parent / PRESETS_FILE))
        self.canvas = PreviewCanvas()
        self.example_button = self.canvas.add_welcome_button("Try an example: Chelsea the cat + The Great Wave")
        self.stats = plain_label("")
        self.stats.setObjectName("runStats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.stats.setWordWrap(True)  # a long line (a narrow window) wraps rather than widening the window
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFixedWidth(260)
        self.progress_bar.setValue(0)
        self.loss_plot = LossPlot()
        self.region_editor = RegionEditor()
        self.regions_button = QToolButton()
        self.regions_button.setObjectName("regionsButton")
        self.regions_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.regions_button.setAutoRaise(True)

    def _build_panels(self, history_folder: Path) -> None:
        session, messages, preferences = self.session, self.messages, self.preferences
        session.error.connect(messages.show_error)
        session.info.connect(messages.show_info)
        session.runStarting.connect(self.save_state)
        self.pictures = PicturesPanel(session, self.content_pane, self.style_pane, messages, preferences, self)
        self.settings_panel = SettingsPanel(session, self.lam_control, self.style_scale, self.keep_colours_check,
                                            self.match_colours_check, self.advanced, self.steadiness, self)
        self.presets_panel = PresetsPanel(session, self.preset_bar, messages, preferences, self)
        self.size_offer = SizeOfferPanel(session, self.advanced, parent=self)
        self.run_panel = RunPanel(session, self.canvas, self.stats, self.progress_bar, self.loss_plot, messages, self)
        self.compare = CompareSwitch(self.canvas, self)
        self.history_panel = HistoryPanel(session, self.canvas, messages, preferences, history_folder, self)
        self.compare.chosen.connect(self.history_panel.show_current_picture)
        self.compare.chosen.connect(self._show_canvas)
        session.runStarting.connect(self._show_canvas)  # watch the picture grow; Ctrl+R paints on during the run
        self.regions = RegionsPanel(session, self.region_editor, messages, preferences, self)
        self.regions_button.setDefaultAction(self.regions.mode_action)  # its text, tip and checked state
        self.save_panel = SavePanel(session, messages, preferences, self, self)
        self.save_panel.png_button.clicked.connect(self.save_png)
        recovery = session.recovery
        self.queue_panel = QueuePanel(session, messages, preferences, self, self,
                                      QueueStore(recovery.root.parent / QUEUE_FOLDER, kept=recovery.kept))
        self.queue_panel.queue.setAside.connect(self.report_set_aside)
        self.run_panel.follow_clips(self.queue_panel.queue)  # the clip the queue renders, on the canvas
        self.desktop_entry = DesktopEntryPanel(messages, preferences, self)
        session.runEnded.connect(self._on_run_ended)
        self.swap_button.clicked.connect(session.swap)
        self.example_button.clicked.connect(self.pictures.load_example)

    def _lay_out(self) -> None:
        sidebar = QWidget()
        sidebar.setObjectName("sidebar")
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(6)
        side.addWidget(self.content_pane, 1)
        under_content = QHBoxLayout()  # the two things done to the content picture
        under_content.addStretch(1)
        under_content.addWidget(self.swap_button)
        under_content.addWidget(self.regions_button)
        under_content.addStretch(1)
        side.addLayout(under_content)
        side.addWidget(self.style_pane, 1)
        side.addSpacing(6)
        side.addWidget(self.preset_bar)
        side.addWidget(self.lam_control)
        side.addWidget(self.style_scale)
        side.addWidget(self.steadiness)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_panel.start_button, 2)
        buttons.addWidget(self.run_panel.pause_button, 1)
        buttons.addWidget(self.run_panel.stop_button, 1)
        side.addLayout(buttons)
        after = QHBoxLayout()  # what is done with the pictures next: refine this one, or queue them for later
        after.addWidget(self.run_panel.refine_button, 1)
        after.addWidget(self.queue_panel.add_button, 1)
        after.addWidget(self.queue_panel.video_button, 1)  # (shown while the content is a clip)
        side.addLayout(after)
        side.addWidget(self.advanced)

        top = QHBoxLayout()
        top.addWidget(plain_label("View:"))
        top.addLayout(self.compare.row)
        top.addSpacing(12)
        colours = QVBoxLayout()  # one above the other: side by side they would widen the window
        colours.setSpacing(0)
        colours.addWidget(self.keep_colours_check)
        colours.addWidget(self.match_colours_check)
        top.addLayout(colours)
        top.addStretch(1)
        top.addWidget(self.save_panel.png_button)
        top.addWidget(self.save_panel.evolution_button)
        stats_row = QHBoxLayout()
        stats_row.addWidget(self.stats, 1)
        stats_row.addWidget(self.progress_bar)
        right = QVBoxLayout()
        right.setSpacing(6)
        right.addLayout(top)
        # the canvas with the history strip under it, or in Regions mode the region editor in their place
        self.centre = QStackedWidget()
        self.centre.setObjectName("centre")
        self.centre.addWidget(self.history_panel.area)
        self.centre.addWidget(self.region_editor)
        self.regions.modeChanged.connect(self._show_regions_mode)
        right.addWidget(self.centre, 1)
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
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_panel.dock)

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

    def _build_menus(self) -> None:
        run, save, history = self.run_panel, self.save_panel, self.history_panel
        self.open_content_action = make_action(self, "Open &content picture…", self.content_pane.open_dialog,
                                               [QKeySequence.StandardKey.Open])
        self.open_style_action = make_action(self, "Open &style picture…", self.style_pane.open_dialog,
                                             ["Ctrl+Shift+O"])
        self.example_action = make_action(self, "Try an &example", self.pictures.load_example)
        self.save_png_action = make_action(self, "Save &PNG…", self.save_png, [QKeySequence.StandardKey.Save])
        self.quit_action = make_action(self, "&Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.open_set_aside_action = make_action(
            self, "Open the &folder of set-aside files", self.open_set_aside_folder,
            tip="Files Fude could not read in its data folder (unfinished pictures, queued jobs) are moved there "
                "rather than deleted")
        self.paste_action = make_action(self, "&Paste picture", self.pictures.paste, [QKeySequence.StandardKey.Paste])
        self.swap_action = make_action(self, "S&wap content and style", self.session.swap)
        self.clear_content_action = make_action(self, "Clear c&ontent", self.content_pane.clear)
        self.clear_style_action = make_action(self, "Clear st&yle", self.style_pane.clear)
        self.about_action = make_action(self, "&About Fude", self.show_about)
        menus = (
            ("&File", (self.open_content_action, self.open_style_action, self.example_action, None,
                       self.save_png_action, save.evolution_action, None, self.open_set_aside_action, None,
                       self.quit_action)),
            ("&Edit", (self.paste_action, self.swap_action, self.clear_content_action, self.clear_style_action)),
            ("&Run", (run.start_action, run.pause_action, run.stop_action, None, run.refine_action)),
            ("&View", (*self.compare.actions, None, self.settings_panel.keep_colours_action,
                       self.settings_panel.match_colours_action, self.regions.mode_action)),
            ("&History", (history.back_action, history.limit_action)),
            ("&Queue", (self.queue_panel.add_action, self.queue_panel.video_action, self.queue_panel.run_action,
                        self.queue_panel.show_action)),
            ("&Help", (self.desktop_entry.install_action, None, self.about_action)),
        )
        bar = self.menuBar()
        for title, actions in menus:
            menu = bar.addMenu(title)
            if title == "&File":
                menu.aboutToShow.connect(self._update_set_aside_action)  # (the user may have emptied it)
            for action in actions:
                if action is None:
                    menu.addSeparator()
                else:
                    menu.addAction(action)
                    self.addAction(action)  # its shortcut works wherever the focus is in the window

    def _show_canvas(self, *_: object) -> None:
        self.regions.set_showing(False)

    def _show_regions_mode(self, showing: bool) -> None:
        self.centre.setCurrentWidget(self.region_editor if showing else self.history_panel.area)

    # ---- persisted state ----

    def _restore_geometry(self) -> None:
        geometry = self.preferences.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 820)

    def save_state(self, *_: object) -> None:
        self.preferences.set_geometry(self.saveGeometry())
        self.preferences.set_settings(self.session.settings)
        self.preferences.set_video(self.session.video)
        self.preferences.sync()

    # ---- what the window decides: which picture is saved, what is offered at start ----

    def save_png(self) -> str | None:
        """Save the picture shown as PNG: the canvas's, or the history picture shown in its place."""
        if self.history_panel.showing:
            shown = self.history_panel.shown_entries()
            if len(shown) == 1:
                return self.history_panel.save_entry(shown[0])
            self.messages.show_info("Two history pictures are shown: right-click one in the history to save it.")
            return None
        if self.session.clip_job is not None:
            self.messages.show_info("The canvas shows the clip the queue is rendering: its frames go into the queue's "
                                    "video. Save PNG saves a picture again once the clip is done.")
            return None
        return self.save_panel.save_png()

    def save_evolution(self) -> ExportDialog | None:
        return self.save_panel.save_evolution()

    # ---- pictures from outside: the command line, a second `fude`, the file manager ----

    def open_pictures(self, request: OpenRequest) -> None:
        """Bring the window to the front and put the pictures `request` names in the panes, as a drop would (a
        run under way goes on: the panes are for the next one)."""
        if self.isMinimized():
            self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.show()
        self.raise_()
        self.activateWindow()
        self.pictures.open_pictures(request.content, request.styles)

    # ---- Help ----

    def show_about(self) -> AboutDialog:
        """The About box (made anew each time: the device in use may have changed)."""
        settings = self.session.settings
        facts = about_facts(settings.weights, self.session.recovery.root.parent, self.session.backends.in_use(),
                            settings.device, settings.precision)
        if self.about_dialog is not None:
            self.about_dialog.close()
            self.about_dialog.deleteLater()
        self.about_dialog = AboutDialog(facts, application_icon(), self)
        self.about_dialog.show()
        return self.about_dialog

    # ---- the data folder: what was set aside ----

    def set_aside_names(self) -> list[str]:
        """What is in the folder of set-aside files (none when it is not there, or not a folder of its own)."""
        kept = self.session.recovery.kept
        if not is_plain_folder(kept):
            return []
        try:
            return sorted(entry.name for entry in os.scandir(kept))
        except OSError:
            return []

    def report_set_aside(self, *_: object) -> int:
        """Say (a note in the message bar) what was moved aside into the folder of set-aside files since the
        user was last told, and enable the menu entry that opens it; how many were new."""
        names = self.set_aside_names()
        seen = self.preferences.set_aside_seen()
        new = [name for name in names if name not in seen]
        self._update_set_aside_action()
        if not new:
            return 0
        self.preferences.set_set_aside_seen(seen | set(new))
        what = f"{len(new)} thing{'s' if len(new) != 1 else ''} in Fude's data folder could not be read"
        self.messages.show_info(f"{what} and {'were' if len(new) != 1 else 'was'} moved aside, not deleted, to "
                                f"{self.session.recovery.kept} (File ▸ Open the folder of set-aside files).",
                                "Open folder", self.open_set_aside_folder)
        return len(new)

    def open_set_aside_folder(self) -> bool:
        """Open the folder of set-aside files in the desktop's file manager; False when there is nothing."""
        if not self.set_aside_names():
            self._update_set_aside_action()
            self.messages.show_info("Nothing was set aside in Fude's data folder.")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.session.recovery.kept)))

    def _update_set_aside_action(self) -> None:
        self.open_set_aside_action.setEnabled(bool(self.set_aside_names()))

    def _on_run_ended(self, *_: object) -> None:
        if self.session.recovery.take_moved_aside():  # a run's first save cleans the recovery folder
            self.report_set_aside()

    # ---- closing ----

    def ask_close_choice(self, jobs: int) -> CloseChoice:
        """Ask what becomes of the `jobs` unfinished jobs in the queue when the window closes: a CloseChoice."""
        clips = self.queue_panel.queue.unfinished_clips
        box = self.close_question(jobs, [e.job.clip.frames_left_in for e in clips if e.job.clip is not None],
                                  kept_clips=sum(bool(e.job.key) for e in clips))
        box.exec()
        clicked = box.clickedButton()
        if clicked is box.button(QMessageBox.StandardButton.Save):
            return CloseChoice.KEEP
        if clicked is box.button(QMessageBox.StandardButton.Discard):
            return CloseChoice.DISCARD
        return CloseChoice.CANCEL

    def close_question(self, jobs: int, clip_folders: list[str] | None = None, kept_clips: int = 0) -> QMessageBox:
        """The question closing asks while the queue has `jobs` unfinished jobs (not shown yet), of which the video
        jobs leave their finished frames in `clip_folders` when discarded (or not kept), and `kept_clips` of them
        are kept whole for the next start."""
        box = QMessageBox(QMessageBox.Icon.Question, "Close Fude",
                          f"{jobs} job{'s are' if jobs != 1 else ' is'} still in the queue.", parent=self)
        box.setObjectName("closeQuestion")
        text = ("Keep them for the next start, or discard them? (A running job is stopped either way; kept, it runs "
                "again from the start.)")
        if kept_clips:
            text += ("\n\nA video job kept goes on from its last finished frame at the next start.")
        if clip_folders:
            folders = ", ".join(clip_folders)
            how = "Discarded, a video leaves" if kept_clips == len(clip_folders) else "A video leaves"
            text += (f"\n\n{how} the frames it has finished in {folders} beside the video: Render video… again "
                     "with the same clip, paintings and settings goes on from the last of them.")
        box.setInformativeText(literal(text))
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Save).setText("Keep them for next time")
        box.button(QMessageBox.StandardButton.Discard).setText("Discard them")
        box.button(QMessageBox.StandardButton.Cancel).setText("Don't close")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        return box

    def offer_recovery(self) -> Recovered | None:
        """If an unfinished picture was left behind (a crash, a kill), offer to restore it."""
        found = self.session.latest_unfinished()
        if found is not None:
            self.messages.show_info(f"A picture was left unfinished and unsaved ({found.describe()}). Restore it?",
                                    "Restore", partial(self.session.restore, found))
        return found

    # ---- window-level events ----

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        """A drop outside the panes: a Fude PNG offers its settings; anything else is pointed at the panes."""
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if urls and self.pictures.offer_stored_settings(urls[0].toLocalFile()) is not None:
            return
        self.messages.show_info("Drop pictures on the Content or the Style pane.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        queue = self.queue_panel.queue
        if queue.unfinished:
            choice = self.ask_close_choice(queue.unfinished)
            if choice == CloseChoice.CANCEL:
                event.ignore()
                return
            queue.close(keep=choice == CloseChoice.KEEP)  # no job starts once the window closes
        else:
            queue.close(keep=True)
        self.save_state()
        self.session.close()  # the stopped run's picture reaches the history, the recovery copy goes
        self.save_panel.saver.wait()  # an animation being written is finished, not cut off
        self.history_panel.on_window_closing()
        self.size_offer.wait()
        super().closeEvent(event)


def run_window(argv: list[str] | None = None, request: OpenRequest | None = None,
               instance: str | None = None) -> int:
    """Create the application, show the window with the pictures of `request` and run the event loop; or, when
    this user's Fude is running already (listening on `instance`, default: this user's socket), hand `request`
    to it instead. The exit status."""
    guard_singleton_refcounts()  # before any other Qt call: see app/refcount_guard.py
    QApplication.setOrganizationName("Fude")
    QApplication.setApplicationName("Fude")  # also X11's window class (the .desktop entry's StartupWMClass)
    QGuiApplication.setDesktopFileName(ICON_NAME)  # Wayland's app id: the window is grouped under fude.desktop
    existing = QApplication.instance()
    # only the program's name: Qt would take a picture's own arguments for its options (`--style PAINTING` is
    # Qt's -style); Qt's settings come from its environment variables (QT_QPA_PLATFORM, QT_SCALE_FACTOR...)
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1] if argv is None else argv)
    app.setApplicationDisplayName("Fude")
    app.setWindowIcon(application_icon())  # before any window exists, so every window and dialog has it
    request = request if request is not None else OpenRequest()
    server = claim(instance if instance is not None else server_name(), request, app)
    if isinstance(server, HandOver):
        return _handed_over(server)
    window = MainWindow(offer_desktop_entry=True)
    server.received.connect(window.open_pictures)
    server.refused.connect(window.messages.show_error)
    file_open = FileOpenEvents(app)
    file_open.opened.connect(window.open_pictures)
    file_open.refused.connect(window.messages.show_error)
    app.installEventFilter(file_open)
    window.show()
    if not request.empty:
        window.open_pictures(request)
    try:
        return app.exec()
    finally:
        app.removeEventFilter(file_open)
        server.close()


def _handed_over(answer: HandOver) -> int:
    """The exit status of an instance that found this user's Fude running, saying on stderr what went wrong."""
    if answer.answer is Answer.DELIVERED:
        return 0
    if answer.answer is Answer.REFUSED:
        print(f"error: the running Fude refused the pictures: {answer.reason}", file=sys.stderr)
        return 2
    print(f"error: Fude is running but did not answer ({answer.reason}); close it, or wait and try again",
          file=sys.stderr)
    return 1
