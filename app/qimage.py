"""numpy <-> QImage, with the pixel buffer's lifetime handled here and nowhere else.

A QImage built over a numpy buffer does not own the pixels: if the array is freed first, the image reads freed
memory. `to_qimage` therefore returns a deep copy that owns its pixels, so a caller may drop the array at once.
`to_array` goes the other way and always returns a fresh, contiguous H x W x 3 uint8 array.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter


def to_qimage(array: np.ndarray) -> QImage:
    """An H x W x 3 uint8 RGB array as a QImage that owns its own copy of the pixels."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 array, not shape {array.shape}")
    pixels = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = pixels.shape[:2]
    view = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    # .copy() detaches: the returned image has its own buffer, and `pixels` may be freed when this returns.
    return view.copy()


def to_array(image: QImage) -> np.ndarray:
    """Any QImage as an H x W x 3 uint8 RGB array; transparent pixels are composited onto white, as the engine
    does for files with an alpha channel."""
    if image.isNull():
        raise ValueError("the image is empty")
    if image.hasAlphaChannel():
        flat = QImage(image.size(), QImage.Format.Format_RGB888)
        flat.fill(QColor(Qt.GlobalColor.white))
        painter = QPainter(flat)
        painter.drawImage(0, 0, image)
        painter.end()
    else:
        flat = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = flat.width(), flat.height(), flat.bytesPerLine()
    rows = np.frombuffer(flat.constBits(), dtype=np.uint8, count=stride * height).reshape(height, stride)
    # Rows are padded to 4 bytes; slice the padding off and copy, so the array outlives `flat`.
    return rows[:, : 3 * width].reshape(height, width, 3).copy()
