"""The live canvas: the picture as it grows, scaled to fit whatever size each frame has, and a before/after
compare (the result, the content, or a split view with a draggable divider). A transparent picture is drawn over
a checkerboard (`draw_image`, which the panes and the history use too). It only paints QImages; it knows nothing
of the engine."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QPushButton, QSizePolicy, QWidget

from app.widgets.paint_timing import PaintTimedWidget

CHECKER_SQUARE = 8  # px: the side of one square of the checkerboard under a transparent picture
CHECKER_LIGHT = (204, 204, 204)
CHECKER_DARK = (153, 153, 153)


def fit_rect(size: QSize, area: QRect) -> QRect:
    """The largest rectangle of `size`'s aspect ratio centred in `area`."""
    scaled = size.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
    return QRect(area.x() + (area.width() - scaled.width()) // 2, area.y() + (area.height() - scaled.height()) // 2,
                 scaled.width(), scaled.height())


def paint_badge(painter: QPainter, box: QRectF, text: str) -> None:
    """`text` in white on a dark, rounded, see-through label filling `box`, readable over any picture."""
    path = QPainterPath()
    path.addRoundedRect(box, 4, 4)
    painter.fillPath(path, QColor(0, 0, 0, 150))
    painter.setPen(QColor("white"))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def paint_checkerboard(painter: QPainter, area: QRect) -> None:
    """Light and dark grey squares filling `area`, starting at its top-left corner: what shows through where a
    picture is transparent."""
    side = CHECKER_SQUARE
    tile = QPixmap(2 * side, 2 * side)
    tile.fill(QColor(*CHECKER_LIGHT))
    tile_painter = QPainter(tile)
    tile_painter.fillRect(0, 0, side, side, QColor(*CHECKER_DARK))
    tile_painter.fillRect(side, side, side, side, QColor(*CHECKER_DARK))
    tile_painter.end()
    painter.save()
    painter.setBrushOrigin(area.topLeft())
    painter.fillRect(area, QBrush(tile))
    painter.restore()


def draw_image(painter: QPainter, target: QRect, image: QImage) -> None:
    """`image` scaled into `target`; one with an alpha channel over a checkerboard, so its transparency shows."""
    if image.hasAlphaChannel():
        paint_checkerboard(painter, target)
    painter.drawImage(target, image)


class CompareMode(Enum):
    RESULT = "result"
    CONTENT = "content"
    SPLIT = "split"


