"""The first screen a new owner sees: try it on this computer, sign in, or create an account."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from common.protocol import MIN_PASSWORD_LENGTH
from desktop.ui.icons import app_icon, icon
from desktop.ui.widgets.common import Banner, button, card, label, set_invalid

__all__ = ["FirstRunScreen"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Least password length for a new account (the relay enforces its own rule as well).


def _url_ok(url: str) -> bool:
    return re.match(r"^https?://[^\s/]+", url.strip()) is not None


class FirstRunScreen(QWidget):
    """Three ways in; each emits a request the window's controller carries out."""

    run_locally_requested = Signal(str)
    sign_in_requested = Signal(str, str, str)
    sign_up_requested = Signal(str, str, str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FirstRun")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(40, 36, 40, 36)
        layout.setSpacing(16)
        layout.addStretch(1)

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(logo)
        title = label("Welcome to Clientora", "title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        sub = label(
            "An assistant that drafts replies to your customers on Messenger, Instagram,"
            " WhatsApp and Viber, from what you teach it. You approve, or let it answer on"
            " its own.",
            "muted",
            wrap=True,
        )
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setFixedWidth(640)
        sub.setMinimumHeight(sub.heightForWidth(640))
        layout.addWidget(sub, 0, Qt.AlignmentFlag.AlignHCenter)
        self.banner = Banner()
        self.banner.setFixedWidth(1052)
        layout.addWidget(self.banner, 0, Qt.AlignmentFlag.AlignHCenter)

        cards = QHBoxLayout()
        cards.setSpacing(16)
        cards.addStretch(1)

        # ---- run on this computer --------------------------------------------------------
        local, local_form, self.local_button = self._card(
            "test-chat",
            "Try it on this computer",
            "Everything runs here, nothing to set up. A test channel lets you write as a"
            " customer and watch the assistant draft replies.",
            "Start",
            recommended=True,
        )
        self.shop = QLineEdit()
        self.shop.setPlaceholderText("e.g. Butiku Arta")
        self.shop.setAccessibleName("Shop name")
        local_form.addRow("Shop name", self.shop)
        cards.addWidget(local)

        # ---- sign in ---------------------------------------------------------------------
        sign_in, in_form, self.sign_in_button = self._card(
            "user",
            "Sign in",
            "Your shop already uses Clientora on a Clientora server.",
            "Sign in",
        )
        self.in_url = QLineEdit()
        self.in_url.setPlaceholderText("https://clientora.example.com")
        self.in_email = QLineEdit()
        self.in_email.setPlaceholderText("you@shop.com")
        self.in_password = QLineEdit()
        self.in_password.setEchoMode(QLineEdit.EchoMode.Password)
        for text, edit in (
            ("Server", self.in_url),
            ("E-mail", self.in_email),
            ("Password", self.in_password),
        ):
            edit.setAccessibleName(f"Sign in: {text}")
            in_form.addRow(text, edit)
        cards.addWidget(sign_in)

        # ---- create an account -------------------------------------------------------------
        sign_up, up_form, self.sign_up_button = self._card(
            "plus",
            "Create an account",
            "On a Clientora server, so several computers share one inbox.",
            "Create account",
        )
        self.up_url = QLineEdit()
        self.up_url.setPlaceholderText("https://clientora.example.com")
        self.up_business = QLineEdit()
        self.up_name = QLineEdit()
        self.up_email = QLineEdit()
        self.up_password = QLineEdit()
        self.up_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.up_password.setPlaceholderText(f"at least {MIN_PASSWORD_LENGTH} characters")
        for text, edit in (
            ("Server", self.up_url),
            ("Business", self.up_business),
            ("Your name", self.up_name),
            ("E-mail", self.up_email),
            ("Password", self.up_password),
        ):
            edit.setAccessibleName(f"Create account: {text}")
            up_form.addRow(text, edit)
        cards.addWidget(sign_up)
        cards.addStretch(1)
        layout.addLayout(cards)
        layout.addStretch(2)

        self.local_button.clicked.connect(self._run_locally)
        self.shop.returnPressed.connect(self._run_locally)
        self.sign_in_button.clicked.connect(self._sign_in)
        self.in_password.returnPressed.connect(self._sign_in)
        self.sign_up_button.clicked.connect(self._sign_up)
        self.up_password.returnPressed.connect(self._sign_up)
        self._buttons = (self.local_button, self.sign_in_button, self.sign_up_button)
        self._labels = {b: b.text() for b in self._buttons}

    def _card(
        self, icon_name: str, title: str, text: str, action: str, *, recommended: bool = False
    ) -> tuple[QFrame, QFormLayout, QPushButton]:
        frame = card()
        frame.setFixedWidth(340)
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        if recommended:
            badge = QLabel("Recommended")
            badge.setProperty("badge", "accent")
            layout.addWidget(badge, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            layout.addSpacing(20)
        head = QHBoxLayout()
        picture = QLabel()
        picture.setPixmap(icon(icon_name, "accent").pixmap(22, 22))
        head.addWidget(picture)
        head.addWidget(label(title, "heading"), 1)
        layout.addLayout(head)
        layout.addWidget(label(text, "muted", wrap=True))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(form)
        layout.addStretch(1)
        go = button(
            action, "send" if recommended else None, "primary" if recommended else "default"
        )
        layout.addWidget(go)
        return frame, form, go

    # ---- requests ---------------------------------------------------------------------

    def _check(self, checks: list[tuple[QLineEdit, bool, str]]) -> bool:
        problems = []
        for edit, ok, problem in checks:
            set_invalid(edit, not ok)
            if not ok:
                problems.append(problem)
        if problems:
            self.banner.show_message("error", " ".join(problems))
            next(edit for edit, ok, _ in checks if not ok).setFocus()
            return False
        self.banner.hide()
        return True

    def _run_locally(self) -> None:
        name = self.shop.text().strip()
        if self._check([(self.shop, bool(name), "Write your shop's name.")]):
            self.set_busy(self.local_button, "Starting…")
            self.run_locally_requested.emit(name)

    def _sign_in(self) -> None:
        url, email = self.in_url.text().strip(), self.in_email.text().strip()
        password = self.in_password.text()
        if self._check(
            [
                (self.in_url, _url_ok(url), "The server address starts with https://."),
                (self.in_email, bool(_EMAIL.match(email)), "Check the e-mail address."),
                (self.in_password, bool(password), "Write your password."),
            ]
        ):
            self.set_busy(self.sign_in_button, "Signing in…")
            self.sign_in_requested.emit(url, email, password)

    def _sign_up(self) -> None:
        url, business = self.up_url.text().strip(), self.up_business.text().strip()
        name, email = self.up_name.text().strip(), self.up_email.text().strip()
        password = self.up_password.text()
        if self._check(
            [
                (self.up_url, _url_ok(url), "The server address starts with https://."),
                (self.up_business, bool(business), "Write your business's name."),
                (self.up_name, bool(name), "Write your name."),
                (self.up_email, bool(_EMAIL.match(email)), "Check the e-mail address."),
                (
                    self.up_password,
                    len(password) >= MIN_PASSWORD_LENGTH,
                    f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.",
                ),
            ]
        ):
            self.set_busy(self.sign_up_button, "Creating…")
            self.sign_up_requested.emit(url, business, name, email, password)

    def set_busy(self, which: QPushButton | None, text: str = "") -> None:
        for b in self._buttons:
            b.setEnabled(which is None)
            b.setText(self._labels[b])
        if which is not None:
            which.setText(text)

    def failed(self, words: str) -> None:
        self.set_busy(None)
        self.banner.show_message("error", words)
