"""Paints a message as a chat bubble: text, attachments, time, delivery ticks, send errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import QListView, QStyledItemDelegate, QStyleOptionViewItem

from desktop.core.store import UNKNOWN_OUTCOME, Message
from desktop.ui.icons import paint_icon
from desktop.ui.models.messages import MESSAGE_ROLE
from desktop.ui.text import PLATFORM_NAMES, send_error_words
from desktop.ui.theme import DARK, LIGHT, is_dark, mix

__all__ = ["BubbleDelegate"]

_Index = QModelIndex | QPersistentModelIndex
_PAD_X: Final = 12
_PAD_Y: Final = 8
_SIDE: Final = 16
_GAP: Final = 6
_DAY_HEIGHT: Final = 34
_LONG_WORD = re.compile(r"(\S{28})(?=\S)")
_ATTACHMENT_NAMES: Final = {
    "image": "Photo",
    "video": "Video",
    "audio": "Voice message",
    "file": "File",
    "sticker": "Sticker",
    "fallback": "Shared link",
    "share": "Shared post",
}


#: The button that settles a reply of unknown outcome the owner saw arrive.
ARRIVED = "It arrived"


@dataclass(slots=True)
class _Layout:
    """Where each part of one row goes, relative to the row's top-left corner."""

    height: int
    bubble: QRect
    day: str | None = None
    author: QRect | None = None
    author_text: str = ""
    text: QRect | None = None
    text_value: str = ""
    lines: list[tuple[QRect, str, str, str | None]] = field(default_factory=list)
    footer: QRect = field(default_factory=QRect)
    footer_text: str = ""
    error: QRect | None = None
    error_text: str = ""
    retry: QRect | None = None
    #: "It arrived", beside Retry, when the relay lost track of the send.
    arrived: QRect | None = None


def _day_label(ms: int) -> str:
    day = datetime.fromtimestamp(ms / 1000).date()
    today = datetime.now().date()
    if day == today:
        return "Today"
    if (today - day).days == 1:
        return "Yesterday"
    if day.year == today.year:
        return f"{day.strftime('%A')}, {day.day} {day.strftime('%B')}"
    return f"{day.day} {day.strftime('%B %Y')}"


def _same_day(a: int, b: int) -> bool:
    return datetime.fromtimestamp(a / 1000).date() == datetime.fromtimestamp(b / 1000).date()


def _author(m: Message) -> str:
    if m.direction == "in":
        return ""
    return {
        "assistant": "Assistant (sent on its own)",
        "elsewhere": "Sent from the platform's app",
        "server": "Sent by Clientora while you were away",
        "owner": "You",
        "customer": "",
    }.get(m.author, "")


def _text(m: Message) -> str:
    if m.deleted:
        return "This message was deleted."
    parts: list[str] = []
    if m.kind == "postback":
        parts.append(f"Pressed: {m.text or m.extras.postback_payload or 'a button'}")
    elif m.text:
        parts.append(m.text)
    if m.extras.unsupported:
        where = PLATFORM_NAMES.get(m.extras.open_in or "", "the platform's own app")
        parts.append(f"A message that can't be shown here — open it in {where}.")
    return _LONG_WORD.sub("\\1\u200b", "\n".join(parts))


def _extra_lines(m: Message) -> list[tuple[str, str, str | None]]:
    """(icon, text, link) for attachments, a location, contacts, a story."""
    lines: list[tuple[str, str, str | None]] = []
    if m.deleted:
        return lines
    for a in m.attachments:
        name = a.filename or a.caption or _ATTACHMENT_NAMES.get(a.type, a.type.title())
        lines.append(("attachment", name, a.url))
    if (loc := m.extras.location) is not None:
        where = loc.name or loc.address or f"{loc.latitude:.5f}, {loc.longitude:.5f}"
        url = loc.url or f"https://www.openstreetmap.org/?mlat={loc.latitude}&mlon={loc.longitude}"
        lines.append(("globe", f"Location: {where}", url))
    for contact in m.extras.contacts:
        phones = ", ".join(contact.phones)
        lines.append(("user", f"Contact: {contact.name} {phones}".strip(), None))
    if m.extras.story_url or m.extras.story_id:
        lines.append(("link", "Replied to your story", m.extras.story_url))
    if m.extras.referral:
        lines.append(("link", f"Came from: {m.extras.referral}", None))
    return lines


def _status_icon(m: Message) -> str | None:
    if m.direction == "in":
        return None
    return {
        "queued": "clock",
        "sending": "clock",
        "sent": "tick",
        "delivered": "ticks",
        "read": "ticks",
        "failed": "error",
    }.get(m.status)