class PreviewCanvas(PaintTimedWidget):
    """Shows `result` (or `content`, or both split at `divider`); `hint` when there is nothing to show."""

    framePainted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewCanvas")
        self.setAccessibleName("Preview")
        self.setMinimumSize(QSize(240, 200))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.hint = ""
        self._result: QImage | None = None
        self._content: QImage | None = None
        self._mode = CompareMode.RESULT
        self.divider = 0.5  # split position, as a fraction of the picture's width
        self._dragging = False
        self.frames_shown = 0
        self._welcome: QPushButton | None = None
        self._welcome_wanted = True

    # ---- state ----

    @property
    def result(self) -> QImage | None:
        return self._result

    @property
    def content(self) -> QImage | None:
        return self._content

    @property
    def mode(self) -> CompareMode:
        return self._mode

    def set_result(self, image: QImage | None) -> None:
        self._result = image
        if image is not None:
            self.frames_shown += 1
        self._place_welcome()
        self.update()  # coalesced by Qt: painting never runs faster than the screen asks

    def set_content(self, image: QImage | None) -> None:
        self._content = image
        self._place_welcome()
        self.update()

    def set_mode(self, mode: CompareMode) -> None:
        self._mode = mode
        self.setCursor(Qt.CursorShape.SplitHCursor if mode is CompareMode.SPLIT else Qt.CursorShape.ArrowCursor)
        self._place_welcome()
        self.update()

    def set_hint(self, text: str) -> None:
        self.hint = text
        self._place_welcome()
        self.update()

    # ---- painting ----

    def _frame_rect(self) -> QRect | None:
        """Where the pictures are drawn: the result's aspect ratio when there is one, else the content's."""
        reference = self._result or self._content
        if reference is None:
            return None
        return fit_rect(reference.size(), self.rect().adjusted(12, 12, -12, -12))

    def _paint(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2b2e"))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        target = self._frame_rect()  # None only when there is no picture at all
        if target is None:
            self._paint_hint(painter)
        elif self._mode is CompareMode.SPLIT and self._result is not None and self._content is not None:
            self._paint_split(painter, target, self._content, self._result)
        elif self._mode is CompareMode.CONTENT and self._content is not None:
            draw_image(painter, target, self._content)
            self._paint_tag(painter, target, "Before (content)", left=True)
        elif self._result is not None:
            draw_image(painter, target, self._result)
        else:
            self._paint_hint(painter)
        painter.end()
        self.framePainted.emit()

    def showing_hint(self) -> bool:
        return self._result is None and not (self._mode is CompareMode.CONTENT and self._content is not None)

    def add_welcome_button(self, text: str) -> QPushButton:
        """A button shown under the hint while there is nothing to show (e.g. "Try an example")."""
        button = QPushButton(text, self)
        button.setObjectName("welcomeButton")
        button.adjustSize()
        self._welcome = button
        self._place_welcome()
        return button

    def set_welcome_wanted(self, wanted: bool) -> None:
        """Whether the welcome button may show (it shows only while the hint does)."""
        self._welcome_wanted = wanted
        self._place_welcome()

    def _place_welcome(self) -> None:
        button = self._welcome
        if button is None:
            return
        button.setVisible(self._welcome_wanted and self.showing_hint() and bool(self.hint))
        hint_height = self.fontMetrics().height() * 4
        button.move((self.width() - button.width()) // 2, self.height() // 2 + hint_height // 2 + 8)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._place_welcome()

    def _paint_hint(self, painter: QPainter) -> None:
        painter.setPen(QColor("#d8d8dc"))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        width = min(560, self.width() - 80)
        box = QRect((self.width() - width) // 2, 40, width, self.height() - 80)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint)

    def _paint_split(self, painter: QPainter, target: QRect, before: QImage, after: QImage) -> None:
        x = target.x() + round(target.width() * self.divider)
        painter.save()
        painter.setClipRect(QRect(target.x(), target.y(), x - target.x(), target.height()))
        draw_image(painter, target, before)
        painter.setClipRect(QRect(x, target.y(), target.right() - x + 1, target.height()))
        draw_image(painter, target, after)
        painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255, 230), 2))
        painter.drawLine(x, target.top(), x, target.bottom())
        handle = QPainterPath()
        handle.addEllipse(QPointF(x, target.center().y()), 9, 9)
        painter.fillPath(handle, QColor(255, 255, 255, 230))
        painter.setPen(QPen(QColor("#2b2b2e"), 1.5))
        cy = target.center().y()
        painter.drawLine(QPointF(x - 4, cy), QPointF(x - 1, cy - 3))
        painter.drawLine(QPointF(x - 4, cy), QPointF(x - 1, cy + 3))
        painter.drawLine(QPointF(x + 4, cy), QPointF(x + 1, cy - 3))
        painter.drawLine(QPointF(x + 4, cy), QPointF(x + 1, cy + 3))
        self._paint_tag(painter, target, "Before", left=True)
        self._paint_tag(painter, target, "After", left=False)

    def _paint_tag(self, painter: QPainter, target: QRect, text: str, left: bool) -> None:
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance(text) + 14, metrics.height() + 6
        x = target.x() + 8 if left else target.right() - 8 - width
        box = QRectF(x, target.y() + 8, width, height)
        paint_badge(painter, box, text)

    # ---- the split divider ----

    def _move_divider(self, x: float) -> None:
        target = self._frame_rect()
        if target is None or target.width() <= 0:
            return
        self.divider = min(1.0, max(0.0, (x - target.x()) / target.width()))
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._mode is CompareMode.SPLIT and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._move_divider(event.position().x())
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._dragging:
            self._move_divider(event.position().x())
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._dragging = False
        super().mouseReleaseEvent(event)
