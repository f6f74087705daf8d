"""The app's icons: line icons tinted with the palette at paint time, and channel logos."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from PySide6.QtCore import QByteArray, QPoint, QRect, QRectF, QSize, Qt
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
        self._renderers: dict[str, QSvgRenderer] = {}

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

    def _renderer(self, color: QColor) -> QSvgRenderer:
        key = color.name()
        renderer = self._renderers.get(key)
        if renderer is None:
            data = svg_bytes(self._name).replace(b"#COLOR#", key.encode())
            renderer = QSvgRenderer(QByteArray(data))
            self._renderers[key] = renderer
        return renderer

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._renderer(self._color(mode)).render(painter, QRectF(rect))
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

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


@functools.cache
def _colored_renderer(name: str, color: str) -> QSvgRenderer:
    return QSvgRenderer(QByteArray(svg_bytes(name).replace(b"#COLOR#", color.encode())))


def paint_icon(painter: QPainter, name: str, rect: QRect | QRectF, color: QColor) -> None:
    """Draw a line icon in an explicit colour (delegates painting badges)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _colored_renderer(name, color.name()).render(painter, QRectF(rect))
    painter.restore()
