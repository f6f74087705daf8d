"""Paints one conversation row: avatar and channel, name, time, last message and badges."""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from desktop.core.store import Conversation, Draft
from desktop.ui.icons import channel_icon, paint_icon
from desktop.ui.models.conversations import CONVERSATION_ROLE
from desktop.ui.models.drafts import DRAFT_ROLE
from desktop.ui.text import STATUS_NAMES, countdown, fold, short_time
from desktop.ui.theme import is_dark, mix
from desktop.ui.widgets.common import paint_avatar

__all__ = ["ROW_HEIGHT", "ConversationDelegate", "matches"]

ROW_HEIGHT: Final = 78
_AVATAR: Final = 40
_PAD: Final = 12
#: A window with less than this left is shown in warning colours.
_URGENT_MS: Final = 3 * 3_600_000
#: Rows kept drawn (a few screens of each list; ~100 KB each at 1x).
_ROWS_KEPT: Final = 64

_Index = QModelIndex | QPersistentModelIndex


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch) or ch


def matches(text: str, words: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each search word in ``text`` (case and accents ignored)."""
    folded = [_fold_char(ch) for ch in text]  # one folded piece per shown character
    spans: list[tuple[int, int]] = []
    for word in words:
        start = 0
        while word and start < len(folded):
            joined, ends = "", []
            for i in range(start, len(folded)):
                joined += folded[i]
                ends.append(i + 1)
                if len(joined) >= len(word):
                    break
            if joined.startswith(word):
                spans.append((start, ends[-1]))
                start = ends[-1]
            else:
                start += 1
    return sorted(spans)


def _search_words(index: QModelIndex | QPersistentModelIndex) -> list[str]:
    model = index.model()
    words = getattr(model, "search_text", "")
    return words.split() if isinstance(words, str) else []


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ConversationDelegate(QStyledItemDelegate):
    """Rows of the inbox, the expiring queue and (with a draft) the approval queue.

    A row is drawn once into a pixmap and repainted from it while what it shows stays the
    same: a new message moves every row below it, and drawing each again (text, chips,
    avatar: ~0.5 ms a row) made every list change a stall.
    """

    def __init__(
        self, parent: QWidget | None = None, *, clock: Callable[[], int] = _now_ms
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._drawn: OrderedDict[Hashable, QPixmap] = OrderedDict()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(300, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        conversation = index.data(CONVERSATION_ROLE)
        if not isinstance(conversation, Conversation) or option.rect.isEmpty():
            return
        draft = index.data(DRAFT_ROLE)
        now = self._clock()
        words = _search_words(index)
        rect: QRect = option.rect
        device = painter.device()
        ratio = device.devicePixelRatioF() if device is not None else 1.0
        deadline = conversation.window_deadline_ms
        shown = QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_MouseOver
        key = (
            conversation,
            draft if isinstance(draft, Draft) else None,
            # Everything else the row shows: state, size, search, palette, font, and the
            # words that move with the clock (the time, the countdown and its colour).
            (option.state & (shown | QStyle.StateFlag.State_HasFocus)).value,
            rect.width(),
            rect.height(),
            tuple(words),
            option.palette.cacheKey(),
            option.font.key(),
            painter.font().key(),
            ratio,
            short_time(conversation.last_activity_ms, now),
            countdown(deadline, now),
            deadline is not None and deadline - now < _URGENT_MS,
        )
        pixmap = self._drawn.get(key)
        if pixmap is None:
            pixmap = QPixmap(round(rect.width() * ratio), round(rect.height() * ratio))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(Qt.GlobalColor.transparent)
            row = QPainter(pixmap)
            row.setFont(painter.font())
            at_origin = QStyleOptionViewItem(option)
            at_origin.rect = QRect(QPoint(0, 0), rect.size())
            self._paint_row(row, at_origin, conversation, draft, words, now)
            row.end()
            self._drawn[key] = pixmap
            if len(self._drawn) > _ROWS_KEPT:
                self._drawn.popitem(last=False)
        else:
            self._drawn.move_to_end(key)
        painter.drawPixmap(rect.topLeft(), pixmap)

    def _paint_row(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        conversation: Conversation,
        draft: object,
        words: list[str],
        now: int,
    ) -> None:
        palette: QPalette = option.palette
        rect: QRect = option.rect
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        base = palette.color(QPalette.ColorRole.Base)
        accent = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        dark = is_dark(palette)

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = QRectF(rect.adjusted(6, 2, -6, -2))
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(mix(base, accent, 0.22 if dark else 0.16))
            painter.drawRoundedRect(card, 9, 9)
        elif hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(mix(base, text, 0.06))
            painter.drawRoundedRect(card, 9, 9)
        if bool(state & QStyle.StateFlag.State_HasFocus) and selected:
            painter.setPen(mix(base, accent, 0.7))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(card.adjusted(0.5, 0.5, -0.5, -0.5), 9, 9)

        # Avatar with the channel's badge on its corner.
        top = rect.top() + (ROW_HEIGHT - _AVATAR) // 2 - 4
        avatar = QRectF(rect.left() + _PAD + 4, top, _AVATAR, _AVATAR)
        customer = conversation.customer
        paint_avatar(painter, avatar, customer.name, f"{customer.platform_id}")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(base)
        badge = QRectF(avatar.right() - 13, avatar.bottom() - 13, 18, 18)
        painter.drawEllipse(badge)
        channel_icon(conversation.platform).paint(painter, badge.adjusted(1, 1, -1, -1).toRect())

        x = int(avatar.right()) + 12
        right = rect.right() - _PAD - 6
        width = right - x
        font = QFont(option.font)
        bold = QFont(font)
        bold.setWeight(QFont.Weight.Bold if conversation.unread else QFont.Weight.DemiBold)
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.86))

        line1 = rect.top() + 10
        # Time of last activity, right-aligned.
        painter.setFont(small)
        stamp = short_time(conversation.last_activity_ms, now)
        stamp_width = QFontMetrics(small).horizontalAdvance(stamp)
        painter.setPen(accent if conversation.unread else muted)
        painter.drawText(
            QRect(right - stamp_width, line1, stamp_width, 20),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            stamp,
        )
        # Name.
        found = QColor(241, 180, 90, 110) if dark else QColor("#fde68a")
        painter.setFont(bold)
        name = customer.name or customer.phone or f"Customer {customer.platform_id[-6:]}"
        name_width = width - stamp_width - 8
        shown = QFontMetrics(bold).elidedText(name, Qt.TextElideMode.ElideRight, name_width)
        self._highlight(painter, QFontMetrics(bold), x, line1, shown, words, found)
        painter.setPen(text)
        painter.drawText(
            QRect(x, line1, name_width, 20),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            shown,
        )

        # Last message (or the draft waiting), with the unread count at the right.
        line2 = line1 + 21
        unread_width = 0
        if conversation.unread:
            count = str(conversation.unread) if conversation.unread < 100 else "99+"
            painter.setFont(small)
            unread_width = max(20, QFontMetrics(small).horizontalAdvance(count) + 12)
            pill = QRectF(right - unread_width, line2 + 1, unread_width, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(accent)
            painter.drawRoundedRect(pill, 9, 9)
            painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, count)
            unread_width += 8
        preview, preview_color = self.preview(conversation, draft, palette)
        painter.setFont(font)
        preview_width = width - unread_width
        shown = QFontMetrics(font).elidedText(preview, Qt.TextElideMode.ElideRight, preview_width)
        self._highlight(painter, QFontMetrics(font), x, line2, shown, words, found)
        painter.setPen(preview_color if not conversation.unread else text)
        painter.drawText(
            QRect(x, line2, preview_width, 20),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            shown,
        )

        # Badges: draft waiting, window countdown, status, assistant paused.
        line3 = line2 + 23
        painter.setFont(small)
        chip_x = x
        metrics = painter.fontMetrics()
        for chip_text, color, icon_name in self._chips(conversation, draft, palette, now):
            width = metrics.horizontalAdvance(chip_text) + 14 + (14 if icon_name else 0)
            if chip_x + width > right:
                break  # a chip that does not fit is left out rather than cut
            chip_x = self._chip(painter, chip_x, line3, chip_text, color, icon_name, base, dark)
        painter.restore()

    def preview(self, c: Conversation, draft: object, palette: QPalette) -> tuple[str, QColor]:
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        if isinstance(draft, Draft):
            text = " ".join(draft.text.split())
            # A hand-off leaves no text to approve: the owner answers this one.
            return ("Draft: " + text if text else "No draft: this one needs your answer"), muted
        text = " ".join((c.last_message_preview or "").split()) or "(no text)"
        if c.last_message_status == "failed":
            return "Not sent: " + text, palette.color(QPalette.ColorRole.BrightText)
        if c.last_message_direction == "out":
            who = "Assistant: " if c.last_message_automatic else "You: "
            return who + text, muted
        return text, muted

    @staticmethod
    def _highlight(
        painter: QPainter,
        metrics: QFontMetrics,
        x: int,
        y: int,
        shown: str,
        words: list[str],
        color: QColor,
    ) -> None:
        """A marker behind each search match, so the owner sees why a row is listed."""
        if not words:
            return
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        for start, end in matches(shown, words):
            left = metrics.horizontalAdvance(shown[:start])
            span = metrics.horizontalAdvance(shown[start:end])
            painter.drawRoundedRect(QRectF(x + left - 1, y + 1, span + 2, 18), 3, 3)
        painter.restore()

    def _chips(
        self, c: Conversation, draft: object, palette: QPalette, now: int
    ) -> list[tuple[str, QColor, str | None]]:
        accent = palette.color(QPalette.ColorRole.Highlight)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        warning = QColor("#f1b45a") if is_dark(palette) else QColor("#a86200")
        danger = palette.color(QPalette.ColorRole.BrightText)
        chips: list[tuple[str, QColor, str | None]] = []
        if isinstance(draft, Draft):
            if draft.handoff:
                chips.append(("Needs a person", warning, "handoff"))
            elif draft.confidence is not None:
                chips.append((f"{draft.confidence:.0%} sure", accent, None))
        elif c.needs_person:
            chips.append(("Needs a person", warning, "handoff"))
        elif c.has_pending_draft:
            chips.append(("Draft waiting", accent, "edit"))
        left = countdown(c.window_deadline_ms, now)
        if left is not None and c.status != "resolved":
            remaining = (c.window_deadline_ms or 0) - now
            color = danger if remaining <= 0 else (warning if remaining < _URGENT_MS else muted)
            chips.append((left, color, "clock"))
        if c.status != "open":
            chips.append((STATUS_NAMES.get(c.status, c.status), muted, None))
        if c.assistant_paused and not isinstance(draft, Draft):
            chips.append(("You're answering", muted, "user"))
        for label in c.labels[:2]:
            chips.append((label, muted, "tag"))
        return chips

    def _chip(
        self,
        painter: QPainter,
        x: int,
        y: int,
        text: str,
        color: QColor,
        icon_name: str | None,
        base: QColor,
        dark: bool,
    ) -> int:
        metrics = painter.fontMetrics()
        icon_width = 14 if icon_name else 0
        width = metrics.horizontalAdvance(text) + 14 + icon_width
        rect = QRectF(x, y, width, 18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(mix(base, color, 0.22 if dark else 0.13))
        painter.drawRoundedRect(rect, 9, 9)
        if icon_name:
            paint_icon(painter, icon_name, QRect(x + 6, y + 3, 12, 12), color)
        painter.setPen(color)
        painter.drawText(
            rect.adjusted(7 + icon_width, 0, -7, 0),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            text,
        )
        return x + int(width) + 6
