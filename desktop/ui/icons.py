"""The app's icons: line icons tinted with the palette at paint time, and channel logos."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

__all__ = ["Tint", "app_icon", "channel_icon", "icon", "paint_icon", "picture_icon", "svg_bytes"]

#: Which palette colour a line icon takes: text, muted text, the accent, or danger red.
Tint = Literal["text", "muted", "accent", "danger", "on_accent"]


@functools.cache
def svg_bytes(name: str) -> bytes:
    """The SVG source of ``resources/icons/<name>.svg``."""
    return resources.files("resources").joinpath("icons", f"{name}.svg").read_bytes()


class _TintedSvg(QIconEngine):
    """Paints a line icon in the current palette's colour, so dark mode needs no redraw."""

    def __init__(self, name: str, tint: Tint) -> None:
        super().__init__()
        self._name = name
        self._tint = tint

    def _color(self, mode: QIcon.Mode) -> QColor:
        palette = QApplication.palette()
        if mode == QIcon.Mode.Disabled:
            return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
        # Selected rows here are a soft tint with normal text, so Selected keeps the tint.
        if self._tint == "on_accent":
            return palette.color(QPalette.ColorRole.HighlightedText)
        if self._tint == "accent":
            return palette.color(QPalette.ColorRole.Highlight)
        if self._tint == "danger":
            return palette.color(QPalette.ColorRole.BrightText)
        if self._tint == "muted":
            return palette.color(QPalette.ColorRole.PlaceholderText)
        return palette.color(QPalette.ColorRole.ButtonText)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        paint_icon(painter, self._name, rect, self._color(mode))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return _rendered(self._name, self._color(mode).name(), size.width(), size.height(), 1.0)

    def clone(self) -> QIconEngine:
        return _TintedSvg(self._name, self._tint)


@functools.cache
def icon(name: str, tint: Tint = "text") -> QIcon:
    """A line icon from ``resources/icons`` drawn in the palette's ``tint`` colour."""
    return QIcon(_TintedSvg(name, tint))


@functools.cache
def channel_icon(platform: str) -> QIcon:
    """The coloured badge of a messaging platform (``messenger``, ``viber``...)."""
    known = ("messenger", "instagram", "whatsapp", "viber", "webchat")
    return picture_icon(f"channel-{platform}" if platform in known else "channel-webchat")


@functools.cache
def app_icon() -> QIcon:
    """Clientora's own icon (window, tray)."""
    return picture_icon("app")


@functools.cache
def picture_icon(name: str) -> QIcon:
    """A full-colour SVG from ``resources/icons`` rendered at the usual icon sizes."""
    renderer = QSvgRenderer(QByteArray(svg_bytes(name)))
    result = QIcon()
    for side in (16, 20, 24, 32, 48, 64):
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, side, side))
        painter.end()
        result.addPixmap(pixmap)
    return result


@functools.lru_cache(maxsize=512)
def _rendered(name: str, color: str, width: int, height: int, ratio: float) -> QPixmap:
    """A line icon drawn once per colour, size and pixel ratio: rendering the SVG at every
    paint made each repaint of the sidebar and the lists redo it for every icon."""
    renderer = QSvgRenderer(QByteArray(svg_bytes(name).replace(b"#COLOR#", color.encode())))
    pixmap = QPixmap(max(1, round(width * ratio)), max(1, round(height * ratio)))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(pixmap.rect()))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def paint_icon(painter: QPainter, name: str, rect: QRect | QRectF, color: QColor) -> None:
    """Draw a line icon in an explicit colour (delegates painting badges)."""
    target = QRectF(rect)
    device = painter.device()
    ratio = device.devicePixelRatioF() if device is not None else 1.0
    pixmap = _rendered(name, color.name(), round(target.width()), round(target.height()), ratio)
    painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
