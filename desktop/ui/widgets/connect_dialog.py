"""Connecting a channel: the fields each platform needs, checked before anything is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from common.channels import Platform
from common.protocol import ConnectChannel
from desktop.ui.icons import channel_icon
from desktop.ui.text import PLATFORM_NAMES
from desktop.ui.widgets.common import Banner, label, set_invalid

__all__ = ["ConnectDialog", "Field", "validate_field"]

_DIGITS = re.compile(r"^\d{5,25}$")
_TOKEN = re.compile(r"^\S{20,}$")
_VIBER = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class Field:
    """One input: the ConnectChannel attribute it fills, its label, help and rule."""

    name: str
    label: str
    help: str
    rule: str  # "digits", "token", "viber", "text"
    secret: bool = False
    required: bool = True


_FIELDS: dict[str, tuple[Field, ...]] = {
    "messenger": (
        Field(
            "page_id",
            "Page ID",
            "Facebook page settings › About › Page ID (only digits).",
            "digits",
        ),
        Field(
            "access_token",
            "Page access token",
            "From Meta Business Suite › Settings › System users; starts with EAA.",
            "token",
            secret=True,
        ),
    ),
    "instagram": (
        Field(
            "account_id",
            "Instagram account ID",
            "The professional account's ID (only digits).",
            "digits",
        ),
        Field(
            "access_token",
            "Access token",
            "The page token of the linked Facebook page.",
            "token",
            secret=True,
        ),
    ),
    "whatsapp": (
        Field(
            "phone_number_id",
            "Phone number ID",
            "WhatsApp Manager › Phone numbers › the number's ID (only digits).",
            "digits",
        ),
        Field(
            "business_account_id",
            "Business account ID",
            "WhatsApp Manager › Account tools › account ID (only digits).",
            "digits",
        ),
        Field(
            "access_token", "Access token", "A permanent system-user token.", "token", secret=True
        ),
    ),
    "viber": (
        Field(
            "auth_token",
            "Bot token",
            "From the Viber admin panel: three groups of 16 letters and digits joined by dashes.",
            "viber",
            secret=True,
        ),
    ),
    "webchat": (),
}

_PROBLEMS = {
    "digits": "only digits, as the platform shows it",
    "token": "paste the whole token (at least 20 characters, no spaces)",
    "viber": "it looks like 4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f",
    "text": "required",
}


def _row_label(text: str) -> QLabel:
    """Form labels of one width, so the platform's fields line up with Platform and Name."""
    widget = QLabel(text)
    widget.setFixedWidth(150)
    widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return widget


def validate_field(field: Field, value: str) -> str | None:
    """What is wrong with ``value`` for ``field`` in plain words, or None when it is fine."""
    value = value.strip()
    if not value:
        return f"{field.label}: required." if field.required else None
    pattern = {"digits": _DIGITS, "token": _TOKEN, "viber": _VIBER}.get(field.rule)
    if pattern is not None and not pattern.match(value):
        return f"{field.label}: {_PROBLEMS[field.rule]}."
    return None


class ConnectDialog(QDialog):
    """Pick a platform, fill its fields; ``submitted`` carries a checked ConnectChannel."""

    submitted = Signal(object)

    def __init__(self, parent: QWidget | None = None, platform: Platform = "messenger") -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect a channel")
        self.setMinimumWidth(540)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 16)
        layout.setSpacing(10)
        layout.addWidget(label("Connect a channel", "heading"))
        layout.addWidget(
            label(
                "Messages from this channel will arrive in your inbox and the assistant will"
                " draft replies. Nothing is sent automatically until you switch the channel to"
                " auto.",
                "muted",
                wrap=True,
            )
        )
        self.banner = Banner()
        layout.addWidget(self.banner)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(12)
        self.platform = QComboBox()
        self.platform.setAccessibleName("Platform")
        for key in ("messenger", "instagram", "whatsapp", "viber", "webchat"):
            self.platform.addItem(channel_icon(key), PLATFORM_NAMES[key], key)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Butiku Arta – Prishtinë (optional)")
        self.name.setAccessibleName("Channel name")
        form.addRow(_row_label("Platform"), self.platform)
        form.addRow(_row_label("Name"), self.name)
        layout.addLayout(form)

        self.pages = QStackedWidget()
        self.inputs: dict[str, dict[str, QLineEdit]] = {}
        for key, fields in _FIELDS.items():
            page = QWidget()
            page_form = QFormLayout(page)
            page_form.setContentsMargins(0, 0, 0, 0)
            page_form.setHorizontalSpacing(12)  # as the form above: the fields line up
            page_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            self.inputs[key] = {}
            if not fields:
                page_form.addRow(
                    label(
                        "A chat box for your own website. After connecting, the channel shows"
                        " the snippet to paste into your site.",
                        "hint",
                        wrap=True,
                    )
                )
            for f in fields:
                edit = QLineEdit()
                edit.setAccessibleName(f.label)
                edit.setToolTip(f.help)
                if f.secret:
                    edit.setEchoMode(QLineEdit.EchoMode.Password)
                edit.textChanged.connect(self._live)
                page_form.addRow(_row_label(f.label), edit)
                page_form.addRow(_row_label(""), label(f.help, "hint", wrap=True))
                self.inputs[key][f.name] = edit
            self.pages.addWidget(page)
        layout.addWidget(self.pages)
        self.problem = label("", "fieldError", wrap=True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setProperty("kind", "primary")
        self.buttons.addButton(self.connect_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.platform.currentIndexChanged.connect(self._platform_changed)
        self._touched = False
        self.set_platform(platform)

    @property
    def current_platform(self) -> Platform:
        value: Platform = self.platform.currentData()
        return value

    def set_platform(self, platform: Platform) -> None:
        self.platform.setCurrentIndex(max(self.platform.findData(platform), 0))
        self._platform_changed()

    def _platform_changed(self, *_: object) -> None:
        self.pages.setCurrentIndex(self.platform.currentIndex())
        self.problem.clear()
        self._touched = False

    def field(self, name: str) -> QLineEdit:
        return self.inputs[self.current_platform][name]

    def _live(self) -> None:
        if self._touched:
            self.validate()

    def validate(self) -> bool:
        self._touched = True
        problems: list[str] = []
        for f in _FIELDS[self.current_platform]:
            edit = self.inputs[self.current_platform][f.name]
            problem = validate_field(f, edit.text())
            set_invalid(edit, problem is not None)
            if problem:
                problems.append(problem)
        self.problem.setText("\n".join(problems))
        return not problems

    def values(self) -> ConnectChannel:
        platform = self.current_platform
        fields = {name: edit.text().strip() for name, edit in self.inputs[platform].items()}
        return ConnectChannel(platform=platform, name=self.name.text().strip() or None, **fields)

    def _submit(self) -> None:
        if self.validate():
            self.connect_button.setEnabled(False)
            self.connect_button.setText("Connecting…")
            self.submitted.emit(self.values())

    def connected(self) -> None:
        self.accept()

    def failed(self, words: str) -> None:
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Connect")
        self.banner.show_message("error", words)
