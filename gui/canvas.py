"""The image (or video frame) with its face boxes, coloured by verdict."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme
from .builders import antialiased_painter


@dataclass
class BoxOverlay:
    box: tuple[float, float, float, float]  # x, y, w, h in source-image pixels
    verdict: str
    label: str
    heat: QImage | None = None  # RGBA heatmap stretched over the box when shown


class ImageCanvas(QWidget):
    """Paints an image scaled to fit, face boxes on top; clicking a box selects it."""

    faceClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = QImage()
        self.source_size: tuple[int, int] = (0, 0)
        self.boxes: list[BoxOverlay] = []
        self.selected = -1
        self.show_heat = False
        self.placeholder = "Open images, videos or folders (Ctrl+O) or drop them here"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)
        self.setAccessibleName("Image with face boxes")

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def set_image(self, image: QImage | None, source_size=None) -> None:
        self.image = image if image is not None else QImage()
        if source_size and source_size[0] > 0 and source_size[1] > 0:
            self.source_size = (int(source_size[0]), int(source_size[1]))
        else:
            self.source_size = (self.image.width(), self.image.height())
        self.update()

    def set_boxes(self, boxes: list[BoxOverlay], selected: int = -1) -> None:
        self.boxes = list(boxes)
        self.selected = selected
        self.update()

    def set_selected(self, index: int) -> None:
        self.selected = index
        self.update()

    def set_show_heat(self, on: bool) -> None:
        self.show_heat = bool(on)
        self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    # -- geometry
    def _target(self) -> QRectF:
        if self.image.isNull():
            return QRectF()
        w, h = self.image.width(), self.image.height()
        s = min(self.width() / w, self.height() / h)
        tw, th = w * s, h * s
        return QRectF((self.width() - tw) / 2, (self.height() - th) / 2, tw, th)

    def _box_rect(self, box, target: QRectF) -> QRectF:
        sw, sh = self.source_size
        if sw <= 0 or sh <= 0:
            return QRectF()
        sx, sy = target.width() / sw, target.height() / sh
        x, y, w, h = (float(v) for v in box)
        return QRectF(target.left() + x * sx, target.top() + y * sy, w * sx, h * sy)

    # -- painting
    def paintEvent(self, _event) -> None:
        pal = self.palette()
        p = antialiased_painter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), theme.mix(pal.color(QPalette.ColorRole.Window),
                                          pal.color(QPalette.ColorRole.Dark), 0.25))
        if self.image.isNull():
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect().adjusted(20, 20, -20, -20),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            p.end()
            return
        target = self._target()
        p.drawImage(target, self.image)
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetrics(bold)
        p.setFont(bold)
        for i, b in enumerate(self.boxes):
            r = self._box_rect(b.box, target)
            if r.isEmpty():
                continue
            colour = theme.verdict_colour(b.verdict, pal)
            if self.show_heat and b.heat is not None and not b.heat.isNull():
                p.drawImage(r, b.heat)
            width = 3.0 if i == self.selected else 2.0
            if i == self.selected:
                p.setPen(QPen(theme.with_alpha(pal.color(QPalette.ColorRole.Base), 200), width + 3))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRoundedRect(r, 3, 3)
            p.setPen(QPen(colour, width))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(r, 3, 3)
            if b.label:
                tw, th = fm.horizontalAdvance(b.label) + 10, fm.height() + 4
                chip = QRectF(r.left() - width / 2, r.top() - th - 2, tw, th)
                if chip.top() < target.top():
                    chip.moveTop(r.top() + 2)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(colour)
                p.drawRoundedRect(chip, 3, 3)
                p.setPen(Qt.GlobalColor.white)
                p.drawText(chip, Qt.AlignmentFlag.AlignCenter, b.label)
        p.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.boxes:
            target = self._target()
            pos: QPointF = event.position()
            hits = [i for i, b in enumerate(self.boxes) if self._box_rect(b.box, target).contains(pos)]
            if hits:
                # the smallest box under the cursor (nested faces)
                i = min(hits, key=lambda k: self.boxes[k].box[2] * self.boxes[k].box[3])
                self.set_selected(i)
                self.faceClicked.emit(i)
                return
        super().mousePressEvent(event)
