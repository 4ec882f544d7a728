"""The queue, as the window shows it: Add to queue (a button and a menu action), the list of jobs with their
status, Up, Down, Remove, Cancel, the folder the pictures go to and Run / Pause queue, in a dock beside the
canvas, and the offer of the jobs kept from the last time (Restore / Discard) at its top; and Render video… (a
button beside Add to queue while the content is a clip, and a menu action), which asks where the video goes and
queues the whole clip. A video job's row shows its frames done, seconds a frame, time left and its latest frame.
Every change goes through app/job_queue.py's JobQueue; this panel keeps no state of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Slot
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.job_queue import JobQueue, JobStatus, QueueEntry
from app.panels.run_panel import format_duration
from app.plain_text import breakable, literal, plain_label
from app.preferences import Preferences
from app.qimage import to_qimage
from app.session import Session
from app.widgets.actions import make_action
from app.widgets.message_bar import MessageBar
from app.widgets.render_controls import format_lam
from engine.names import render_file_stem
from engine.queue_store import QueueStore
from engine.settings import describe_iterations

ICON_SIZE = QSize(48, 48)
DOCK_WIDTH = 300
STATUS_COLOURS = {JobStatus.DONE: "#2e7d32", JobStatus.FAILED: "#c62828", JobStatus.CANCELLED: "#8a8a8a"}
VIDEO_FILTER = "MP4 video (*.mp4);;Animated WebP (*.webp);;Animated GIF (*.gif)"
VIDEO_SUFFIXES = (".mp4", ".webp", ".gif")


def describe_job(position: int, entry: QueueEntry) -> str:
    """The three lines a job shows in the list: its pictures; its size, lam and iterations; how it stands."""
    job = entry.job
    settings = job.settings
    lam = f"lam {format_lam(settings.lam)} · {describe_iterations(settings, brief=True)}"
    clip = job.clip
    if clip is None:
        figures = f"{settings.size} px · {lam}"
        title = f"{position}. {job.content.name} → {' + '.join(job.style_names)}"
    else:
        frames = f"{clip.frames} frames" if clip.frames is not None else "frames: unknown"
        figures = f"video · {clip.size[0]} × {clip.size[1]} · {frames} · {lam}"
        title = f"{position}. {job.content.name} → {' + '.join(job.style_names)} → {clip.output_name}"
    return f"{title}\n{figures}\n{describe_status(entry)}"


def describe_status(entry: QueueEntry) -> str:
    if entry.status is JobStatus.DONE:
        name = entry.path.replace("\\", "/").rsplit("/", 1)[-1]
        if entry.job.clip is not None:
            return f"written: {name}" + (f"; {entry.message}" if entry.message else "")
        return "saved as " + name
    if entry.status is JobStatus.RUNNING:
        return describe_clip_run(entry) if entry.job.clip is not None else "running…"
    if not entry.message:
        return entry.status.value
    return f"{entry.status.value}{': ' if entry.status is JobStatus.FAILED else ' '}{entry.message}"


def describe_clip_run(entry: QueueEntry) -> str:
    """How a running video job stands: its frames done of the clip's, seconds a frame and the time left."""
    clip, plan, progress = entry.job.clip, entry.plan, entry.progress
    if clip is None:
        return "running…"
    if entry.encoding:
        return f"writing {clip.output_name}…"
    total = entry.clip_frames[1]
    of = f" of {total}" if total else ""
    if progress is None:
        if plan is None:
            return "starting…"
        resumed = f"going on after frame {plan.done}, " if plan.done else ""
        estimate = f" · about {format_duration(plan.seconds)} for the clip" if plan.seconds is not None else ""
        return f"{resumed}frame {plan.done + 1}{of}…{estimate}"
    left = f" · {format_duration(progress.seconds_left)} left" if progress.seconds_left is not None else ""
    return f"{progress.index}{of} frames · {progress.seconds_per_frame:.1f} s a frame{left}"


def video_file_name(clip: Path, style_names: tuple[str, ...]) -> str:
    """The name Render video… suggests: "<clip stem>_in_<painting stems>.mp4"."""
    return render_file_stem(clip.stem, style_names) + ".mp4"


