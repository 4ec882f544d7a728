"""A small live plot of a run's losses (total, content, style) against the iteration, on a log scale, each
curve relative to its own first value so all three fit one small box. The iteration axis runs to the run's total,
which `set_total` follows as it shrinks (a scale that settles ends early), so the curves end at the right edge."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.widgets.paint_timing import PaintTimedWidget

CURVES = (("total", QColor("#e8e8ea")), ("content", QColor("#5fb3f0")), ("style", QColor("#f0a35f")))


class LossPlot(PaintTimedWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.setAccessibleName("Loss plot")
        self.setMinimumSize(QSize(200, 70))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(84)
        self.total = 1
        self.points: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in CURVES}

    def clear(self, total: int = 1) -> None:
        self.total = max(1, total)
        for values in self.points.values():
            values.clear()
        self.update()

    def set_total(self, total: int) -> None:
        """The run's total changed (it shrinks when a scale ends early): the points spread over the new width."""
        total = max(1, total)
        if total != self.total:
            self.total = total
            self.update()

    def add(self, index: int, losses: dict[str, float]) -> None:
        for name, _ in CURVES:
            value = losses.get(name)
            if value is not None and math.isfinite(value) and value > 0:
                self.points[name].append((index, math.log10(value)))
        self.update()

    def _paint(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#2b2b2e"))
        metrics = painter.fontMetrics()
        legend_height = metrics.height() + 4
        box = QRectF(self.rect()).adjusted(8, 6 + legend_height, -8, -6)
        painter.setPen(QPen(QColor("#505056"), 1))
        painter.drawRect(box)
        drops = [v[0][1] - min(p for _, p in v) for v in self.points.values() if v]
        depth = max([1.0, *drops])  # decades below the first value the plot shows
        for name, color in CURVES:
            values = self.points[name]
            if not values:
                continue
            first = values[0][1]
            path = QPainterPath()
            for i, (index, value) in enumerate(values):
                x = box.left() + box.width() * (index / self.total)
                y = box.top() + box.height() * min(1.0, max(0.0, (first - value) / depth))
                if i == 0:
                    path.moveTo(QPointF(x, y))
                else:
                    path.lineTo(QPointF(x, y))
            painter.setPen(QPen(color, 1.6))
            painter.drawPath(path)
        x = 8.0
        for name, color in CURVES:
            painter.setPen(color)
            painter.drawText(QPointF(x, 4 + metrics.ascent()), name)
            x += metrics.horizontalAdvance(name) + 14
        painter.setPen(QColor("#9a9aa0"))
        note = f"log scale, {depth:.0f} decade{'s' if depth >= 1.5 else ''}"
        painter.drawText(QRectF(self.rect()).adjusted(0, 4, -8, 0), Qt.AlignmentFlag.AlignRight, note)
        painter.end()
