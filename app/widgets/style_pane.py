"""The style pane: one or several paintings, each a row with a thumbnail, a weight slider (shown normalised to
sum 1) and a remove button, above a preview of the chosen painting at the style scale against the result's
size. While Match colours is on, the thumbnails and the preview show the paintings in the content's colours
(made by the session: `set_matched`). Drops, pastes and opens add a painting (up to MAX_STYLES); loading itself
is ImagePane's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QSizePolicy, QSlider, QToolButton, QVBoxLayout, QWidget

from app.loaded_image import LoadedImage
from app.plain_text import literal, plain_label
from app.qimage import to_qimage
from app.widgets.image_pane import ImagePane
from app.widgets.preview_canvas import fit_rect, paint_badge
from app.widgets.render_controls import format_scale
from engine.regions import style_colour

MAX_STYLES = 4
WEIGHT_STEPS = 100  # slider positions of a style's weight (its raw weight; shown normalised)
PREVIEW_SIDE = 1024  # the preview paints from a copy of each painting at most this large
THUMB_SIDE = 28


def normalise(weights: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """`weights` scaled to sum 1; equal weights when they sum to 0 (the pane never lets that happen)."""
    total = sum(weights)
    if total <= 0:
        return tuple(1 / len(weights) for _ in weights)
    return tuple(w / total for w in weights)


def _usable(weights: tuple[float, ...]) -> bool:
    return all(0 <= w < float("inf") for w in weights) and any(w > 0 for w in weights)


def _to_slider_units(weights: tuple[float, ...]) -> list[float]:
    """Weights in proportion, the largest at the slider's end (kept as floats, so the proportion is exact)."""
    top = max(weights)
    return [float(w) / top * WEIGHT_STEPS for w in weights]


def format_share(share: float) -> str:
    return f"{round(share * 100)} %"


def _thumbnail(image: QImage, side: int) -> QPixmap:
    """A square crop of the picture's centre, `side` px."""
    short = min(image.width(), image.height())
    crop = image.copy((image.width() - short) // 2, (image.height() - short) // 2, short, short)
    return QPixmap.fromImage(crop.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))


class StyleRow(QFrame):
    """One painting of the style pane. It knows its position in the list; the pane rebuilds the rows when the
    list changes."""

    weightMoved = Signal(int, int)  # row index, slider position
    removeClicked = Signal(int)
    picked = Signal(int)  # the row was clicked: preview this painting

    def __init__(self, index: int, image: LoadedImage, qimage: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName(f"styleRow{index}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.selected = False
        thumb = self.thumb = plain_label()
        thumb.setObjectName("styleThumb")
        self.set_thumbnail(qimage)
        # framed in the colour of this painting's region (the Regions editor paints with the same colour)
        self.colour = QColor(*style_colour(index))
        thumb.setStyleSheet(f"#styleThumb {{ border: 2px solid {self.colour.name()}; border-radius: 3px; }}")
        thumb.setFixedSize(QSize(THUMB_SIDE + 4, THUMB_SIDE + 4))
        thumb.setToolTip(literal(image.describe() + "\nIts regions are painted in this colour."))
        self.name = plain_label()
        self.name.setObjectName("styleName")
        self.name.setToolTip(literal(image.describe() + (f"\n{image.path}" if image.path else "")))
        self.name.setFixedWidth(78)
        self.name.setText(self.name.fontMetrics().elidedText(image.name, Qt.TextElideMode.ElideMiddle, 76))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("styleWeight")
        self.slider.setRange(0, WEIGHT_STEPS)
        self.slider.setAccessibleName(f"Weight of {image.name}")
        self.slider.setToolTip(literal(f"How much of {image.name} goes into the style mix. Can be moved while a "
                                       "run is going."))
        self.slider.valueChanged.connect(self._on_slider)
        self.share = plain_label("100 %")
        self.share.setObjectName("styleShare")
        self.share.setFixedWidth(self.share.fontMetrics().horizontalAdvance("100 %") + 4)
        self.share.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.remove = QToolButton()
        self.remove.setObjectName("styleRemove")
        self.remove.setText("✕")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip(literal(f"Remove {image.name}"))
        self.remove.setAccessibleName(f"Remove {image.name}")
        self.remove.clicked.connect(self._on_remove)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 1, 0, 1)
        layout.setSpacing(4)
        layout.addWidget(thumb)
        layout.addWidget(self.name)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.share)
        layout.addWidget(self.remove)

    def set_thumbnail(self, qimage: QImage) -> None:
        """Show `qimage` (the painting, or the painting in the content's colours) as the thumbnail."""
        self.thumb.setPixmap(_thumbnail(qimage, THUMB_SIDE))

    def show_weight(self, position: int, share: float, single: bool) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(position)
        self.slider.blockSignals(False)
        self.slider.setVisible(not single)
        self.share.setText(format_share(share))
        self.share.setVisible(not single)

    def set_selected(self, selected: bool) -> None:
        """The painting the preview shows is marked (only when there are several)."""
        self.selected = selected
        name = self.objectName()
        self.setStyleSheet(f"#{name} {{ background: rgba(59, 111, 182, 38); border-radius: 4px; }}" if selected
                           else "")

    def _on_slider(self, position: int) -> None:
        self.weightMoved.emit(self.index, position)

    def _on_remove(self) -> None:
        self.removeClicked.emit(self.index)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.picked.emit(self.index)
        super().mousePressEvent(event)


