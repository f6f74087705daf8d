"""Settings: the business profile, opening hours, hand-off rules, the AI connection,
saved replies, the look, and the account."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.autopilot import OpeningHours
from desktop.core.drafting.messages import MESSAGE_LANGUAGES, CannedMessages, MessageKind, canned
from desktop.core.settings import AppSettings
from desktop.ui.widgets.common import Banner, button, guard_wheel, label, repolish, set_invalid

__all__ = ["LANGUAGES", "TOPICS", "SettingsScreen"]

_MESSAGE_KINDS: tuple[tuple[MessageKind, str], ...] = (
    ("handoff", "Hand-off message"),
    ("away", "Away message"),
    ("courtesy", "Courtesy message"),
    ("limit", "Limit message"),
)
_MESSAGE_LANGUAGE_NAMES = {
    "en": "English",
    "sq": "Albanian",
    "sr-Latn": "Serbian (Latin)",
    "sr-Cyrl": "Serbian (Cyrillic)",
    "it": "Italian",
    "de": "German",
}

LANGUAGES: tuple[tuple[str, str], ...] = (
    ("sq", "Albanian"),
    ("sr", "Serbian"),
    ("en", "English"),
    ("de", "German"),
    ("tr", "Turkish"),
)
TOPICS: tuple[tuple[str, str], ...] = (
    ("refund", "Refunds"),
    ("complaint", "Complaints"),
    ("cancellation", "Cancellations"),
    ("warranty", "Warranty claims"),
    ("damaged", "Damaged goods"),
)
_TONES = ("friendly and concise", "warm and polite", "short and direct", "formal")
_MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5-mini", "gpt-4o")
_ZONES = ("Europe/Belgrade", "Europe/Tirane", "Europe/Berlin", "Europe/Istanbul", "UTC")


def _label(text: str) -> QLabel:
    """Row labels of one width in every group, so the fields line up down the page."""
    widget = QLabel(text)
    widget.setFixedWidth(130)
    widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return widget


def _group(title: str) -> tuple[QGroupBox, QFormLayout]:
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setVerticalSpacing(10)
    form.setHorizontalSpacing(14)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return box, form


class SettingsScreen(QWidget):
    """Edits a copy of :class:`AppSettings`; ``save_requested`` carries the new one."""

    save_requested = Signal(object)  # AppSettings
    sign_out_requested = Signal()
    theme_changed = Signal(str)
    autostart_changed = Signal(bool)
    remove_reply_requested = Signal(int)
    add_reply_requested = Signal(str)
    #: "Test connection" with the settings as edited (AppSettings), saved or not.
    test_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings: AppSettings | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        # Messages and the save buttons stay in view however far the page is scrolled.
        self.banner = Banner(margins=(24, 10, 24, 0))
        outer.addWidget(self.banner)
        scroll = self.page = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll, 1)
        body = QWidget()
        body.setMaximumWidth(980)
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(14)
        layout.addWidget(label("Settings", "title"))
        layout.addWidget(
            label("How the assistant speaks for your shop, and when it steps aside.", "muted")
        )

        # ---- business profile ------------------------------------------------------
        box, form = _group("Your business")
        self.shop_name = QLineEdit()
        self.shop_name.setAccessibleName("Shop name")
        self.tone = QComboBox()
        self.tone.setEditable(True)
        self.tone.addItems(_TONES)
        self.tone.setAccessibleName("Tone")
        languages = QHBoxLayout()
        languages.setSpacing(18)
        self.languages: dict[str, QCheckBox] = {}
        for code, name in LANGUAGES:
            box_ = QCheckBox(name)
            self.languages[code] = box_
            languages.addWidget(box_)
        languages.addStretch(1)
        self.rules = QPlainTextEdit()
        self.rules.setPlaceholderText(
            "One rule per line, e.g.\nNever promise a delivery date.\nPrices are in euros."
        )
        self.rules.setFixedHeight(80)
        form.addRow(_label("Shop name"), self.shop_name)
        form.addRow(_label("Tone"), self.tone)
        form.addRow(_label("Answers in"), languages)
        form.addRow(_label("Rules"), self.rules)
        layout.addWidget(box)

        # ---- hours and hand-off ----------------------------------------------------
        box, form = _group("Opening hours and hand-off")
        hours_row = QHBoxLayout()
        self.hours = QLineEdit()
        self.hours.setPlaceholderText("e.g. Mon-Fri 9-18, Sat 10-14 (empty: always open)")
        self.hours.setAccessibleName("Opening hours")
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.addItems(_ZONES)
        hours_row.addWidget(self.hours, 1)
        hours_row.addWidget(self.zone)
        self.hours_error = label("", "fieldError")
        # Canned messages per language: pick a language, edit its four texts.
        self.message_language = QComboBox()
        self.message_language.setAccessibleName("Language of the messages")
        for tag in MESSAGE_LANGUAGES:
            self.message_language.addItem(_MESSAGE_LANGUAGE_NAMES.get(tag, tag), tag)
        self.message_edits: dict[MessageKind, QPlainTextEdit] = {}
        for kind, title in _MESSAGE_KINDS:
            edit = QPlainTextEdit()
            edit.setFixedHeight(46)
            edit.setAccessibleName(title)
            self.message_edits[kind] = edit
        self.away = self.message_edits["away"]
        self.handoff = self.message_edits["handoff"]
        self._messages: dict[str, CannedMessages] = {}
        self._shown_language = MESSAGE_LANGUAGES[0]
        self.message_language.currentIndexChanged.connect(lambda _: self._show_messages())
        topics = QGridLayout()
        topics.setHorizontalSpacing(18)
        topics.setVerticalSpacing(8)
        self.topics: dict[str, QCheckBox] = {}
        for i, (code, name) in enumerate(TOPICS):
            check = QCheckBox(name)
            self.topics[code] = check
            topics.addWidget(check, i // 3, i % 3)
        self.hours_error.hide()
        hours_field = QVBoxLayout()
        hours_field.setSpacing(2)
        hours_field.addLayout(hours_row)
        hours_field.addWidget(self.hours_error)
        form.addRow(_label("Opening hours"), hours_field)
        form.addRow(_label("Messages in"), self.message_language)
        for kind, title in _MESSAGE_KINDS:
            form.addRow(_label(title), self.message_edits[kind])
        form.addRow(_label("A person answers"), topics)
        form.addRow(
            _label(""),
            label(
                "Messages about these topics always wait for you, in every channel and mode.",
                "hint",
                wrap=True,
            ),
        )
        layout.addWidget(box)

        # ---- AI --------------------------------------------------------------------
        box, form = _group("AI model")
        self.endpoint = QLineEdit()
        self.endpoint.setPlaceholderText(
            "Empty: OpenAI. Or your Clientora service, or a local server ending in /v1"
        )
        self.endpoint.setAccessibleName("AI endpoint")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(_MODELS)
        self.model.setAccessibleName("Model")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("sk-…  (kept in this computer's secret storage)")
        self.api_key.setAccessibleName("API key")
        self.mask_pii = QCheckBox(
            "Hide customers' phones, e-mails, cards, IBANs, addresses and ID numbers from the AI"
        )
        self.endpoint_error = label("", "fieldError")
        self.endpoint_error.hide()
        endpoint_field = QVBoxLayout()
        endpoint_field.setSpacing(2)
        endpoint_field.addWidget(self.endpoint)
        endpoint_field.addWidget(self.endpoint_error)
        form.addRow(_label("Endpoint"), endpoint_field)
        form.addRow(_label("Model"), self.model)
        form.addRow(_label("API key"), self.api_key)
        form.addRow(_label(""), self.mask_pii)
        self.test_button = button(
            "Test connection", "link", tip="Ask the AI service for a one-word answer and a vector"
        )
        self.test_result = label("", "hint", wrap=True)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.test_result, 1)
        form.addRow(_label(""), test_row)
        form.addRow(
            _label(""),
            label(
                "Without a key the assistant still answers, from your FAQs and"
                " offers only, and hands everything else to you.",
                "hint",
                wrap=True,
            ),
        )
        layout.addWidget(box)

        footer = QFrame()
        footer.setObjectName("Footer")
        row = QHBoxLayout(footer)
        row.setContentsMargins(24, 8, 24, 10)
        self.save_button = button("Save changes", "approve", "primary")
        self.revert_button = button("Undo changes", "regenerate", "flat")
        self.saved_note = label("", "hint")
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(6000)
        self._note_timer.timeout.connect(self.saved_note.clear)
        row.addWidget(self.saved_note, 1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        outer.addWidget(footer)

        # ---- saved replies, look, account ---------------------------------------------
        box, form = _group("Saved replies")
        self.replies = QListWidget()
        self.replies.setFixedHeight(120)
        self.replies.setAccessibleName("Saved replies")
        reply_row = QHBoxLayout()
        self.new_reply = QLineEdit()
        self.new_reply.setPlaceholderText("Write a reply to keep for later and press Add")
        self.add_reply = button("Add", "plus")
        self.remove_reply = button("Remove", "trash", "danger")
        reply_row.addWidget(self.new_reply, 1)
        reply_row.addWidget(self.add_reply)
        reply_row.addWidget(self.remove_reply)
        form.addRow(self.replies)
        form.addRow(reply_row)
        layout.addWidget(box)

        box, form = _group("Look and account")
        self.theme = QComboBox()
        for value, text in (("system", "Like the system"), ("light", "Light"), ("dark", "Dark")):
            self.theme.addItem(text, value)
        self.account = label("", wrap=True)
        self.sign_out = button("Sign out", "sign-out", "danger")
        account_row = QHBoxLayout()
        account_row.addWidget(self.account, 1)
        account_row.addWidget(self.sign_out)
        self.autostart = QCheckBox("Start Clientora when this computer starts")
        self.autostart.setToolTip("It opens minimised and keeps answering in the background.")
        form.addRow(_label("Appearance"), self.theme)
        form.addRow(_label(""), self.autostart)
        form.addRow(_label("Account"), account_row)
        layout.addWidget(box)
        layout.addStretch(1)

        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.sign_out.clicked.connect(self.sign_out_requested)
        self.theme.activated.connect(lambda _: self.theme_changed.emit(self.theme.currentData()))
        self.autostart.clicked.connect(self.autostart_changed)
        self.add_reply.clicked.connect(self._add_reply)
        self.new_reply.returnPressed.connect(self._add_reply)
        self.remove_reply.clicked.connect(
            lambda: (
                self.remove_reply_requested.emit(self.replies.currentRow())
                if self.replies.currentRow() >= 0
                else None
            )
        )
        self.hours.textChanged.connect(lambda _: self.check_hours())
        self.zone.currentTextChanged.connect(lambda _: self.check_hours())
        self.endpoint.textChanged.connect(lambda _: self.check_endpoint())
        self.test_button.clicked.connect(self._test)
        guard_wheel(body, scroll)

    # ---- filling and reading ------------------------------------------------------------

    def set_autostart(self, on: bool) -> None:
        self.autostart.setChecked(on)

    def set_settings(self, settings: AppSettings) -> None:
        self._settings = settings
        profile = settings.profile
        self.shop_name.setText(profile.name)
        self.tone.setCurrentText(profile.tone)
        for code, check in self.languages.items():
            check.setChecked(code in profile.languages)
        self.rules.setPlainText("\n".join(profile.rules))
        self.hours.setText(settings.hours.spec or "")
        self.zone.setCurrentText(settings.hours.timezone)
        self._messages = {tag: canned(profile.messages, tag) for tag in MESSAGE_LANGUAGES}
        self._messages.update(profile.messages)
        self._shown_language = self.message_language.currentData() or MESSAGE_LANGUAGES[0]
        self._fill_messages()
        for code, check in self.topics.items():
            check.setChecked(code in profile.handoff_topics)
        self.endpoint.setText(settings.ai.base_url or "")
        self.model.setCurrentText(settings.ai.model)
        self.api_key.setText(settings.ai.api_key or "")
        self.mask_pii.setChecked(settings.ai.mask_pii)
        self.banner.hide()

    def set_account(self, text: str, can_sign_out: bool) -> None:
        self.account.setText(text)
        self.sign_out.setVisible(can_sign_out)

    def set_theme(self, scheme: str) -> None:
        self.theme.setCurrentIndex(max(self.theme.findData(scheme), 0))

    def set_saved_replies(self, replies: Sequence[tuple[str, str]]) -> None:
        self.replies.clear()
        for title, text in replies:
            self.replies.addItem(f"{title} — {' '.join(text.split())}")

    def _add_reply(self) -> None:
        text = self.new_reply.text().strip()
        if text:
            self.add_reply_requested.emit(text)
            self.new_reply.clear()

    def check_hours(self) -> bool:
        spec = self.hours.text().strip()
        try:
            OpeningHours(spec=spec or None, timezone=self.zone.currentText()).periods()
            ZoneInfo(self.zone.currentText().strip() or "UTC")
        except (ValueError, ZoneInfoNotFoundError) as exc:
            words = (
                str(exc).strip("'\"")
                if isinstance(exc, ValueError)
                else (f"unknown time zone {self.zone.currentText()!r}")
            )
            self.hours_error.setText(words[:1].upper() + words[1:] + ".")
            self.hours_error.show()
            set_invalid(self.hours, True)
            return False
        self.hours_error.setText("")
        self.hours_error.hide()
        set_invalid(self.hours, False)
        return True

    def check_endpoint(self) -> bool:
        url = self.endpoint.text().strip()
        bad = bool(url) and not url.startswith(("http://", "https://"))
        self.endpoint_error.setText(
            "The address starts with https:// (or http:// for a server on this computer)."
            if bad
            else ""
        )
        self.endpoint_error.setVisible(bad)
        set_invalid(self.endpoint, bad)
        return not bad

    def _fill_messages(self) -> None:
        shown = self._messages.get(self._shown_language) or canned({}, self._shown_language)
        for kind, edit in self.message_edits.items():
            edit.setPlainText(shown.get(kind))

    def _keep_messages(self) -> None:
        """Remember the texts shown for the language on screen (empty keeps the old one)."""
        old = self._messages.get(self._shown_language) or canned({}, self._shown_language)
        texts = {k: e.toPlainText().strip() or old.get(k) for k, e in self.message_edits.items()}
        self._messages[self._shown_language] = CannedMessages(**texts)

    def _show_messages(self) -> None:
        self._keep_messages()
        self._shown_language = self.message_language.currentData() or MESSAGE_LANGUAGES[0]
        self._fill_messages()

    def _edited_messages(self) -> dict[str, CannedMessages]:
        self._keep_messages()
        return dict(self._messages)

    def values(self) -> AppSettings | None:
        """The edited settings, or None (with the problems shown) when something is wrong."""
        base = self._settings
        if base is None:
            return None
        ok = self.check_hours() & self.check_endpoint()
        name = self.shop_name.text().strip()
        set_invalid(self.shop_name, not name)
        languages = tuple(code for code, check in self.languages.items() if check.isChecked())
        if not name:
            self.banner.show_message("error", "Give your shop a name.")
            return None
        if not languages:
            self.banner.show_message("error", "Choose at least one language to answer in.")
            return None
        if not ok:
            self.banner.show_message("error", "Some fields need fixing (marked in red).")
            return None
        spec = self.hours.text().strip() or None
        profile = msgspec.structs.replace(
            base.profile,
            name=name,
            tone=self.tone.currentText().strip() or "friendly and concise",
            languages=languages,
            rules=tuple(r.strip() for r in self.rules.toPlainText().splitlines() if r.strip()),
            hours=spec,
            messages=self._edited_messages(),
            handoff_topics=tuple(c for c, check in self.topics.items() if check.isChecked()),
        )
        ai = msgspec.structs.replace(
            base.ai,
            base_url=self.endpoint.text().strip() or None,
            model=self.model.currentText().strip() or base.ai.model,
            api_key=self.api_key.text().strip() or None,
            mask_pii=self.mask_pii.isChecked(),
        )
        hours = OpeningHours(spec=spec, timezone=self.zone.currentText().strip() or "UTC")
        return msgspec.structs.replace(base, profile=profile, ai=ai, hours=hours)

    def _test(self) -> None:
        values = self.values()
        if values is not None:
            self.test_button.setEnabled(False)
            self.test_result.setText("Asking the AI service…")
            self.test_requested.emit(values)

    def tested(self, lines: Sequence[tuple[bool, str]]) -> None:
        """Show how the connection test went, one line per thing tried."""
        self.test_button.setEnabled(True)
        self.test_result.setText("\n".join(("✓ " if ok else "✗ ") + words for ok, words in lines))
        self.test_result.setProperty("role", "hint" if all(ok for ok, _ in lines) else "fieldError")
        repolish(self.test_result)

    def save(self) -> None:
        values = self.values()
        if values is not None:
            self.save_button.setEnabled(False)
            self.save_requested.emit(values)

    def revert(self) -> None:
        if self._settings is not None:
            self.set_settings(self._settings)

    def saved(self, settings: AppSettings) -> None:
        self.save_button.setEnabled(True)
        self.set_settings(settings)
        self.saved_note.setText("Saved. The assistant uses these settings from its next reply.")
        self._note_timer.start()

    def failed(self, words: str) -> None:
        self.save_button.setEnabled(True)
        self.banner.show_message("error", words)