class QueuePanel(QObject):
    """`queue` (the model) for `session`'s jobs, and its widgets: `add_button` for the sidebar, `dock` for the
    window, and `add_action`, `run_action` and `show_action` for the Queue menu."""

    def __init__(self, session: Session, messages: MessageBar, preferences: Preferences, dialog_parent: QWidget,
                 parent: QObject | None = None, store: QueueStore | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._preferences = preferences
        self._dialog_parent = dialog_parent
        # each job's thumbnail, made once from its content (a video job: again from each latest frame)
        self._icons: dict[int, tuple[np.ndarray, QIcon]] = {}
        self.queue = JobQueue(session, self, store)
        self.queue.error.connect(messages.show_error)
        self.queue.info.connect(messages.show_info)

        self.add_button = QPushButton("Add to queue")
        self.add_button.setObjectName("addToQueueButton")
        self.add_button.clicked.connect(self.add_current)
        self.dock_add_button = QPushButton("Add to queue")  # the same, in the queue's dock
        self.dock_add_button.setObjectName("queueAdd")
        self.dock_add_button.clicked.connect(self.add_current)
        self.add_action = make_action(self, "&Add to queue", self.add_current,
                                      ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"])
        self.run_action = make_action(self, "&Run queue", self.toggle_running)
        self.video_button = QPushButton("Render video…")
        self.video_button.setObjectName("renderVideoButton")
        self.video_button.clicked.connect(self.render_video)
        self.video_action = make_action(self, "Render &video…", self.render_video)

        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setIconSize(ICON_SIZE)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)  # a long name wraps (at the breaks `breakable` adds) instead of scrolling
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.summary = plain_label()
        self.summary.setObjectName("queueSummary")
        self.summary.setStyleSheet("color: palette(mid);")
        self.folder_label = plain_label()
        self.folder_label.setObjectName("queueFolder")
        self.folder_label.setWordWrap(True)
        self.up_button = self._button("Up", "queueUp", "Run the selected job earlier", self.move_up)
        self.down_button = self._button("Down", "queueDown", "Run the selected job later", self.move_down)
        self.remove_button = self._button("Remove", "queueRemove", "Take the selected job out of the queue "
                                          "(a running one is cancelled first)", self.remove_selected)
        self.cancel_button = self._button("Cancel", "queueCancel", "Cancel the selected job; the others still "
                                          "run", self.cancel_selected)
        self.folder_button = self._button("Folder…", "queueFolderButton", "Choose the folder the queue's "
                                          "pictures are saved to", self.choose_folder)
        self.run_button = self._button("Run queue", "queueRun", "Render the waiting jobs one after another; each "
                                       "picture goes to the history and to the folder", self.toggle_running)
        self.offer_label = plain_label()
        self.offer_label.setObjectName("queueOfferText")
        self.offer_label.setWordWrap(True)
        self.restore_button = self._button("Restore", "queueRestore", "Put the jobs kept from the last time back "
                                           "in the queue, as waiting jobs", self.restore_offered)
        self.discard_offered_button = self._button("Discard", "queueDiscardOffered", "Throw away the jobs kept "
                                                   "from the last time", self.queue.discard_offered)
        self.offer = self._make_offer()
        self.dock = self._make_dock()
        self.show_action: QAction = self.dock.toggleViewAction()
        self.show_action.setText("Show the &queue")

        self.queue.jobsChanged.connect(self._show_jobs)
        session.contentChanged.connect(self._update_add)
        session.stylesChanged.connect(self._update_add)
        self._update_add()
        self.queue.offeredChanged.connect(self._show_offer)
        self.queue.activeChanged.connect(self._update_buttons)
        self.queue.folderChanged.connect(self._show_folder)
        folder = preferences.queue_folder()
        if folder:
            self.queue.set_folder(folder)
        self._show_folder(self.queue.folder)
        self._show_jobs()

    @staticmethod
    def _button(text: str, name: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _make_dock(self) -> QDockWidget:
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.folder_button, 0, Qt.AlignmentFlag.AlignTop)
        edit_row = QHBoxLayout()
        for button in (self.up_button, self.down_button, self.remove_button, self.cancel_button):
            edit_row.addWidget(button)
        run_row = QHBoxLayout()
        run_row.addWidget(self.dock_add_button)
        run_row.addWidget(self.run_button)
        body = QWidget()
        body.setObjectName("queuePanel")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.offer)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        layout.addLayout(edit_row)
        layout.addLayout(folder_row)
        layout.addLayout(run_row)
        dock = QDockWidget("Queue")
        dock.setObjectName("queueDock")
        dock.setWidget(body)
        dock.setMinimumWidth(DOCK_WIDTH)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.hide()  # until a job is added or the Queue menu shows it
        return dock

    def _make_offer(self) -> QFrame:
        """The question about the jobs kept from the last time, shown while there are some to answer for."""
        frame = QFrame()
        frame.setObjectName("queueOffer")
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.offer_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.discard_offered_button)
        layout.addLayout(buttons)
        frame.hide()
        return frame

    def offer_stored(self) -> int:
        """Read the jobs kept from the last time and, if there are some, show the queue with the question; how
        many are offered."""
        count = self.queue.load_stored()
        if count:
            self.dock.show()
        return count

    def restore_offered(self) -> int:
        """Put the jobs kept from the last time back in the queue (the Restore button); how many."""
        count = self.queue.restore_offered()
        if count:
            self.dock.show()
        return count

    @Slot(int)
    def _show_offer(self, count: int) -> None:
        self.offer_label.setText(
            f"{count} job{'s were' if count != 1 else ' was'} waiting in the queue when Fude last closed. "
            "Put them back in the queue?")
        self.offer.setVisible(count > 0)

    # ---- what the user asks ----

    def add_current(self) -> int | None:
        """Add the pictures and settings in use as a job, and show the queue; the job's id, or None."""
        session = self._session
        job_id = self.queue.add(session.content, session.styles, session.settings)
        if job_id is not None:
            self.dock.show()
            self._select(job_id)
        return job_id

    def suggested_video_path(self) -> Path | None:
        """Where Render video… suggests writing the clip in the Content pane: in the queue's folder, else beside
        the clip, as "<clip stem>_in_<painting stems>.mp4". None when the content is not a clip."""
        content = self._session.content
        if content is None or content.clip is None:
            return None
        folder = Path(self.queue.folder) if self.queue.folder else content.clip.path.parent
        return folder / video_file_name(content.clip.path, tuple(s.name for s in self._session.styles))

    def render_video(self) -> int | None:
        """Ask where the video goes, then queue the whole clip with the paintings and settings in use, and run it
        when the queue has nothing else waiting; the job's id, or None."""
        suggested = self.suggested_video_path()
        if suggested is None or not self._session.styles:
            self.queue.add_video(self._session.content, self._session.styles, self._session.settings, Path())
            return None  # (it says what is missing)
        path, _ = QFileDialog.getSaveFileName(self._dialog_parent, "Render video", str(suggested), VIDEO_FILTER)
        if not path:
            return None
        output = Path(path)
        if output.suffix.lower() not in VIDEO_SUFFIXES and not output.suffix:
            output = output.with_suffix(".mp4")
        return self.add_video(output)

    def add_video(self, output: Path) -> int | None:
        """Queue the clip in the Content pane to be written to `output`, with the session's video settings (its
        steadiness); the job's id, or None."""
        session = self._session
        job_id = self.queue.add_video(session.content, session.styles, session.settings, output, video=session.video)
        if job_id is None:
            return None
        self.dock.show()
        self._select(job_id)
        if not self.queue.active:
            if self.queue.waiting == 1:
                self.queue.start()  # only this clip waits: render it now
            else:
                self.queue.info.emit(f"The clip is job {job_id} in the queue: Run queue renders it after the "
                                     "jobs before it.")
        return job_id

    def selected_id(self) -> int | None:
        items = self.list.selectedItems()
        return int(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(1)

    def _move(self, delta: int) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.queue.move(job_id, delta)

    def remove_selected(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.queue.remove(job_id)

    def cancel_selected(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.queue.cancel(job_id)

    def choose_folder(self) -> str | None:
        """Ask for the folder the queue's pictures go to; the folder, or None when none was chosen."""
        start = self.queue.folder or self._preferences.last_folder()
        folder = QFileDialog.getExistingDirectory(self._dialog_parent, "Folder for the queue's pictures", start)
        if not folder or not self.queue.set_folder(folder):
            return None
        self._preferences.set_queue_folder(folder)
        return folder

    def toggle_running(self) -> None:
        """Run the queue (asking for a folder first when a picture job needs one), or pause it."""
        if not self.queue.active and self.queue.needs_folder and self.choose_folder() is None:
            return
        self.queue.toggle()

    # ---- showing the model ----

    def _select(self, job_id: int) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == job_id:
                self.list.setCurrentItem(item)
                return

    def _icon(self, entry: QueueEntry) -> QIcon:
        job = entry.job
        source = entry.thumbnail if entry.thumbnail is not None else job.content.array
        made = self._icons.get(job.id)
        if made is None or made[0] is not source:
            image = to_qimage(source).scaled(ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
            made = self._icons[job.id] = (source, QIcon(QPixmap.fromImage(image)))
        return made[1]

    @Slot()
    def _show_jobs(self) -> None:
        selected = self.selected_id()
        entries = self.queue.entries
        self._icons = {k: icon for k, icon in self._icons.items() if any(e.job.id == k for e in entries)}
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for position, entry in enumerate(entries, 1):
                item = QListWidgetItem(self._icon(entry), breakable(describe_job(position, entry)))
                item.setData(Qt.ItemDataRole.UserRole, entry.job.id)
                item.setToolTip(literal(describe_job(position, entry) + (f"\n{entry.path}" if entry.path else "")))
                if entry.status in STATUS_COLOURS:
                    item.setForeground(QBrush(QColor(STATUS_COLOURS[entry.status])))
                if entry.status is JobStatus.RUNNING:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.list.addItem(item)
        finally:
            self.list.blockSignals(False)
        if selected is not None:
            self._select(selected)
        counts = {status: sum(e.status is status for e in entries) for status in JobStatus}
        parts = [f"{count} {status.value}" for status, count in counts.items() if count]
        self.summary.setText(" · ".join(parts) if parts else "no jobs yet")
        self._update_buttons()

    @Slot(str)
    def _show_folder(self, folder: str) -> None:
        self.folder_label.setText(breakable(f"Saves to {folder}") if folder else "No folder chosen yet")
        self.folder_label.setToolTip(literal(folder))

    @Slot()
    def _update_add(self, *_: object) -> None:
        """Add to queue is offered once there is something to queue: a content picture and a painting."""
        ready = self._session.ready
        tip = "" if ready else " (first a content picture and a painting)"
        for widget in (self.add_button, self.dock_add_button, self.add_action):
            widget.setEnabled(ready)
        content = self._session.content
        clip = content is not None and content.clip is not None
        self.video_button.setVisible(clip)  # only for a clip: beside a picture it would only be in the way
        for video in (self.video_button, self.video_action):
            video.setEnabled(clip and ready)
            video.setToolTip("Render the whole clip in the Content pane with these paintings and settings, as a "
                             "job in the queue (its frames are kept as they finish: stopped, it goes on from there)"
                             + ("" if clip and ready else " (first a video in the Content pane and a painting)"))
        for button in (self.add_button, self.dock_add_button):
            button.setToolTip("Keep these pictures and settings as a job in the queue, to render later "
                              f"(Ctrl+Shift+Enter){tip}")

    @Slot()
    def _update_buttons(self, *_: object) -> None:
        job_id = self.selected_id()
        entry = self.queue.entry(job_id) if job_id is not None else None
        waiting = entry is not None and entry.status is JobStatus.WAITING
        self.up_button.setEnabled(waiting)
        self.down_button.setEnabled(waiting)
        self.remove_button.setEnabled(entry is not None)
        self.cancel_button.setEnabled(entry is not None and not entry.status.finished)
        active = self.queue.active
        text = "Pause queue" if active else "Run queue"
        self.run_button.setText(text)
        self.run_action.setText("&" + text)
        self.run_button.setEnabled(active or self.queue.waiting > 0)
        self.run_action.setEnabled(self.run_button.isEnabled())