class StylePane(ImagePane):
    """Several style pictures with weights. `image` is the first one (what a one-style caller sees); `images`
    all of them; `style_weights()` what RenderSettings.style_weights gets."""

    weightsChanged = Signal(tuple)  # the normalised weights, one per painting

    def __init__(self, title: str, hint: str, parent: QWidget | None = None) -> None:
        self._images: list[LoadedImage] = []
        self._previews: list[QImage] = []  # each painting at most PREVIEW_SIDE px, what the preview paints from
        self._matched: list[QImage] = []  # each painting in the content's colours (Match colours), or none
        self._weights: list[float] = []
        self._selected = 0
        self._rows: list[StyleRow] = []
        self.style_scale = 1.0
        self.result_size: QSize | None = None  # the result's aspect (the content picture's size)
        self._tile_cache: tuple[tuple[int, int, int], QPixmap] | None = None
        self._info_text = "No picture yet"
        super().__init__("style", title, hint, parent)
        self._add = QToolButton()
        self._add.setObjectName("styleAdd")
        self._add.setText("+")
        self._add.setAutoRaise(True)
        self._add.setToolTip(f"Add a painting to mix in (up to {MAX_STYLES}); or drop several at once")
        self._add.setAccessibleName("Add a style picture")
        self._add.clicked.connect(self.open_dialog)
        self.header.insertWidget(self.header.count() - 1, self._add)
        self._clear.setToolTip("Remove all the style pictures")
        self._clear.setAccessibleName("Remove all the style pictures")
        self._row_box = QWidget()
        self._row_box.setObjectName("styleRows")
        self._row_layout = QVBoxLayout(self._row_box)
        self._row_layout.setContentsMargins(0, 0, 0, 0)
        self._row_layout.setSpacing(0)
        self._row_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.body.insertWidget(self.body.indexOf(self._info), self._row_box)
        self._row_box.setVisible(False)

    # ---- state ----

    @property
    def image(self) -> LoadedImage | None:
        return self._images[0] if self._images else None

    @property
    def images(self) -> tuple[LoadedImage, ...]:
        return tuple(self._images)

    @property
    def showing_matched(self) -> bool:
        """Whether the paintings are shown in the content's colours (Match colours)."""
        return bool(self._matched)

    @property
    def selected(self) -> int:
        """The painting the preview shows (an index into `images`)."""
        return self._selected

    def normalised_weights(self) -> tuple[float, ...]:
        return normalise(self._weights) if self._weights else ()

    def style_weights(self) -> tuple[float, ...]:
        """For RenderSettings.style_weights: empty for one painting (or none), else the normalised weights."""
        if len(self._weights) < 2:
            return ()
        return tuple(round(w, 4) for w in self.normalised_weights())

    def set_image(self, image: LoadedImage | None) -> None:
        """Show only `image` (or nothing)."""
        self.set_images([] if image is None else [image])

    def set_images(self, images: list[LoadedImage], weights: tuple[float, ...] = ()) -> None:
        """Show `images` (at most MAX_STYLES are kept) with `weights` (equal when empty or of another count)."""
        images = list(images)[:MAX_STYLES]
        self._images = images
        self._previews = [self._preview_copy(image) for image in images]
        usable = len(weights) == len(images) and _usable(weights)
        self._weights = _to_slider_units(weights) if usable else [WEIGHT_STEPS / 2] * len(images)
        self._selected = 0
        self._changed()

    def take(self, image: LoadedImage) -> bool:
        """A loaded painting joins the mix with the weight of the others' average (all equal: an equal share)."""
        if len(self._images) >= MAX_STYLES:
            self.failed.emit(f"{image.name}: not added: the style pane holds at most {MAX_STYLES} paintings; "
                             "remove one first")
            return False
        weight = sum(self._weights) / len(self._weights) if self._weights else WEIGHT_STEPS / 2
        self._images.append(image)
        self._previews.append(self._preview_copy(image))
        self._weights.append(max(1.0, weight))
        self._selected = len(self._images) - 1
        self._changed()
        return True

    def remove(self, index: int) -> None:
        if not 0 <= index < len(self._images):
            return
        del self._images[index], self._previews[index], self._weights[index]
        if self._weights and not any(w > 0 for w in self._weights):
            self._weights = [WEIGHT_STEPS / 2] * len(self._weights)
        self._selected = min(self._selected, max(0, len(self._images) - 1))
        self._changed()

    def set_weights(self, weights: tuple[float, ...]) -> bool:
        """Set every painting's weight (any non-negative numbers, not all 0, kept in proportion); False when the
        count differs or the weights are not usable."""
        if len(weights) != len(self._images) or not _usable(weights):
            return False
        self._weights = _to_slider_units(weights)
        self._show_weights()
        self.weightsChanged.emit(self.normalised_weights())
        return True

    def select(self, index: int) -> None:
        if 0 <= index < len(self._images):
            self._selected = index
            self._show_weights()
            self._update_preview()

    def set_style_scale(self, scale: float) -> None:
        self.style_scale = float(scale)
        self._update_preview()

    def set_matched(self, pictures: Sequence[np.ndarray]) -> None:
        """Show `pictures`, each painting in the content's colours (one per painting, in order), in place of the
        paintings; none (or another count): the paintings as they are."""
        self._matched = [to_qimage(p) for p in pictures] if len(pictures) == len(self._images) else []
        for row, qimage in zip(self._rows, self._shown_previews(), strict=True):
            row.set_thumbnail(qimage)
        self._update_preview()

    def _shown_previews(self) -> list[QImage]:
        return self._matched or self._previews

    def set_result_size(self, size: QSize | None) -> None:
        """The result's shape (the content picture's); None: the painting's own."""
        self.result_size = size
        self._update_preview()

    # ---- painting the preview ----

    def draw_picture(self, painter: QPainter, area: QRect) -> None:
        """The painting at the style scale against a frame of the result's shape: its longest side is the
        result's longest side times the scale, repeated when smaller, so its strokes show at the size they will
        have in the result."""
        source = self.qimage
        if source is None:
            return
        frame = fit_rect(self.result_size or source.size(), area.adjusted(2, 2, -2, -2))
        if frame.width() < 2 or frame.height() < 2:
            return
        longest = max(frame.width(), frame.height()) * self.style_scale
        tile = source.size().scaled(round(longest), round(longest), Qt.AspectRatioMode.KeepAspectRatio)
        tile = QSize(max(1, tile.width()), max(1, tile.height()))
        pixmap = self._tile(source, tile)
        offset_x = ((tile.width() - frame.width()) // 2) % tile.width()
        offset_y = ((tile.height() - frame.height()) // 2) % tile.height()
        painter.drawTiledPixmap(frame, pixmap, QPoint(offset_x, offset_y))
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1))
        painter.drawRect(frame.adjusted(0, 0, -1, -1))
        text = f"at {format_scale(self.style_scale)}" + (" · content's colours" if self._matched else "")
        metrics = painter.fontMetrics()
        box = QRectF(frame.right() - metrics.horizontalAdvance(text) - 16, frame.bottom() - metrics.height() - 9,
                     metrics.horizontalAdvance(text) + 12, metrics.height() + 4)
        paint_badge(painter, box, text)

    def _tile(self, source: QImage, size: QSize) -> QPixmap:
        """`source` (the selected painting's picture) scaled to `size`, cached while both stay the same."""
        key = (self._selected, size.width(), size.height())
        if self._tile_cache is not None and self._tile_cache[0] == key:
            return self._tile_cache[1]
        pixmap = QPixmap.fromImage(source.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        self._tile_cache = (key, pixmap)
        return pixmap

    @staticmethod
    def _preview_copy(image: LoadedImage) -> QImage:
        qimage = to_qimage(image.array)
        if max(qimage.width(), qimage.height()) > PREVIEW_SIDE:
            qimage = qimage.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        return qimage

    # ---- loading several at once ----

    def load_local_urls(self, urls: list[QUrl]) -> bool:
        """Every file dropped together joins the mix (each failure is reported on its own)."""
        loaded = [self.load_url(url) for url in urls]
        return any(loaded)

    def dialog_caption(self) -> str:
        return "Add a style picture" if self._images else "Open the style picture"

    # ---- internals ----

    def _changed(self) -> None:
        self._matched = []  # made for the paintings before: the session sends those of the new list
        self._build_rows()
        self._update_preview()
        self._clear.setEnabled(bool(self._images))
        self._add.setEnabled(len(self._images) < MAX_STYLES)
        first = self.image
        self._info.setToolTip("" if first is None or first.path is None else literal(first.path))
        self.changed.emit(first)
        self.weightsChanged.emit(self.normalised_weights())

    def _update_preview(self) -> None:
        shown = self._shown_previews()
        self.qimage = shown[self._selected] if shown else None
        self._tile_cache = None
        if self._images:
            image = self._images[self._selected]
            self._info_text = image.describe()
            against = "the result's frame" if self.result_size is not None else "its own frame"
            colours = " in the content's colours (Match colours)" if self._matched else ""
            self._picture.setToolTip(literal(
                f"{image.name}{colours} seen at {format_scale(self.style_scale)} (the style scale) against "
                f"{against}: its strokes will be this big in the result"))
        else:
            self._info_text = "No picture yet"
            self._picture.setToolTip("")
        self._show_info()
        self._picture.update()

    def _build_rows(self) -> None:
        for row in self._rows:
            self._row_layout.removeWidget(row)
            row.hide()  # gone from the pane now; deleted when control returns to the event loop
            row.deleteLater()
        self._rows = []
        for index, (image, preview) in enumerate(zip(self._images, self._shown_previews(), strict=True)):
            row = StyleRow(index, image, preview, self._row_box)
            row.weightMoved.connect(self._on_weight_moved)
            row.removeClicked.connect(self.remove)
            row.picked.connect(self.select)
            self._row_layout.addWidget(row)
            row.show()  # now, not when the event loop next runs
            self._rows.append(row)
        self._row_box.setVisible(bool(self._rows))
        self._show_weights()

    def _show_weights(self) -> None:
        shares = self.normalised_weights()
        for row, weight, share in zip(self._rows, self._weights, shares, strict=True):
            row.show_weight(round(weight), share, single=len(self._rows) == 1)
            row.set_selected(row.index == self._selected and len(self._rows) > 1)

    def _on_weight_moved(self, index: int, position: int) -> None:
        if not 0 <= index < len(self._weights):
            return
        self._weights[index] = float(position)
        if not any(w > 0 for w in self._weights):  # all at 0 would mean no style: this one keeps a little
            self._weights[index] = 1.0
        self._show_weights()
        self.weightsChanged.emit(self.normalised_weights())
