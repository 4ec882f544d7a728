"""The region editor: paint over the content picture where each painting goes (a brush or a fill, one colour per
style picture, Keep for "the content stays itself", Eraser for "every painting"), with undo and redo. It shows
the content with the regions as a see-through tint and tells its owner each committed edit (`edited`); loading
and saving mask files are only asked for (`loadRequested`, `saveRequested`)."""

from __future__ import annotations

from enum import Enum

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QIcon,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QHBoxLayout,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.plain_text import plain_label
from app.qimage import to_qimage
from app.region_painting import ERASE, KEEP, Box, RegionPainting
from app.widgets.actions import make_action
from app.widgets.preview_canvas import fit_rect
from engine.regions import FULL, Regions, region_size, style_colour

OVERLAY_ALPHA = 0.45  # how strongly a region of one painting tints the picture
KEEP_ALPHA = 0.6  # and what is kept as the content: dark blue-grey, stronger, so the kept creature stands out
KEEP_TINT = (24, 34, 72)
KEEP_SWATCH = (60, 60, 66)
ERASE_SWATCH = (255, 255, 255)
BRUSH_PERCENT = (1, 25, 6)  # the brush's diameter in % of the picture's longest side: least, most, at first
SOFTNESS_PERCENT = 50
MARGIN = 12  # around the picture in the paint area
HINT = "Add a content picture to paint regions on it"
CAPTION = "Paint where each painting goes. Keep: the creature stays itself. Eraser: back to every painting."


class Tool(Enum):
    BRUSH = "brush"
    FILL = "fill"


