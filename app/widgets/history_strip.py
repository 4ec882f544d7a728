"""The history under the canvas: `HistoryStrip` shows every finished or stopped result kept in an
engine.history.HistoryStore as a thumbnail, newest first (click one to view it, Ctrl+click a second to compare
the two; its context menu saves or removes one or sets the size limit) and adds new results off the GUI thread;
`HistoryView` paints one or two of them side by side. Neither decides what a click means: the window does."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QImage, QKeyEvent, QKeySequence, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundTask
from app.plain_text import literal, plain_label
from app.qimage import to_qimage
from app.widgets.preview_canvas import draw_image, fit_rect, paint_badge
from app.widgets.render_controls import format_lam
from engine.errors import FudeError
from engine.history import HistoryEntry, HistoryStore
from engine.settings import describe_iterations

THUMBNAIL_SIZE = QSize(72, 72)
GRID_SIZE = QSize(88, 96)
STOPPED_MARK = "■ "  # the Stop button's square, before the time of a picture whose run was stopped early
MAX_SELECTED = 2  # one to view, two to compare
SYNC_PIXELS = 512 * 512  # a result this small is kept in the history at once; a larger one in the background


def format_megabytes(size: int) -> str:
    megabytes = size / 2**20
    return f"{megabytes:.1f} MB" if megabytes < 10 else f"{megabytes:.0f} MB"


def entry_time(entry: HistoryEntry, now: float | None = None) -> str:
    """When the entry was made: the time alone today, with the date before."""
    made = time.localtime(entry.created)
    today = time.localtime(time.time() if now is None else now)
    if made[:3] == today[:3]:
        return time.strftime("%H:%M", made)
    return time.strftime("%d %b %H:%M", made).lstrip("0")


def describe_styles(entry: HistoryEntry) -> str:
    """The style pictures of an entry, each with its share of the mix when there are several."""
    stored = entry.stored
    if stored is None:
        return ""
    names = stored.style_names or ((stored.style_name,) if stored.style_name else ())
    if len(names) < 2:
        return names[0] if names else "?"
    try:
        mix = stored.settings.style_mix(len(names))
    except FudeError:
        return " + ".join(names)
    return " + ".join(f"{name} {weight:.0%}" for name, weight in zip(names, mix, strict=True))


def describe_entry(entry: HistoryEntry) -> str:
    """One line saying how the entry was made: pictures, lam, size, iterations, style scale, colours, when."""
    state = "finished" if entry.finished else "stopped early"
    when = f"{state} at {entry_time(entry)}"
    stored = entry.stored
    if stored is None:
        return f"Its settings could not be read · {when}"
    s = stored.settings
    parts = [f"{stored.content_name or '?'} in the style of {describe_styles(entry)}", f"lam {format_lam(s.lam)}",
             f"{s.size} px", describe_iterations(s, brief=True)]
    if s.style_scale != 1:
        parts.append(f"style scale {s.style_scale:g}")
    if s.keep_colours:
        parts.append("content's colours kept")
    if s.match_colours:
        parts.append("paintings in the content's colours")
    parts.append(when)
    return " · ".join(parts)


def _square_pixmap(image: QImage) -> QPixmap:
    """A thumbnail centred on a clear THUMBNAIL_SIZE square, so every caption in the strip lines up."""
    pixmap = QPixmap(THUMBNAIL_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(fit_rect(image.size(), pixmap.rect()), image)
    painter.end()
    return pixmap


class HistoryStrip(QFrame):
    """The thumbnails of `store`'s entries, newest first. `selectionChanged` carries the selected entries in the
    order they were picked (at most two: picking a third lets go of the first)."""

    selectionChanged = Signal(object)  # list[HistoryEntry]
    saveRequested = Signal(object)  # HistoryEntry
    removeRequested = Signal(object)  # HistoryEntry
    limitRequested = Signal()
    added = Signal(object)  # HistoryEntry, once a picture given to `add` is kept and shown
    failed = Signal(str)  # "PATH: what is wrong", when a picture could not be kept

    def __init__(self, store: HistoryStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyStrip")
        self.store = store
        self._entries: dict[str, HistoryEntry] = {}
        self._icons: dict[str, QIcon] = {}
        self._order: list[str] = []  # selected keys, in the order they were picked
        # Pictures to keep in the background, one at a time, in the order given; none is dropped.
        self._queue: deque[Callable[[], HistoryEntry]] = deque()
        self._keeper = BackgroundTask("history", self)
        self._keeper.succeeded.connect(self._on_kept)
        self._keeper.failed.connect(self._on_not_kept)
        self._keeper.finished.connect(self._keep_next)

        title = plain_label("History")
        title.setStyleSheet("font-weight: 600;")
        self.summary = plain_label()
        self.summary.setObjectName("historySummary")
        self.summary.setStyleSheet("color: palette(mid);")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(title)
        header.addWidget(self.summary, 1)
        self.list = QListWidget()
        self.list.setObjectName("historyList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setIconSize(THUMBNAIL_SIZE)
        self.list.setGridSize(GRID_SIZE)
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # room for a row and its scroll bar; on a small screen the scroll bar may overlap the captions instead
        self.list.setMaximumHeight(GRID_SIZE.height() + self.list.horizontalScrollBar().sizeHint().height() + 6)
        self.list.setMinimumHeight(GRID_SIZE.height() + 4)
        self.list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setToolTip("Click a picture to see it; Ctrl+click a second one to compare the two side by side; "
                             "right-click to save or remove one")
        self.list.itemSelectionChanged.connect(self._on_selection)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.empty = plain_label("Every finished or stopped picture of a render is kept here, and after a restart too.")
        self.empty.setObjectName("historyEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: palette(mid);")
        self.empty.setFixedHeight(self.list.minimumHeight())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.list)
        layout.addWidget(self.empty)
        self.refresh()

    # ---- what is shown ----

    @property
    def entries(self) -> list[HistoryEntry]:
        """The entries shown, newest first."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected(self) -> list[HistoryEntry]:
        """The selected entries, in the order they were picked."""
        return [self._entries[key] for key in self._order if key in self._entries]

    def refresh(self) -> None:
        """List the store again (keeping the selection where its entries are still there)."""
        try:
            entries = self.store.entries()
        except FudeError as exc:
            entries = []
            self.failed.emit(str(exc))
        before = list(self._order)
        self.list.blockSignals(True)
        try:
            self.list.clear()
            self._entries = {entry.key: entry for entry in entries}
            self._icons = {key: icon for key, icon in self._icons.items() if key in self._entries}
            for entry in entries:
                item = QListWidgetItem(self._icon(entry), self._caption(entry))
                item.setData(Qt.ItemDataRole.UserRole, entry)
                item.setToolTip(literal(describe_entry(entry)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                self.list.addItem(item)
            self._order = [key for key in before if key in self._entries]
            for row in range(self.list.count()):
                item = self.list.item(row)
                item.setSelected(item.data(Qt.ItemDataRole.UserRole).key in self._order)
        finally:
            self.list.blockSignals(False)
        total = sum(entry.size_bytes for entry in entries)
        count = f"{len(entries)} picture{'s' if len(entries) != 1 else ''}" if entries else "empty"
        how = " · click one to see it, Ctrl+click another to compare, right-click to save" if entries else ""
        self.summary.setText(f"  {count} · {format_megabytes(total)} of {format_megabytes(self.store.limit_bytes)}"
                             f"{how}")
        self.list.setVisible(bool(entries))
        self.empty.setVisible(not entries)
        if self._order != before:
            self.selectionChanged.emit(self.selected())

    def select(self, keys: Sequence[str]) -> None:
        """Select the entries with `keys` (at most two, in that order), as clicks would."""
        keys = [key for key in keys if key in self._entries][-MAX_SELECTED:]
        self.list.blockSignals(True)
        try:
            for row in range(self.list.count()):
                item = self.list.item(row)
                item.setSelected(item.data(Qt.ItemDataRole.UserRole).key in keys)
        finally:
            self.list.blockSignals(False)
        self._order = list(keys)
        self.selectionChanged.emit(self.selected())

    def clear_selection(self) -> None:
        if self._order:
            self.select([])

    def _icon(self, entry: HistoryEntry) -> QIcon:
        icon = self._icons.get(entry.key)
        if icon is None:
            try:
                thumbnail = self.store.thumbnail(entry)
            except FudeError:
                thumbnail = np.full((THUMBNAIL_SIZE.height(), THUMBNAIL_SIZE.width(), 3), 128, np.uint8)
            icon = QIcon(_square_pixmap(to_qimage(thumbnail)))
            self._icons[entry.key] = icon
        return icon

    @staticmethod
    def _caption(entry: HistoryEntry) -> str:
        return ("" if entry.finished else STOPPED_MARK) + entry_time(entry)

    def _on_selection(self) -> None:
        rows = {item.data(Qt.ItemDataRole.UserRole).key: self.list.row(item) for item in self.list.selectedItems()}
        order = [key for key in self._order if key in rows]
        order += sorted((key for key in rows if key not in order), key=rows.__getitem__)
        if len(order) > MAX_SELECTED:  # a third pick lets go of the earliest
            drop = set(order[:-MAX_SELECTED])
            order = order[-MAX_SELECTED:]
            self.list.blockSignals(True)
            try:
                for item in self.list.selectedItems():
                    if item.data(Qt.ItemDataRole.UserRole).key in drop:
                        item.setSelected(False)
            finally:
                self.list.blockSignals(False)
        if order != self._order:
            self._order = order
            self.selectionChanged.emit(self.selected())

    # ---- the context menu and keys ----

    def _context_menu(self, position: QPoint) -> None:
        item = self.list.itemAt(position)
        menu = self.context_menu(item.data(Qt.ItemDataRole.UserRole) if item is not None else None)
        menu.exec(self.list.viewport().mapToGlobal(position))

    def context_menu(self, entry: HistoryEntry | None) -> QMenu:
        """The menu for `entry` (None: the empty part of the strip)."""
        menu = QMenu(self)
        if entry is not None:
            menu.addAction("Save as PNG…", lambda: self.saveRequested.emit(entry))
            menu.addAction("Remove from the history", lambda: self.removeRequested.emit(entry))
            menu.addSeparator()
        menu.addAction("History size limit…", self.limitRequested.emit)
        return menu

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.matches(QKeySequence.StandardKey.Delete) and self._order:
            for entry in self.selected():
                self.removeRequested.emit(entry)
            return
        super().keyPressEvent(event)

    # ---- adding, off the GUI thread ----

    def add(self, image: np.ndarray, text_chunks: dict[str, str], finished: bool) -> None:
        """Keep `image` in the history; `added` (then the strip shows it) or `failed` follows. A picture of up to
        SYNC_PIXELS is kept at once (a tenth of a second or so); a larger one in the background, so the window stays
        responsive while it is written (one at a time, in the order given)."""
        store, text = self.store, dict(text_chunks)

        def keep() -> HistoryEntry:
            return store.add(image, text, finished)

        if image.shape[0] * image.shape[1] <= SYNC_PIXELS:
            # No thread for a small one: a thread allocating beside a starting render makes the C library spread
            # the render's memory over more arenas, which the process keeps.
            try:
                entry = keep()
            except Exception as exc:  # noqa: BLE001 - reported like one kept in the background
                self._on_not_kept(exc)
            else:
                self._on_kept(entry)
            return
        # One short-lived thread at a time (nothing stays running between results); the others wait their turn.
        self._queue.append(keep)
        self._keep_next()

    @property
    def busy(self) -> bool:
        """Pictures given to `add` are still being kept."""
        return self._keeper.busy or bool(self._queue)

    @Slot()
    def _keep_next(self) -> None:
        if self._queue and not self._keeper.busy:
            self._keeper.start(self._queue.popleft())

    @Slot(object)
    def _on_kept(self, entry: HistoryEntry) -> None:
        self.refresh()
        self.added.emit(entry)

    @Slot(object)
    def _on_not_kept(self, exc: BaseException) -> None:  # never lost silently: the user hears of it
        if isinstance(exc, FudeError):
            self.failed.emit(f"{exc}. The picture was not kept in the history.")
        else:
            self.failed.emit(f"{self.store.folder}: the picture was not kept in the history "
                             f"({type(exc).__name__}: {exc})")

    def wait(self) -> None:
        """Finish keeping the pictures under way and those waiting their turn (closing waits, so none is lost),
        and show them now."""
        while self.busy:
            self._keep_next()
            self._keeper.deliver()  # its `finished` starts the next one


class HistoryView(QWidget):
    """One picture, or two side by side, each scaled to fit its half, with a caption on it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyView")
        self.setAccessibleName("History picture")
        self.setMinimumSize(QSize(240, 120))  # with its settings line above, no taller than the canvas it replaces
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pictures: list[tuple[QImage, str]] = []

    @property
    def pictures(self) -> list[tuple[QImage, str]]:
        return list(self._pictures)

    def set_pictures(self, pictures: Sequence[tuple[QImage, str]]) -> None:
        self._pictures = list(pictures)
        self.update()

    def picture_rects(self) -> list[QRect]:
        """Where each picture is drawn."""
        count = len(self._pictures)
        if not count:
            return []
        inner = self.rect().adjusted(12, 12, -12, -12)  # the canvas's margin
        gap = 12
        width = (inner.width() - gap * (count - 1)) // count
        return [fit_rect(image.size(), QRect(inner.x() + i * (width + gap), inner.y(), width, inner.height()))
                for i, (image, _) in enumerate(self._pictures)]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2b2e"))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for (image, caption), target in zip(self._pictures, self.picture_rects(), strict=True):
            draw_image(painter, target, image)  # a transparent one over a checkerboard
            self._paint_caption(painter, target, caption)
        painter.end()

    @staticmethod
    def _paint_caption(painter: QPainter, target: QRect, text: str) -> None:
        if not text:
            return
        metrics = painter.fontMetrics()
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(20, target.width() - 30))
        width, height = metrics.horizontalAdvance(text) + 14, metrics.height() + 6
        box = QRectF(target.x() + 8, target.y() + 8, width, height)
        paint_badge(painter, box, text)
