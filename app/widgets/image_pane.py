"""A picture slot (the content): a drop, paste and open target that shows the picture, its name and size, and
emits the loaded picture or an error that names the file. A failed load keeps the previous picture. A pane that
`keeps_alpha` (the content's) sets a picture's transparency aside (LoadedImage.alpha) and shows it over a
checkerboard; any other flattens it onto white. A pane that `takes_clips` (the content's) also takes a video file:
a file that is not a picture is probed as a clip, and its first frame is shown and emitted as the picture, with the
clip's ClipInfo in LoadedImage.clip. The style pane (app/widgets/style_pane.py) builds on it to hold several
pictures."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QGuiApplication,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.fetch import Fetcher, is_web_url
from app.loaded_image import LoadedImage
from app.plain_text import literal, plain_label
from app.qimage import to_qimage, to_rgba_array
from app.widgets.preview_canvas import draw_image, fit_rect
from engine.errors import FudeError, ImageError, VideoError
from engine.images import check_pixel_count, decode_image, decode_picture, load_image, load_picture
from engine.names import clean_name
from engine.transparency import flatten, split_alpha
from engine.video_io import first_frame

IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;All files (*)"
CLIP_FILTER = ("Pictures and videos (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff *.mp4 *.mov *.m4v *.mkv *.webm "
               "*.avi *.flv *.mpg *.mpeg *.ts *.ogv *.wmv);;All files (*)")
# how engine.images says a file is in no picture format it knows: only such a file is tried as a clip (a picture
# that is damaged, too large or missing keeps its own message)
NOT_A_PICTURE = "is not an image Fude can read"
QT_IMAGE_FORMAT = "application/x-qt-image"
ACCENT = QColor("#3b6fb6")


def _raw_image_format(mime: QMimeData) -> str | None:
    for fmt in mime.formats():
        if fmt.startswith("image/"):
            return fmt
    return None


def _url_name(url: QUrl) -> str:
    return Path(url.path()).name or url.host() or url.toString()


class _Picture(QWidget):
    """Paints the pane's picture scaled to fit, or the drop hint when there is none."""

    def __init__(self, pane: ImagePane) -> None:
        super().__init__(pane)  # the pane is found as the parent: no Python reference cycle between the two
        self.setMinimumSize(QSize(160, 110))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        pane = self.parentWidget()
        if not isinstance(pane, ImagePane):  # never so: the pane is the parent (see __init__)
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().adjusted(1, 1, -1, -1)
        # held here: a brush taken from a temporary palette would be read after the palette is freed
        palette = self.palette()
        highlighted = pane.drag_hover or pane.hasFocus()
        if pane.qimage is None:
            painter.fillRect(area, palette.alternateBase())
            pen = QPen(ACCENT if highlighted else palette.mid().color(), 2 if highlighted else 1.5)
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRoundedRect(area.adjusted(2, 2, -2, -2), 8, 8)
            painter.setPen(palette.text().color())
            painter.drawText(area.adjusted(10, 10, -10, -10), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             pane.busy_text or pane.hint)
        else:
            pane.draw_picture(painter, area)
            if pane.busy_text:
                painter.fillRect(area, QColor(255, 255, 255, 190))
                painter.setPen(palette.text().color())
                painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, pane.busy_text)
            if highlighted:
                painter.setPen(QPen(ACCENT, 2))
                painter.drawRoundedRect(area.adjusted(1, 1, -1, -1), 6, 6)
        painter.end()


