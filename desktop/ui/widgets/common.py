"""Building blocks every screen uses: labels with a role, buttons, banners, empty states."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.icons import Tint, icon
from desktop.ui.text import initials

__all__ = [
    "Avatar",
    "Banner",
    "BannerKind",
    "ElidedLabel",
    "EmptyState",
    "FlowLayout",
    "avatar_color",
    "button",
    "card",
    "confirm",
    "divider",
    "guard_wheel",
    "label",
    "paint_avatar",
    "repolish",
    "set_invalid",
    "tool_button",
]

BannerKind = Literal["error", "warning", "info", "success"]
ButtonKind = Literal["primary", "danger", "flat", "chip", "default"]

#: Avatar backgrounds: calm, distinct, readable with white initials in both schemes.
_AVATAR_COLORS = (
    "#3b82c4",
    "#7c5cc4",
    "#c45c8a",
    "#d0763a",
    "#3a9a6e",
    "#4a8fa8",
    "#a8743a",
    "#6d7fcc",
)


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    # Padding and borders from the new rule change the size: labels cache their size
    # hint until they hear of a style change.
    QApplication.sendEvent(widget, QEvent(QEvent.Type.StyleChange))
    widget.updateGeometry()
    widget.update()


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Mark an input as wrong (red border) or right again."""
    if bool(widget.property("invalid")) != invalid:
        widget.setProperty("invalid", invalid)
        repolish(widget)


class ElidedLabel(QLabel):
    """One line that ends in "…" when the room runs out (the full text is its tooltip),
    so a long name never widens the window."""

    def minimumSizeHint(self) -> QSize:
        return QSize(24, super().minimumSizeHint().height())

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(rect, int(self.alignment()), text)
        painter.end()


class FlowLayout(QLayout):
    """Items left to right, wrapping onto new lines: chips that never run off the edge."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        gap = self.spacing()
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line > 0:
                x, y, line = rect.x(), y + line + gap, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + gap
            line = max(line, hint.height())
        return y + line - rect.y()


class _WheelGuard(QObject):
    """Sends the wheel to the page unless the field has the keyboard focus."""

    def __init__(self, scroller: QAbstractScrollArea) -> None:
        super().__init__(scroller)
        self.scroller = scroller

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QWidget)
            and not watched.hasFocus()
        ):
            QApplication.sendEvent(self.scroller.viewport(), event)
            return True
        return super().eventFilter(watched, event)


def confirm(
    parent: QWidget | None,
    title: str,
    text: str,
    action: str,
    on_confirm: Callable[[], object],
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning,
) -> QMessageBox:
    """Ask before something that cannot be undone: Cancel, or ``action`` (which runs
    ``on_confirm``). Opened without blocking; the box is returned for tests to answer."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Cancel, parent)
    chosen = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.buttonClicked.connect(lambda clicked: on_confirm() if clicked is chosen else None)
    box.open()
    return box


def guard_wheel(root: QWidget, scroller: QAbstractScrollArea) -> None:
    """Scrolling the page never changes a combo box, spin box or slider it passes over
    (the model once switched to a pricier one unseen): they take the wheel only once
    clicked or tabbed into."""
    guard = _WheelGuard(scroller)
    for kind in (QComboBox, QAbstractSpinBox, QSlider):
        for widget in root.findChildren(kind):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(guard)


def label(
    text: str = "",
    role: str | None = None,
    *,
    wrap: bool = False,
    selectable: bool = False,
    parent: QWidget | None = None,
) -> QLabel:
    """A label styled by ``role`` (title, heading, section, muted, hint, big, fieldError)."""
    widget = QLabel(text, parent)
    if role:
        widget.setProperty("role", role)
    widget.setWordWrap(wrap)
    if selectable:
        widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return widget


def button(
    text: str,
    icon_name: str | None = None,
    kind: ButtonKind = "default",
    *,
    tip: str | None = None,
    parent: QWidget | None = None,
) -> QPushButton:
    """A push button; ``kind`` picks the style (primary is the screen's main action)."""
    widget = QPushButton(text, parent)
    if kind != "default":
        widget.setProperty("kind", kind)
    if icon_name:
        tint: Tint = (
            "on_accent" if kind == "primary" else ("danger" if kind == "danger" else "text")
        )
        widget.setIcon(icon(icon_name, tint))
        widget.setIconSize(QSize(16, 16))
    if tip:
        widget.setToolTip(tip)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    return widget


