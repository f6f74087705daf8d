"""Usage and results: messages, tokens and cost per day against the plan, and what the
assistant achieved (resolved, handed off, first response, shadow agreement, nothing lost)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.engine import AssistantStats, DayUsage, UsageReport
from desktop.core.store import UsageNotice
from desktop.ui.theme import DARK, LIGHT, is_dark
from desktop.ui.widgets.common import Banner, button, card, label, repolish

__all__ = ["METRICS", "UsageScreen", "duration_words", "limit_warnings"]

#: (metric key at the relay, what the owner calls it, how to print an amount)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("outbound_messages", "Messages sent", "{:,.0f}"),
    ("ai_tokens", "AI tokens", "{:,.0f}"),
    ("ai_cost_usd", "AI cost", "${:,.2f}"),
)
#: A meter turns to a warning at this share of its limit.
WARN_SHARE = 0.8


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{minutes} min"
    hours, rest = divmod(int(seconds) // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def limit_warnings(report: UsageReport, notices: Sequence[UsageNotice]) -> list[str]:
    """Sentences warning of limits near or reached (report figures, then relay notices)."""
    found: dict[str, str] = {}
    for key, name, fmt in METRICS:
        limit = report.limits.get(key, 0.0)
        used = report.month.get(key, 0.0)
        if limit > 0 and used >= WARN_SHARE * limit:
            share = used / limit
            state = "reached" if share >= 1 else f"at {share:.0%}"
            consequence = (
                " Automatic replies are paused until it resets."
                if share >= 1 and key != "ai_tokens"
                else ""
            )
            found[key] = (
                f"{name} this month: {fmt.format(used)} of {fmt.format(limit)} — limit {state}."
                f"{consequence} It resets on {report.resets_on}."
            )
    for notice in notices:
        if notice.metric not in found and notice.share >= WARN_SHARE:
            name = next((n for k, n, _ in METRICS if k == notice.metric), notice.metric)
            found[notice.metric] = (
                f"{name}: {notice.share:.0%} of this month's limit used; it resets on"
                f" {notice.resets_on}."
            )
    return list(found.values())


class _Meter(QFrame):
    """One monthly limit: used of limit as a bar that turns amber, then red."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("card", True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(6)
        layout.addWidget(label(title, "section"))
        self.value = label("–", "big")
        layout.addWidget(self.value)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        layout.addWidget(self.bar)
        self.note = label("", "hint")
        layout.addWidget(self.note)

    def set_usage(self, used: float, limit: float, fmt: str, resets_on: str) -> None:
        self.value.setText(fmt.format(used))
        if limit > 0:
            share = used / limit
            self.bar.setValue(min(1000, round(share * 1000)))
            self.note.setText(f"of {fmt.format(limit)} this month · resets {resets_on}")
            level = "danger" if share >= 1 else "warning" if share >= WARN_SHARE else ""
        else:
            self.bar.setValue(0)
            self.note.setText("this month · no limit on your plan")
            level = ""
        self.bar.setProperty("level", level)
        repolish(self.bar)


