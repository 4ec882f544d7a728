"""numpy <-> QImage, with the pixel buffer's lifetime handled here and nowhere else.

A QImage built over a numpy buffer does not own the pixels: if the array is freed first, the image reads freed
memory. `to_qimage` therefore returns a deep copy that owns its pixels, so a caller may drop the array at once.
`to_array` and `to_rgba_array` go the other way and always return a fresh, contiguous uint8 array (H x W x 3,
or H x W x 4 with straight alpha).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from engine.transparency import flatten


def to_qimage(array: np.ndarray) -> QImage:
    """An H x W x 3 uint8 RGB array (or H x W x 4 RGBA, straight alpha) as a QImage that owns its own copy of the
    pixels."""
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 or H x W x 4 array, not shape {array.shape}")
    pixels = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, channels = pixels.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    view = QImage(pixels.data, width, height, channels * width, fmt)
    # .copy() detaches: the returned image has its own buffer, and `pixels` may be freed when this returns.
    return view.copy()


def to_array(image: QImage) -> np.ndarray:
    """Any QImage as an H x W x 3 uint8 RGB array; transparent pixels are composited onto white, as the engine
    does for files with an alpha channel."""
    return flatten(to_rgba_array(image))


def to_rgba_array(image: QImage) -> np.ndarray:
    """Any QImage as an H x W x 4 uint8 RGBA array with straight (not premultiplied) alpha; an image without an
    alpha channel comes back with every pixel opaque."""
    if image.isNull():
        raise ValueError("the image is empty")
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height, stride = rgba.width(), rgba.height(), rgba.bytesPerLine()
    rows = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=stride * height).reshape(height, stride)
    return rows[:, : 4 * width].reshape(height, width, 4).copy()
