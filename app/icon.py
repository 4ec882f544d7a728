"""Fude's icon: the QIcon the application shows (from the PNGs in resources/icons, one per size, and the SVG
they are drawn from), and the drawing of those PNGs from the SVG (`python -m app.icon` after editing it)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from resources import ICON_SIZES, ICON_SVG, icon_png


def application_icon() -> QIcon:
    """The icon at every size shipped (the scalable SVG too, for sizes in between where Qt can draw it)."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = icon_png(size)
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    if ICON_SVG.is_file():
        icon.addFile(str(ICON_SVG))
    return icon


def render_svg(svg: Path, size: int) -> QImage:
    """`svg` drawn at `size` x `size` px, antialiased, on a transparent background."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not an SVG Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def write_pngs(svg: Path = ICON_SVG) -> list[Path]:
    """Draw `svg` at every size in ICON_SIZES into resources/icons; the files written."""
    written = []
    for size in ICON_SIZES:
        path = icon_png(size)
        if not render_svg(svg, size).save(str(path), b"PNG"):
            raise OSError(f"{path}: could not be written")
        written.append(path)
    return written


if __name__ == "__main__":
    from PySide6.QtGui import QGuiApplication

    application = QGuiApplication(sys.argv)  # QPainter needs one
    for written in write_pngs():
        print(written)