def region_tint(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tint shown over S x h x w masks: (h x w x 3 float32 colour, h x w float32 opacity). Kept pixels (every
    mask 0) take KEEP_TINT; pixels that only some paintings reach take those paintings' colours, weighed by their
    masks; unpainted pixels (every painting alike) take no tint."""
    share = masks.astype(np.float32) * np.float32(1 / FULL)
    coverage = share.max(axis=0)
    spread = coverage - share.min(axis=0)  # 0 where every painting goes alike (always, with one painting)
    kept = 1 - coverage
    weight = np.maximum(spread + kept, np.float32(1e-6))  # at most 1: spread <= coverage
    painted = spread / (weight * np.maximum(share.sum(axis=0), np.float32(1e-6)))  # times a mask: its colour's part
    keep = kept / weight
    colour = np.empty((*share.shape[1:], 3), np.float32)
    for channel in range(3):  # (a loop over the paintings: np.tensordot is several times slower here)
        total = keep * np.float32(KEEP_TINT[channel])
        for index, mask in enumerate(share):
            total += mask * painted * np.float32(style_colour(index)[channel])
        colour[..., channel] = total
    return colour, OVERLAY_ALPHA * spread + KEEP_ALPHA * kept


def swatch(colour: tuple[int, int, int], outline: QColor) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(outline, 1.5))
    painter.setBrush(QColor(*colour))
    painter.drawRoundedRect(1, 1, 14, 14, 3, 3)
    painter.end()
    return QIcon(pixmap)


class PaintArea(QWidget):
    """The picture (content and tint, at the masks' size) scaled to fit, with the brush's outline under the mouse.
    It reports the left button's press, drags and release in the picture's pixels."""

    pressed = Signal(float, float)
    dragged = Signal(float, float)
    released = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionPaintArea")
        self.setAccessibleName("Regions")
        self.setMinimumSize(QSize(240, 200))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._picture: QImage | None = None
        self._brush_radius: float | None = None  # in picture pixels; None: no outline (the fill tool)
        self._mouse: QPointF | None = None
        self._down = False

    def set_picture(self, picture: QImage | None) -> None:
        self._picture = picture
        self.update()

    def set_brush_radius(self, radius: float | None) -> None:
        self._brush_radius = radius
        self.update()

    def picture_rect(self) -> QRect | None:
        if self._picture is None:
            return None
        return fit_rect(self._picture.size(), self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN))

    def _scale(self, rect: QRect) -> float:
        assert self._picture is not None
        return rect.width() / max(1, self._picture.width())

    def to_picture(self, point: QPointF) -> tuple[float, float] | None:
        """The picture pixel under a point of this widget (pixel (i, j) is centred at (i, j))."""
        rect = self.picture_rect()
        if rect is None or rect.isEmpty():
            return None
        scale = self._scale(rect)
        return (point.x() - rect.x()) / scale - 0.5, (point.y() - rect.y()) / scale - 0.5

    def to_widget(self, x: float, y: float) -> QPoint:
        """The point of this widget over picture pixel (x, y)."""
        rect = self.picture_rect()
        assert rect is not None, "there is no picture"
        scale = self._scale(rect)
        return QPoint(round(rect.x() + (x + 0.5) * scale), round(rect.y() + (y + 0.5) * scale))

    # ---- painting ----

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2b2e"))
        rect = self.picture_rect()
        if rect is None or self._picture is None:
            painter.setPen(QColor("#d8d8dc"))
            painter.drawText(self.rect().adjusted(40, 40, -40, -40),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, HINT)
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(rect, self._picture)
            if self._mouse is not None and self._brush_radius is not None:
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                radius = max(1.0, self._brush_radius * self._scale(rect))
                for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 230), 1.2)):
                    painter.setPen(QPen(colour, width))
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.drawEllipse(self._mouse, radius, radius)
        painter.end()

    # ---- the mouse ----

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        point = self.to_picture(event.position())
        if event.button() != Qt.MouseButton.LeftButton or point is None:
            super().mousePressEvent(event)
            return
        self._down = True
        self.pressed.emit(*point)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._mouse = event.position()
        self.update()
        point = self.to_picture(event.position())
        if self._down and point is not None:
            self.dragged.emit(*point)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._down:
            self._down = False
            self.released.emit()
        else:
            super().mouseReleaseEvent(event)

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802
        self._mouse = event.position()
        self.update()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self._mouse = None
        self.update()


class RegionEditor(QWidget):
    """Paints the regions of the content picture set with `set_content`, starting from those of `set_regions`."""

    edited = Signal(object)  # the new Regions, after each committed edit
    loadRequested = Signal()
    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionEditor")
        self._content: np.ndarray | None = None
        self._given: Regions | None = None
        self._count = 1
        self._painting: RegionPainting | None = None
        self._base: np.ndarray | None = None  # h x w x 3 float32: the content at the masks' size
        self._shown: np.ndarray | None = None  # h x w x 3 uint8: the content with the tint
        self._label = 0

        self.undo_action = make_action(self, "Undo", self.undo, [QKeySequence.StandardKey.Undo],
                                       "Undo the last change to the regions")
        redo_keys = ["Ctrl+Shift+Z", *(k.toString() for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Redo))]
        self.redo_action = make_action(self, "Redo", self.redo, list(dict.fromkeys(redo_keys)),
                                       "Redo the change undone last")
        self.addActions([self.undo_action, self.redo_action])

        self._labels = QButtonGroup(self)
        self._labels.setExclusive(True)
        self._style_row = QHBoxLayout()
        self._style_row.setSpacing(4)
        self._style_buttons: list[QToolButton] = []
        self.keep_button = self._label_button("Keep", swatch(KEEP_SWATCH, QColor("white")), KEEP,
                                              "Keep the content picture itself here: no painting")
        self.eraser_button = self._label_button("Eraser", swatch(ERASE_SWATCH, QColor("#8a8a90")), ERASE,
                                                "Back to unpainted: every painting goes here")
        self._tools = QButtonGroup(self)
        self.brush_button = self._tool_button("Brush", "Paint with a round brush")
        self.fill_button = self._tool_button("Fill", "Fill the area of one colour that you click")
        self.brush_button.setChecked(True)
        self._tools.buttonToggled.connect(self._on_brush)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Back to unpainted: every painting everywhere")
        self.clear_button.clicked.connect(self.clear)
        self.undo_button, self.redo_button = QToolButton(), QToolButton()
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button.setDefaultAction(self.redo_action)

        self.size_slider = self._slider(*BRUSH_PERCENT, "The brush's size, in % of the picture's longest side")
        self.softness_slider = self._slider(0, 100, SOFTNESS_PERCENT, "How softly the brush's edge fades out")
        self._size_value, self._softness_value = plain_label(), plain_label()
        self.size_slider.valueChanged.connect(self._on_brush)
        self.softness_slider.valueChanged.connect(self._on_brush)
        self.load_button = QToolButton()
        self.load_button.setText("Load mask…")
        self.load_button.setToolTip("Regions from a mask picture")
        self.load_button.clicked.connect(self.loadRequested)
        self.save_button = QToolButton()
        self.save_button.setText("Save mask…")
        self.save_button.setToolTip("Save the regions as a colour-coded picture")
        self.save_button.clicked.connect(self.saveRequested)

        self.paint_area = PaintArea()
        self.paint_area.pressed.connect(self._on_press)
        self.paint_area.dragged.connect(self._on_drag)
        self.paint_area.released.connect(self._on_release)
        self._layout()
        self._rebuild_labels()
        self._on_brush()
        self._sync()

    def _layout(self) -> None:
        # three short rows rather than two long ones, so that with four paintings the window still fits a
        # 1024 px wide screen: what to paint, then how (tool and brush), then the edits and the mask files
        labels = QHBoxLayout()
        labels.setSpacing(4)
        labels.addLayout(self._style_row)
        labels.addWidget(self.keep_button)
        labels.addWidget(self.eraser_button)
        labels.addStretch(1)
        brush = QHBoxLayout()
        brush.addWidget(self.brush_button)
        brush.addWidget(self.fill_button)
        brush.addSpacing(12)
        brush.addWidget(plain_label("Size"))
        brush.addWidget(self.size_slider)
        brush.addWidget(self._size_value)
        brush.addSpacing(12)
        brush.addWidget(plain_label("Softness"))
        brush.addWidget(self.softness_slider)
        brush.addWidget(self._softness_value)
        brush.addStretch(1)
        edits = QHBoxLayout()
        for button in (self.undo_button, self.redo_button, self.clear_button):
            edits.addWidget(button)
        edits.addStretch(1)
        edits.addWidget(self.load_button)
        edits.addWidget(self.save_button)
        caption = plain_label(CAPTION)
        caption.setWordWrap(True)
        caption.setStyleSheet("color: #5f5f66;")
        self.tool_box = QWidget()
        tools = QVBoxLayout(self.tool_box)
        tools.setContentsMargins(6, 6, 6, 2)
        tools.addLayout(labels)
        tools.addLayout(brush)
        tools.addLayout(edits)
        tools.addWidget(caption)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.tool_box)
        column.addWidget(self.paint_area, 1)

    def _label_button(self, text: str, icon: QIcon, label: int, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setIcon(icon)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setCheckable(True)
        button.setToolTip(tip)
        button.setProperty("regionLabel", label)
        button.clicked.connect(lambda: self.set_label(label))
        self._labels.addButton(button)
        return button

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setCheckable(True)
        button.setToolTip(tip)
        self._tools.addButton(button)
        return button

    def _slider(self, least: int, most: int, value: int, tip: str) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(least, most)
        slider.setValue(value)
        slider.setToolTip(tip)
        slider.setMaximumWidth(160)
        slider.setMinimumWidth(60)
        return slider

    def _rebuild_labels(self) -> None:
        for button in self._style_buttons:
            self._labels.removeButton(button)
            self._style_row.removeWidget(button)
            button.hide()
            button.deleteLater()
        self._style_buttons = [
            self._label_button(f"Painting {i + 1}", swatch(style_colour(i), QColor(0, 0, 0, 90)), i,
                               f"Paint where painting {i + 1} goes (only it there)") for i in range(self._count)]
        for button in self._style_buttons:
            self._style_row.addWidget(button)
        if self._label >= self._count:
            self._label = 0
        self.set_label(self._label)

    # ---- the state, for the owner and tests ----

    @property
    def painting(self) -> RegionPainting | None:
        """The regions being painted; None while there is no content picture."""
        return self._painting

    @property
    def regions(self) -> Regions | None:
        return None if self._painting is None else self._painting.regions

    @property
    def label(self) -> int:
        """What the brush and the fill paint: a painting's index, KEEP or ERASE."""
        return self._label

    def set_label(self, label: int) -> None:
        if label not in (KEEP, ERASE) and not 0 <= label < self._count:
            raise ValueError(f"no painting {label} among {self._count}")
        self._label = label
        for button in self._labels.buttons():
            button.setChecked(button.property("regionLabel") == label)

    def label_buttons(self) -> list[QAbstractButton]:
        """The buttons that choose the label: one per painting, then Keep and Eraser."""
        return [*self._style_buttons, self.keep_button, self.eraser_button]

    @property
    def tool(self) -> Tool:
        return Tool.FILL if self.fill_button.isChecked() else Tool.BRUSH

    def set_tool(self, tool: Tool) -> None:
        (self.fill_button if tool is Tool.FILL else self.brush_button).setChecked(True)

    @property
    def brush_fraction(self) -> float:
        """The brush's diameter as a fraction of the picture's longest side."""
        return self.size_slider.value() / 100

    @property
    def softness(self) -> float:
        return self.softness_slider.value() / 100

    def brush_radius(self) -> float:
        """The brush's radius in mask pixels."""
        regions = self.regions
        return 0.0 if regions is None else self.brush_fraction * max(regions.width, regions.height) / 2

    def mask_point(self, point: QPoint | QPointF) -> tuple[float, float] | None:
        """The mask pixel under a point of `paint_area` (None while there is no picture)."""
        return self.paint_area.to_picture(QPointF(point))

    def widget_point(self, x: float, y: float) -> QPoint:
        """The point of `paint_area` over mask pixel (x, y)."""
        return self.paint_area.to_widget(x, y)

    # ---- from the owner ----

    def set_content(self, picture: np.ndarray | None) -> None:
        """The content picture (H x W x 3 uint8) to paint on, or None."""
        self._content = picture
        self._base = None
        self._sync()

    def set_regions(self, regions: Regions | None, count: int) -> None:
        """The regions in the settings (None: none painted yet) for `count` style pictures. The value the editor
        shows already (the echo of its own edit) changes nothing; another becomes an edit that can be undone, or
        starts afresh when the number of paintings or the masks' size is new."""
        self._given = regions
        self._count = regions.count if regions is not None else max(1, count)
        self._sync()

    def _sync(self) -> None:
        if len(self._style_buttons) != self._count:
            self._rebuild_labels()
        content = self._content
        self.tool_box.setEnabled(content is not None)
        if content is None:
            self._painting, self._shown = None, None
            self.paint_area.set_picture(None)
            self._update_actions()
            return
        height, width = content.shape[:2]
        wanted = self._given if self._given is not None else Regions.everywhere(self._count,
                                                                              *region_size(width, height))
        current = self._painting
        if current is None or (current.regions.count, current.regions.width, current.regions.height) != (
                wanted.count, wanted.width, wanted.height):
            self._painting = RegionPainting(wanted)
            self._base = None
        elif current.regions != wanted:
            current.adopt(wanted)
        self._show()
        self._update_actions()

    # ---- editing ----

    def undo(self) -> None:
        if self._painting is not None:
            self._committed(self._painting.undo())

    def redo(self) -> None:
        if self._painting is not None:
            self._committed(self._painting.redo())

    def clear(self) -> None:
        if self._painting is not None:
            self._committed(self._painting.clear())

    def _on_press(self, x: float, y: float) -> None:
        painting = self._painting
        if painting is None:
            return
        if self.tool is Tool.FILL:
            self._committed(painting.fill(x, y, self._label))
        else:
            self._show(painting.begin_stroke(self._label, self.brush_radius(), self.softness, x, y))

    def _on_drag(self, x: float, y: float) -> None:
        if self._painting is not None and self._painting.stroking:
            self._show(self._painting.stroke_to(x, y))

    def _on_release(self) -> None:
        if self._painting is not None and self._painting.stroking:
            self._committed(self._painting.end_stroke())

    def _committed(self, regions: Regions | None) -> None:
        self._show()
        self._update_actions()
        if regions is not None:
            self.edited.emit(regions)

    def _update_actions(self) -> None:
        painting = self._painting
        self.undo_action.setEnabled(painting is not None and painting.can_undo)
        self.redo_action.setEnabled(painting is not None and painting.can_redo)

    def _on_brush(self) -> None:
        self._size_value.setText(f"{self.size_slider.value()} %")
        self._softness_value.setText(f"{self.softness_slider.value()} %")
        self.paint_area.set_brush_radius(self.brush_radius() if self.tool is Tool.BRUSH else None)

    # ---- what is shown ----

    def _show(self, box: Box | None = None) -> None:
        """Redraw the tint over the whole picture, or only inside `box` (mask pixels) after a stroke's move."""
        painting, content = self._painting, self._content
        if painting is None or content is None:
            return
        masks = painting.preview()
        height, width = masks.shape[1:]
        if self._base is None or self._shown is None or self._base.shape[:2] != (height, width):
            self._base = fitted(content, width, height).astype(np.float32)
            self._shown = np.empty((height, width, 3), np.uint8)
            box = None
        x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
        colour, alpha = region_tint(masks[:, y0:y1, x0:x1])
        base = self._base[y0:y1, x0:x1]
        self._shown[y0:y1, x0:x1] = np.rint(base + (colour - base) * alpha[..., None]).astype(np.uint8)
        self.paint_area.set_picture(to_qimage(self._shown))
        self.paint_area.set_brush_radius(self.brush_radius() if self.tool is Tool.BRUSH else None)


def fitted(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """An H x W x 3 uint8 picture scaled to width x height."""
    if picture.shape[:2] == (height, width):
        return np.asarray(picture, dtype=np.uint8)
    shrink = width <= picture.shape[1] and height <= picture.shape[0]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(np.asarray(picture, dtype=np.uint8)).resize((width, height), method))