class ImagePane(QFrame):
    """Drop, paste (Ctrl+V while focused, via the window's Paste action) or click to open a picture. With
    `keeps_alpha`, a picture's transparency is kept aside in its LoadedImage, whichever way it came."""

    changed = Signal(object)  # LoadedImage or None
    failed = Signal(str)  # "NAME: what is wrong"
    fileLoaded = Signal(str)  # a local file was loaded (the window checks it for stored Fude settings)
    busyChanged = Signal(bool)

    def __init__(self, role: str, title: str, hint: str, parent: QWidget | None = None,
                 keeps_alpha: bool = False, takes_clips: bool = False) -> None:
        super().__init__(parent)
        self.role = role
        self.keeps_alpha = keeps_alpha
        self.takes_clips = takes_clips
        self.hint = hint
        self.start_folder = ""
        self.setObjectName(f"{role}Pane")
        self.setAccessibleName(f"{role.capitalize()} picture")
        self.setAccessibleDescription(hint)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.drag_hover = False
        self.busy_text = ""
        self._image: LoadedImage | None = None
        self.qimage: QImage | None = None
        self._fetcher = Fetcher(self)
        self._fetcher.fetched.connect(self._on_fetched)
        self._fetcher.failed.connect(self._on_fetch_failed)

        self._title = plain_label(title)
        self._title.setStyleSheet("font-weight: 600;")
        self._clear = QToolButton()
        self._clear.setText("✕")
        self._clear.setAutoRaise(True)
        self._clear.setToolTip(f"Clear the {role} picture")
        self._clear.setAccessibleName(f"Clear the {role} picture")
        self._clear.setObjectName(f"{role}Clear")
        self._clear.clicked.connect(self.clear)
        self._clear.setEnabled(False)
        self._picture = _Picture(self)
        self._picture.setObjectName(f"{role}Picture")
        self._info_text = "No picture yet"
        self._info = plain_label(self._info_text)
        # elided to the pane's width (see _show_info), so a long name never widens the pane or the window
        self._info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._info.setObjectName(f"{role}Info")
        self._info.setStyleSheet("color: #5f5f66;")
        self._info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header = self.header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self._title)
        header.addStretch(1)
        header.addWidget(self._clear)
        layout = self.body = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self._picture, 1)
        layout.addWidget(self._info)

    # ---- state ----

    @property
    def image(self) -> LoadedImage | None:
        return self._image

    @property
    def busy(self) -> bool:
        return self._fetcher.busy

    def set_image(self, image: LoadedImage | None) -> None:
        """Show `image` (or nothing) and announce it."""
        self._image = image
        self.qimage = None if image is None else to_qimage(image.shown)
        self._info_text = "No picture yet" if image is None else image.describe()
        self._show_info()
        self._info.setToolTip("" if image is None or image.path is None else literal(image.path))
        self._clear.setEnabled(image is not None)
        self._picture.update()
        self.changed.emit(image)

    def _show_info(self) -> None:
        width = max(60, self.contentsRect().width() - 20)
        self._info.setText(self._info.fontMetrics().elidedText(self._info_text, Qt.TextElideMode.ElideMiddle, width))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._show_info()

    def draw_picture(self, painter: QPainter, area: QRect) -> None:
        """Paint the picture into `area` (the pane has one): scaled to fit, a transparent one over a checkerboard."""
        if self.qimage is not None:
            draw_image(painter, fit_rect(self.qimage.size(), area), self.qimage)

    def take(self, image: LoadedImage) -> bool:
        """Where every successful load ends: this pane shows the new picture in place of the old one."""
        self.set_image(image)
        return True

    def clear(self) -> None:
        self._fetcher.cancel()
        self._set_busy("")
        self.set_image(None)

    # ---- loading: each ends in `changed` or `failed`; a failure leaves the current picture alone ----

    def load_path(self, path: str | os.PathLike[str]) -> bool:
        try:
            image = self._read_file(path)
        except FudeError as exc:
            self.failed.emit(str(exc))
            return False
        if not self.take(image):
            return False
        self.fileLoaded.emit(os.fspath(path))
        return True

    def _read_file(self, path: str | os.PathLike[str]) -> LoadedImage:
        """The picture in the file at `path`, or (a pane that takes clips) a clip's first frame; a FudeError naming
        the file otherwise. A picture is tried first: a GIF is a picture here."""
        name = Path(path).name
        try:
            array, alpha = load_picture(path) if self.keeps_alpha else (load_image(path), None)
        except ImageError as exc:
            if not self.takes_clips or not exc.reason.startswith(NOT_A_PICTURE):
                raise
            try:
                frame, clip = first_frame(path)
            except VideoError as clip_exc:
                if clip_exc.reason.startswith("is not a video"):  # neither: one message that says both
                    raise ImageError(path, "is not an image or a video Fude can read (pictures: PNG, JPEG, "
                                     "WebP, GIF, BMP, TIFF; videos: MP4, MOV, MKV, WebM, AVI, FLV, MPEG, Ogg, "
                                     "WMV)") from None
                raise
            return LoadedImage(frame, name, os.fspath(path), clip=clip)
        return LoadedImage(array, name, os.fspath(path), alpha)

    def load_bytes(self, data: bytes, name: str) -> bool:
        try:
            array, alpha = decode_picture(data, name) if self.keeps_alpha else (decode_image(data, name), None)
        except FudeError as exc:
            self.failed.emit(str(exc))
            return False
        return self.take(LoadedImage(array, name, alpha=alpha))

    def load_qimage(self, image: QImage, name: str) -> bool:
        """A picture another program decoded (a paste, a drop of image data): refused by the same rules as a file."""
        try:
            if image.isNull():
                raise ImageError(name, "is empty (no picture in it)")
            check_pixel_count(name, image.width(), image.height())
            rgba = to_rgba_array(image)
            array, alpha = split_alpha(rgba) if self.keeps_alpha else (flatten(rgba), None)
        except ImageError as exc:
            self.failed.emit(str(exc))
            return False
        except (ValueError, MemoryError) as exc:
            self.failed.emit(str(ImageError(name, f"cannot be used ({exc or type(exc).__name__})")))
            return False
        return self.take(LoadedImage(array, name, alpha=alpha))

    def load_local_urls(self, urls: list[QUrl]) -> bool:
        """Local files dropped or pasted together: this pane takes the first."""
        return self.load_url(urls[0])

    def load_url(self, url: QUrl, pasted: bool = False) -> bool:
        """A local file loads now; an http(s) address is fetched in the background. Only an address the user
        `pasted` may reach this computer or its local network (a web page can make a person drag anything)."""
        if url.isLocalFile():
            return self.load_path(url.toLocalFile())
        if is_web_url(url):
            self._set_busy(f"Fetching {clean_name(url.host(), 60)}…")
            self._fetcher.fetch(url, allow_local=pasted)
            return True
        self.failed.emit(f"{url.toString()}: is not a local file or an http(s) address")
        return False

    def handle_mime(self, mime: QMimeData, verb: str = "dropped") -> bool:
        """Load what a drop or a paste (`verb` "pasted") carries: a local file, raw image data, a Qt image, or a
        web address."""
        pasted = verb == "pasted"
        urls = [u for u in mime.urls() if u.isValid()] if mime.hasUrls() else []
        local = [u for u in urls if u.isLocalFile()]
        if local:
            return self.load_local_urls(local)
        fmt = _raw_image_format(mime)
        if fmt is not None:
            name = _url_name(urls[0]) if urls else f"{verb} picture ({fmt})"
            return self.load_bytes(bytes(mime.data(fmt).data()), name)
        if mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                name = _url_name(urls[0]) if urls else f"{verb} picture"
                return self.load_qimage(image, name)
        if urls:
            return self.load_url(urls[0], pasted)
        text = mime.text().strip() if mime.hasText() else ""
        if text and "\n" not in text and text.lower().startswith(("http://", "https://", "file://")):
            return self.load_url(QUrl(text), pasted)
        self.failed.emit(f"{verb} data: nothing Fude can use (expected a picture file, picture data or a link "
                         "to a picture)")
        return False

    def can_use(self, mime: QMimeData) -> bool:
        if mime.hasUrls() or mime.hasImage() or _raw_image_format(mime) is not None:
            return True
        return mime.hasText() and mime.text().strip().lower().startswith(("http://", "https://", "file://"))

    def paste(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.failed.emit("clipboard: it is empty")
            return False
        return self.handle_mime(mime, verb="pasted")

    def dialog_caption(self) -> str:
        return f"Open the {self.role} picture"

    def open_dialog(self) -> bool:
        kinds = CLIP_FILTER if self.takes_clips else IMAGE_FILTER
        path, _ = QFileDialog.getOpenFileName(self, self.dialog_caption(), self.start_folder, kinds)
        return self.load_path(path) if path else False

    def _on_fetched(self, data: bytes, url: str) -> None:
        self._set_busy("")
        self.load_bytes(data, _url_name(QUrl(url)))

    def _on_fetch_failed(self, url: str, reason: str) -> None:
        self._set_busy("")
        self.failed.emit(f"{url}: {reason}")

    def _set_busy(self, text: str) -> None:
        was = bool(self.busy_text)
        self.busy_text = text
        self._picture.update()
        if was != bool(text):
            self.busyChanged.emit(bool(text))

    # ---- events ----

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self.can_use(event.mimeData()):
            event.acceptProposedAction()
            self.drag_hover = True
            self._picture.update()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if self.can_use(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drag_hover = False
        self._picture.update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drag_hover = False
        self._picture.update()
        event.acceptProposedAction()
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.handle_mime(event.mimeData())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.LeftButton and self.image is None and not self.busy:
            self.open_dialog()
            event.accept()
            return
        super().mousePressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusInEvent(event)
        self._picture.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self._picture.update()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        menu = QMenu(self)
        menu.addAction("Open…", self.open_dialog)
        menu.addAction("Paste", self.paste)
        clear = menu.addAction("Clear", self.clear)
        clear.setEnabled(self.image is not None)
        menu.exec(event.globalPos())
        menu.deleteLater()