class BubbleDelegate(QStyledItemDelegate):
    """Message bubbles for the thread view; emits requests for retry and link clicks."""

    retry_requested = Signal(int)
    #: The owner saw a reply of unknown outcome arrive (message id).
    arrived_confirmed = Signal(int)
    link_activated = Signal(str)

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view
        self._cache: dict[tuple[int, int, int, bool], _Layout] = {}

    # ---- geometry ---------------------------------------------------------------------

    def _width(self) -> int:
        return max(200, self._view.viewport().width())

    def _show_day(self, index: _Index) -> bool:
        message = index.data(MESSAGE_ROLE)
        if index.row() == 0:
            return True
        previous = index.model().index(index.row() - 1, 0).data(MESSAGE_ROLE)
        if not isinstance(message, Message) or not isinstance(previous, Message):
            return False
        return not _same_day(previous.timestamp_ms, message.timestamp_ms)

    def _layout(self, m: Message, font: QFont, show_day: bool) -> _Layout:
        width = self._width()
        key = (m.id, m.updated_at_ms, width, show_day)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if len(self._cache) > 4000:
            self._cache.clear()
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        fm, sm = QFontMetrics(font), QFontMetrics(small)
        max_bubble = min(560, int(width * 0.74))
        inner = max_bubble - 2 * _PAD_X
        y = 4
        day = _day_label(m.timestamp_ms) if show_day else None
        if day:
            y += _DAY_HEIGHT
        content_w = 0
        cy = _PAD_Y
        author_text = _author(m)
        author = None
        if author_text:
            author = QRect(_PAD_X, cy, sm.horizontalAdvance(author_text), sm.height())
            content_w = max(content_w, author.width())
            cy += sm.height() + 2
        text_value = _text(m)
        text_rect = None
        if text_value:
            bounds = fm.boundingRect(
                QRect(0, 0, inner, 100_000), Qt.TextFlag.TextWordWrap, text_value
            )
            text_rect = QRect(_PAD_X, cy, min(inner, bounds.width() + 1), bounds.height())
            content_w = max(content_w, text_rect.width())
            cy += bounds.height() + 4
        lines: list[tuple[QRect, str, str, str | None]] = []
        for icon_name, line, link in _extra_lines(m):
            shown = fm.elidedText(line, Qt.TextElideMode.ElideMiddle, inner - 22)
            rect = QRect(_PAD_X, cy, fm.horizontalAdvance(shown) + 22, fm.height() + 4)
            lines.append((rect, icon_name, shown, link))
            content_w = max(content_w, rect.width())
            cy += rect.height() + 2
        stamp = datetime.fromtimestamp(m.timestamp_ms / 1000).strftime("%H:%M")
        footer_text = stamp + (" · edited" if m.edited_at_ms else "")
        if m.reaction:
            footer_text = f"{m.reaction}  " + footer_text
        footer_w = sm.horizontalAdvance(footer_text) + (20 if _status_icon(m) else 0)
        footer = QRect(_PAD_X, cy, footer_w, sm.height())
        content_w = max(content_w, footer_w)
        cy += sm.height() + _PAD_Y
        bubble_w = content_w + 2 * _PAD_X
        left = _SIDE if m.direction == "in" else width - _SIDE - bubble_w
        bubble = QRect(left, y, bubble_w, cy)
        # Content rects move with the bubble.
        dx = QPoint(left, y)
        if author is not None:
            author.translate(dx)
        if text_rect is not None:
            text_rect.translate(dx)
        for rect, *_ in lines:
            rect.translate(dx)
        footer.translate(dx)
        footer.moveLeft(bubble.right() - _PAD_X - footer_w + 1)
        y = bubble.bottom() + 1
        error = retry = arrived = None
        error_text = ""
        if m.status == "failed" or (m.status == "queued" and m.error_message):
            if m.status == "failed":
                error_text = send_error_words(m.error_code, m.error_message)
            else:
                error_text = f"Not sent yet: {m.error_message}. It will be retried."
            err_w = min(max_bubble, width - 2 * _SIDE)
            bounds = sm.boundingRect(
                QRect(0, 0, err_w - 60, 10_000), Qt.TextFlag.TextWordWrap, error_text
            )
            error = QRect(
                width - _SIDE - bounds.width() - 1, y + 4, bounds.width() + 1, bounds.height()
            )
            y = error.bottom() + 1
            if m.status == "failed":
                retry_w = sm.horizontalAdvance("Retry") + 16
                retry = QRect(width - _SIDE - retry_w, y + 3, retry_w, sm.height() + 6)
                if m.error_code == UNKNOWN_OUTCOME:
                    arrived_w = sm.horizontalAdvance(ARRIVED) + 16
                    arrived = QRect(
                        retry.left() - 8 - arrived_w, retry.top(), arrived_w, retry.height()
                    )
                y = retry.bottom() + 1
        layout = _Layout(
            height=y + _GAP,
            bubble=bubble,
            day=day,
            author=author,
            author_text=author_text,
            text=text_rect,
            text_value=text_value,
            lines=lines,
            footer=footer,
            footer_text=footer_text,
            error=error,
            error_text=error_text,
            retry=retry,
            arrived=arrived,
        )
        self._cache[key] = layout
        return layout

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        message = index.data(MESSAGE_ROLE)
        if not isinstance(message, Message):
            return QSize(0, 0)
        layout = self._layout(message, option.font, self._show_day(index))
        return QSize(self._width(), layout.height)

    # ---- painting ---------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        message = index.data(MESSAGE_ROLE)
        if not isinstance(message, Message):
            return
        font: QFont = option.font
        palette: QPalette = option.palette
        rect: QRect = option.rect
        layout = self._layout(message, font, self._show_day(index))
        colors = DARK if is_dark(palette) else LIGHT
        text_color = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        accent = palette.color(QPalette.ColorRole.Highlight)
        danger = palette.color(QPalette.ColorRole.BrightText)
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        origin = rect.topLeft()

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(origin)
        if layout.day:
            painter.setFont(small)
            fm = QFontMetrics(small)
            w = fm.horizontalAdvance(layout.day) + 24
            pill = QRectF((rect.width() - w) / 2, 10, w, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colors.alt))
            painter.drawRoundedRect(pill, 10, 10)
            painter.setPen(muted)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, layout.day)

        outbound = message.direction == "out"
        fill = QColor(colors.bubble_out if outbound else colors.bubble_in)
        if message.status == "failed":
            fill = mix(fill, danger, 0.12)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(layout.bubble), 12, 12)

        if layout.author is not None:
            painter.setFont(small)
            painter.setPen(accent if message.author in ("assistant", "server") else muted)
            painter.drawText(layout.author, Qt.AlignmentFlag.AlignLeft, layout.author_text)
        if layout.text is not None:
            body = QFont(font)
            body.setItalic(message.deleted)
            painter.setFont(body)
            painter.setPen(muted if message.deleted else text_color)
            painter.drawText(
                layout.text,
                int(Qt.TextFlag.TextWordWrap) | int(Qt.AlignmentFlag.AlignLeft),
                layout.text_value,
            )
        painter.setFont(font)
        for line_rect, icon_name, line, link in layout.lines:
            paint_icon(
                painter,
                icon_name,
                QRect(line_rect.left(), line_rect.top() + 3, 15, 15),
                accent if link else muted,
            )
            link_font = QFont(font)
            link_font.setUnderline(link is not None)
            painter.setFont(link_font)
            painter.setPen(accent if link else text_color)
            painter.drawText(
                line_rect.adjusted(20, 0, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                line,
            )
        painter.setFont(small)
        painter.setPen(muted)
        status = _status_icon(message)
        footer = QRect(layout.footer)
        if status:
            color = danger if status == "error" else (accent if message.status == "read" else muted)
            paint_icon(painter, status, QRect(footer.right() - 15, footer.top(), 15, 15), color)
            footer.setRight(footer.right() - 20)
        painter.drawText(footer, Qt.AlignmentFlag.AlignRight, layout.footer_text)
        if layout.error is not None:
            painter.setPen(danger if message.status == "failed" else muted)
            painter.drawText(
                layout.error,
                int(Qt.TextFlag.TextWordWrap) | int(Qt.AlignmentFlag.AlignRight),
                layout.error_text,
            )
        if layout.retry is not None:
            painter.setPen(accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(layout.retry).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
            painter.drawText(layout.retry, Qt.AlignmentFlag.AlignCenter, "Retry")
        if layout.arrived is not None:
            painter.drawRoundedRect(QRectF(layout.arrived).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
            painter.drawText(layout.arrived, Qt.AlignmentFlag.AlignCenter, ARRIVED)
        painter.restore()

    # ---- clicks -----------------------------------------------------------------------

    def editorEvent(
        self,
        event: QEvent,
        model: QAbstractItemModel,
        option: QStyleOptionViewItem,
        index: _Index,
    ) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return super().editorEvent(event, model, option, index)
        message = index.data(MESSAGE_ROLE)
        if not isinstance(message, Message):
            return False
        layout = self._layout(message, option.font, self._show_day(index))
        rect: QRect = option.rect
        point = event.position().toPoint() - rect.topLeft()
        if layout.retry is not None and layout.retry.contains(point):
            self.retry_requested.emit(message.id)
            return True
        if layout.arrived is not None and layout.arrived.contains(point):
            self.arrived_confirmed.emit(message.id)
            return True
        for line_rect, _, _, link in layout.lines:
            if link and line_rect.contains(point):
                self.link_activated.emit(link)
                return True
        return False

    def retry_rect(self, index: _Index, option: QStyleOptionViewItem) -> QRect | None:
        """Where the Retry button of a failed message is, in row coordinates (for tests)."""
        layout = self._layout_of(index, option)
        return None if layout is None else layout.retry

    def arrived_rect(self, index: _Index, option: QStyleOptionViewItem) -> QRect | None:
        """Where "It arrived" of a reply of unknown outcome is, in row coordinates."""
        layout = self._layout_of(index, option)
        return None if layout is None else layout.arrived

    def _layout_of(self, index: _Index, option: QStyleOptionViewItem) -> _Layout | None:
        message = index.data(MESSAGE_ROLE)
        if not isinstance(message, Message):
            return None
        return self._layout(message, option.font, self._show_day(index))