def tool_button(
    icon_name: str,
    tip: str,
    *,
    text: str | None = None,
    kind: ButtonKind = "flat",
    parent: QWidget | None = None,
) -> QToolButton:
    """A compact icon button with a tooltip (and optional text beside the icon)."""
    widget = QToolButton(parent)
    widget.setIcon(icon(icon_name))
    widget.setIconSize(QSize(18, 18))
    widget.setToolTip(tip)
    widget.setAccessibleName(tip)
    if text:
        widget.setText(text)
        widget.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    if kind != "default":
        widget.setProperty("kind", kind)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    return widget


def card(parent: QWidget | None = None) -> QFrame:
    """A rounded panel on the window background."""
    frame = QFrame(parent)
    frame.setProperty("card", True)
    return frame


def divider(parent: QWidget | None = None) -> QFrame:
    line = QFrame(parent)
    line.setProperty("divider", True)
    line.setFrameShape(QFrame.Shape.NoFrame)
    line.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return line


class Banner(QWidget):
    """A message above a screen's content: an error, warning, note or success.

    Hidden (taking no space, margins included) until :meth:`show_message`; errors stay
    until closed, other kinds may fade after ``timeout_ms``. An optional action button
    emits ``action_clicked``.
    """

    action_clicked = Signal()

    _ICONS: ClassVar[dict[str, tuple[str, Tint]]] = {
        "error": ("error", "danger"),
        "warning": ("warning", "text"),
        "info": ("info", "accent"),
        "success": ("approve", "accent"),
    }

    def __init__(
        self, parent: QWidget | None = None, *, margins: tuple[int, int, int, int] = (0, 0, 0, 0)
    ) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(*margins)
        self.box = QFrame()
        self.box.setProperty("banner", "info")
        outer.addWidget(self.box)
        layout = QHBoxLayout(self.box)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        self._icon = QLabel()
        self._icon.setFixedSize(18, 18)
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._action = button("", kind="flat")
        self._action.clicked.connect(self.action_clicked)
        self._action.hide()
        close = tool_button("discard", "Close this message")
        close.clicked.connect(self.hide)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._action)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    @property
    def text(self) -> str:
        return self._text.text()

    @property
    def kind(self) -> str:
        return str(self.box.property("banner"))

    def show_message(
        self,
        kind: BannerKind,
        text: str,
        *,
        action: str | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        self.box.setProperty("banner", kind)
        name, tint = self._ICONS[kind]
        self._icon.setPixmap(icon(name, tint).pixmap(18, 18))
        self._text.setText(text)
        self._action.setVisible(action is not None)
        self._action.setText(action or "")
        repolish(self.box)
        self.show()
        self._timer.stop()
        if timeout_ms is not None and kind != "error":
            self._timer.start(timeout_ms)


class EmptyState(QWidget):
    """What a list shows when it has nothing: an icon, a sentence, and maybe an action."""

    action_clicked = Signal()

    def __init__(
        self,
        icon_name: str,
        title: str,
        text: str = "",
        action: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        picture = QLabel()
        picture.setPixmap(icon(icon_name, "muted").pixmap(44, 44))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = label(title, "heading")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.body = label(text, "muted", wrap=True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setMaximumWidth(420)
        # A wrapped label given an alignment in a box layout gets its one-line size hint
        # and clips: it sits between stretches instead, so its height follows its width.
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.body, 100)
        row.addStretch(1)
        layout.addWidget(picture)
        layout.addSpacing(6)
        layout.addWidget(self.title)
        layout.addLayout(row)
        self.button: QPushButton | None = None
        if action:
            self.button = button(action, kind="primary")
            self.button.clicked.connect(self.action_clicked)
            layout.addSpacing(8)
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def set_text(self, title: str, text: str = "") -> None:
        self.title.setText(title)
        self.body.setText(text)


def avatar_color(seed: str) -> QColor:
    """A stable colour per customer (the same name gets the same colour every time)."""
    total = sum((i + 1) * ord(ch) for i, ch in enumerate(seed))
    return QColor(_AVATAR_COLORS[total % len(_AVATAR_COLORS)])


def paint_avatar(painter: QPainter, rect: QRectF, name: str | None, seed: str) -> None:
    """A round avatar with the customer's initials."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(avatar_color(seed))
    painter.drawEllipse(rect)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(max(9, int(rect.height() * 0.38)))
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, initials(name))
    painter.restore()


class Avatar(QWidget):
    """A widget showing :func:`paint_avatar` (thread header, details pane)."""

    def __init__(self, side: int = 36, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(side, side)
        self._name: str | None = None
        self._seed = ""

    def set_person(self, name: str | None, seed: str) -> None:
        self._name, self._seed = name, seed
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        paint_avatar(painter, QRectF(self.rect()), self._name, self._seed or "?")
        painter.end()