class _Stat(QFrame):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("card", True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(2)
        layout.addWidget(label(title, "section"))
        self.value = label("–", "big")
        layout.addWidget(self.value)
        self.note = label("", "hint", wrap=True)
        layout.addWidget(self.note)

    def set(self, value: str, note: str = "") -> None:
        self.value.setText(value)
        self.note.setText(note)


class UsageScreen(QWidget):
    """Charts and figures; ``period_changed`` asks the controller for another range."""

    period_changed = Signal(int)  # days
    refresh_requested = Signal()

    PERIODS = ((7, "Last 7 days"), (14, "Last 14 days"), (30, "Last 30 days"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(14)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(label("Usage and results", "title"))
        titles.addWidget(
            label(
                "What your plan allows, what you used, and what the assistant did for you.", "muted"
            )
        )
        head.addLayout(titles, 1)
        self.period = QComboBox()
        self.period.setAccessibleName("Period")
        for days, text in self.PERIODS:
            self.period.addItem(text, days)
        self.refresh = button("Refresh", "regenerate")
        head.addWidget(self.period, 0, Qt.AlignmentFlag.AlignBottom)
        head.addWidget(self.refresh, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)
        self.warning = Banner()
        layout.addWidget(self.warning)
        self.banner = Banner()
        layout.addWidget(self.banner)

        meters = QHBoxLayout()
        meters.setSpacing(12)
        self.meters: dict[str, _Meter] = {}
        for key, title, _ in METRICS:
            meter = _Meter(f"{title} this month")
            self.meters[key] = meter
            meters.addWidget(meter)
        layout.addLayout(meters)

        charts = QGridLayout()
        charts.setSpacing(12)
        self.messages_chart = self._chart_view("Messages per day")
        self.tokens_chart = self._chart_view("AI tokens per day")
        self.cost_chart = self._chart_view("AI cost per day (USD)")
        charts.addWidget(self.messages_chart, 0, 0, 1, 2)
        charts.addWidget(self.tokens_chart, 1, 0)
        charts.addWidget(self.cost_chart, 1, 1)
        layout.addLayout(charts)

        layout.addWidget(label("Results", "heading"))
        stats = QHBoxLayout()
        stats.setSpacing(12)
        self.conversations = _Stat("Conversations")
        self.resolved = _Stat("Answered by the assistant")
        self.handed_off = _Stat("Handed to you")
        self.first_response = _Stat("First reply (median)")
        for widget in (self.conversations, self.resolved, self.handed_off, self.first_response):
            stats.addWidget(widget)
        layout.addLayout(stats)
        lower = QHBoxLayout()
        lower.setSpacing(12)
        self.delivery = _Stat("Nothing lost")
        lower.addWidget(self.delivery, 1)
        self.shadow_card = card()
        shadow_layout = QVBoxLayout(self.shadow_card)
        shadow_layout.setContentsMargins(16, 12, 16, 12)
        shadow_layout.addWidget(
            label("Shadow mode: would the assistant have been right?", "section")
        )
        self.shadow_rows = QVBoxLayout()
        shadow_layout.addLayout(self.shadow_rows)
        lower.addWidget(self.shadow_card, 1)
        layout.addLayout(lower)
        layout.addStretch(1)
        self.period.currentIndexChanged.connect(
            lambda _: self.period_changed.emit(int(self.period.currentData()))
        )
        self.refresh.clicked.connect(self.refresh_requested)

    @property
    def days(self) -> int:
        return int(self.period.currentData())

    def _chart_view(self, title: str) -> QChartView:
        chart = QChart()
        chart.setTitle(title)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(12)
        layout = chart.layout()
        if layout is not None:
            layout.setContentsMargins(0, 0, 0, 0)
        view = QChartView(chart)
        view.setFrameShape(QFrame.Shape.NoFrame)
        view.setContentsMargins(0, 0, 0, 0)
        view.setStyleSheet("background: transparent")
        view.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.setMinimumHeight(240)
        return view

    def _style(self, chart: QChart) -> None:
        palette = self.palette()
        colors = DARK if is_dark(palette) else LIGHT
        chart.setBackgroundBrush(QColor(colors.base))
        chart.setBackgroundPen(QPen(QColor(colors.border)))
        chart.setTitleBrush(QColor(colors.text))
        title_font = chart.titleFont()
        title_font.setBold(True)
        chart.setTitleFont(title_font)
        chart.legend().setLabelColor(QColor(colors.muted))
        for axis in chart.axes():
            axis.setLabelsColor(QColor(colors.muted))
            axis.setGridLineColor(QColor(colors.border))
            axis.setLinePenColor(QColor(colors.border))

    def set_report(
        self,
        report: UsageReport,
        notices: Sequence[UsageNotice],
        *,
        own_key: bool = False,
        unpriced: Sequence[str] = (),
    ) -> None:
        """Plan usage; with ``own_key`` the AI figures were counted here (no plan limit)."""
        for key, _, fmt in METRICS:
            meter = self.meters[key]
            if own_key and key != "outbound_messages":
                meter.set_usage(report.month.get(key, 0.0), 0.0, fmt, report.resets_on)
                note = "this month · your own AI key, counted on this computer"
                if key == "ai_cost_usd" and unpriced:
                    note = f"this month · unknown price for {', '.join(unpriced)}"
                meter.note.setText(note)
                continue
            meter.set_usage(
                report.month.get(key, 0.0), report.limits.get(key, 0.0), fmt, report.resets_on
            )
        warnings = limit_warnings(report, notices)
        if warnings:
            self.warning.show_message("warning", "\n".join(warnings))
        else:
            self.warning.hide()
        days = report.days
        labels = [_short_day(d.day) for d in days]
        palette = self.palette()
        colors = DARK if is_dark(palette) else LIGHT
        days_in_month = calendar.monthrange(date.today().year, date.today().month)[1]

        messages = self.messages_chart.chart()
        messages.removeAllSeries()
        for axis in messages.axes():
            messages.removeAxis(axis)
        stacked = QStackedBarSeries()
        columns: tuple[tuple[str, str, list[float]], ...] = (
            ("Received", colors.muted, [float(d.inbound) for d in days]),
            ("Sent by the assistant", colors.accent, [float(d.outbound_auto) for d in days]),
            ("Sent by you", "#6d7fcc", [float(d.outbound_manual) for d in days]),
        )
        for name, color, values in columns:
            bar_set = QBarSet(name)
            bar_set.setColor(QColor(color))
            bar_set.setBorderColor(QColor(color))
            for value in values:
                bar_set.append(value)
            stacked.append(bar_set)
        messages.addSeries(stacked)
        peak = max((d.inbound + d.outbound_auto + d.outbound_manual for d in days), default=0)
        daily = report.limits.get("outbound_messages", 0.0) / days_in_month
        self._axes(
            messages, stacked, labels, max(peak, daily), daily, "%.0f", "Sending limit per day"
        )

        per_day: tuple[tuple[QChartView, list[float], str, str, str], ...] = (
            (
                self.tokens_chart,
                [float(d.ai_tokens) for d in days],
                "ai_tokens",
                colors.accent,
                "%.0f",
            ),
            (self.cost_chart, [d.cost_usd for d in days], "ai_cost_usd", "#d0763a", "%.2f"),
        )
        for view, values, key, color, label_format in per_day:
            chart = view.chart()
            chart.removeAllSeries()
            for axis in chart.axes():
                chart.removeAxis(axis)
            series = QBarSeries()
            bar_set = QBarSet("Used")
            bar_set.setColor(QColor(color))
            bar_set.setBorderColor(QColor(color))
            for value in values:
                bar_set.append(value)
            series.append(bar_set)
            chart.addSeries(series)
            daily = report.limits.get(key, 0.0) / days_in_month
            self._axes(
                chart, series, labels, max([*values, daily]), daily, label_format, "Limit per day"
            )
        for view in (self.messages_chart, self.tokens_chart, self.cost_chart):
            self._style(view.chart())

    def _axes(
        self,
        chart: QChart,
        series: QBarSeries | QStackedBarSeries,
        labels: list[str],
        peak: float,
        daily_limit: float,
        label_format: str,
        limit_name: str,
    ) -> None:
        x_axis = QBarCategoryAxis()
        shown = (
            labels
            if len(labels) <= 14
            else [text if i % 3 == 0 else " " * (i % 3 + 1) for i, text in enumerate(labels)]
        )
        x_axis.append(shown)
        y_axis = QValueAxis()
        y_axis.setRange(0, max(peak * 1.1, 0.01 if label_format == "%.2f" else 4.0))
        y_axis.setTickCount(5)
        y_axis.applyNiceNumbers()
        y_axis.setLabelFormat(label_format)
        chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x_axis)
        series.attachAxis(y_axis)
        if daily_limit > 0 and labels:
            # The plan's monthly limit spread over the month: days above it eat the budget.
            # (Dashed, in the danger colour, so it reads as a limit and not as data.)
            line = QLineSeries()
            line.setName(limit_name)
            pen = QPen(self.palette().color(QPalette.ColorRole.BrightText))
            pen.setStyle(Qt.PenStyle.DashLine)
            pen.setWidthF(1.6)
            line.setPen(pen)
            line.append(-0.5, daily_limit)
            line.append(len(labels) - 0.5, daily_limit)
            chart.addSeries(line)
            hidden = QValueAxis()
            hidden.setRange(-0.5, len(labels) - 0.5)
            hidden.setVisible(False)
            chart.addAxis(hidden, Qt.AlignmentFlag.AlignTop)
            line.attachAxis(hidden)
            line.attachAxis(y_axis)

    def set_stats(self, stats: AssistantStats, channel_names: dict[str, str]) -> None:
        total = stats.conversations
        self.conversations.set(f"{total:,}", "with at least one customer message")

        def share(n: int) -> str:
            return f"{n / total:.0%} of conversations" if total else ""

        answered = stats.answered_by_assistant
        replies = f"{stats.auto_replies:,} {'reply' if stats.auto_replies == 1 else 'replies'}"
        self.resolved.set(
            f"{answered:,}",
            " · ".join(part for part in (share(answered), f"{replies} sent on its own") if part),
        )
        self.handed_off.set(f"{stats.handed_off:,}", share(stats.handed_off))
        self.first_response.set(
            duration_words(stats.median_first_response_s),
            "from the customer's message to the first reply",
        )
        stored = stats.stored_cursor
        # The service's newest event is known only once it has said so; what is stored
        # here has arrived in any case.
        received = max(stats.relay_head, stored)
        missing = received - stored
        if received == 0 and total == 0:
            self.delivery.set("–", "Nothing has arrived yet. Messages appear here as they come.")
        elif missing <= 0:
            self.delivery.set(
                "All stored",
                "Every message and receipt that reached Clientora is stored on this computer.",
            )
        else:
            self.delivery.set(
                f"{missing:,} on the way",
                f"{missing:,} still on their way to this computer (they arrive once it is"
                " connected). Nothing is lost: the Clientora service keeps them until then.",
            )
        while self.shadow_rows.count():
            item = self.shadow_rows.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if not stats.shadow:
            self.shadow_rows.addWidget(
                label(
                    "No channel is in shadow mode yet. Put a channel in shadow mode to see how"
                    " often the assistant's draft matches what you send, before trusting it with"
                    " auto mode.",
                    "hint",
                    wrap=True,
                )
            )
        for score in stats.shadow:
            compared, agreed = score.compared, score.agreed
            name = channel_names.get(score.channel_id, score.channel_id)
            if score.topic is not None:
                name = f"    {name}: {score.topic}"
            rate = f"{agreed / compared:.0%}" if compared else "–"
            row = QHBoxLayout()
            row_widget = QWidget()
            row_widget.setLayout(row)
            row.setContentsMargins(0, 2, 0, 2)
            row.addWidget(label(name), 1)
            row.addWidget(label(f"{agreed} of {compared} agreed", "muted"))
            row.addWidget(label(rate, "heading"))
            self.shadow_rows.addWidget(row_widget)


def _short_day(day: str) -> str:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{parsed.day} {parsed.strftime('%b')}"


def empty_days(first: date, last: date, days: Sequence[DayUsage]) -> list[DayUsage]:
    """Every day of the range, with zeros where the relay had nothing (charts need them)."""
    by_day = {d.day: d for d in days}
    result: list[DayUsage] = []
    current = first
    while current <= last:
        key = current.isoformat()
        result.append(by_day.get(key, DayUsage(day=key)))
        current = date.fromordinal(current.toordinal() + 1)
    return result
