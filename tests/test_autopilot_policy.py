"""The autopilot's decisions, opening hours and shadow-mode agreement."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from msgspec.structs import replace

from desktop.core.autopilot import (
    ChannelPolicy,
    Facts,
    OpeningHours,
    UsageLimit,
    agreement,
    ai_budget_resets,
    decide,
    sending_paused,
)
from desktop.core.drafting import Draft

GOOD = Draft(
    reply="Po, kemi.",
    language="sq",
    drafter="llm",
    cited_chunk_ids=("c1",),
    confidence=0.92,
    grounded=True,
)
OPEN = Facts(window_open=True, within_limits=True, owner_took_over=False)
AUTO = ChannelPolicy(mode="auto", threshold=0.8)


def test_auto_sends_only_a_grounded_confident_draft_inside_the_rules() -> None:
    """Auto mode sends when every condition holds, and names the one that fails otherwise."""
    assert decide(AUTO, GOOD, OPEN).action == "send"
    cases = {
        "not backed": (replace(GOOD, grounded=False, cited_chunk_ids=()), OPEN),
        "below": (replace(GOOD, confidence=0.5), OPEN),
        "window": (GOOD, Facts(window_open=False, within_limits=True, owner_took_over=False)),
        "limit": (GOOD, Facts(window_open=True, within_limits=False, owner_took_over=False)),
        "opening hours": (GOOD, Facts(True, True, False, open_now=False)),
        "refund": (
            replace(GOOD, handoff=True, handoff_reason="A refund: a person decides."),
            OPEN,
        ),
    }
    for words, (draft, facts) in cases.items():
        decision = decide(AUTO, draft, facts)
        assert decision.action == "wait"
        assert decision.reason is not None and words in decision.reason.lower(), decision.reason


def test_manual_waits_and_shadow_stays_silent() -> None:
    """Manual mode always waits for approval; shadow mode never sends; a takeover silences all."""
    assert decide(ChannelPolicy(mode="manual"), GOOD, OPEN).action == "wait"
    assert decide(ChannelPolicy(mode="shadow"), GOOD, OPEN).action == "silent"
    took_over = Facts(window_open=True, within_limits=True, owner_took_over=True)
    assert decide(AUTO, GOOD, took_over).action == "silent"


def test_opening_hours_in_the_shops_time_zone() -> None:
    """Hours are read in the shop's zone, including a period that runs past midnight."""
    hours = OpeningHours(
        spec="Mon-Fri 9-18, Sat 10:00-14:00, Sun 20-02", timezone="Europe/Belgrade"
    )
    # 2026-11-30 is a Monday; Belgrade is UTC+1 in winter.
    assert hours.is_open(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))  # 09:30 local
    assert not hours.is_open(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))  # 18:30 local
    assert hours.is_open(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # Saturday 13:00
    assert hours.is_open(
        datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    )  # Monday 01:30, Sunday's late period
    assert OpeningHours().is_open(datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="opening hours"):
        OpeningHours(spec="weekdays nine to five").periods()


def test_agreement_scores_paraphrase_above_unrelated() -> None:
    """Shadow scoring rates a near-identical reply high and an unrelated one low."""
    same = agreement("Po, jemi hapur deri në 22:00!", "po jemi hapur deri ne 22:00")
    other = agreement("Po, jemi hapur deri në 22:00!", "Çmimi është 5 euro.")
    assert same > 0.8
    assert other < 0.4
    assert agreement("", "x") == 0.0


def test_a_used_up_sending_limit_holds_auto_mode_until_the_period_resets() -> None:
    """The relay's usage report at 100 % pauses automatic replies with the reset date; a new
    period (or a limit not yet reached) lets them go again."""
    sending = UsageLimit(metric="outbound_messages", used=1000, limit=1000, resets_on="2026-12-01")
    reason = sending_paused([sending], date(2026, 11, 20))
    assert reason is not None and "2026-12-01" in reason
    facts = Facts(window_open=True, within_limits=False, owner_took_over=False, limit_reason=reason)
    assert decide(AUTO, GOOD, facts).reason == reason
    assert sending_paused([sending], date(2026, 12, 1)) is None
    assert sending_paused([replace(sending, used=800)], date(2026, 11, 20)) is None


def test_the_ai_budget_comes_back_when_its_period_does() -> None:
    """A used-up AI gateway budget names the day it resets; other metrics do not count."""
    tokens = UsageLimit(metric="ai_tokens", used=2e6, limit=2e6, resets_on="2026-12-01")
    sending = UsageLimit(metric="outbound_messages", used=5, limit=1000, resets_on="2026-12-01")
    assert ai_budget_resets([tokens, sending], date(2026, 11, 20)) == date(2026, 12, 1)
    assert ai_budget_resets([tokens], date(2026, 12, 2)) is None
    assert ai_budget_resets([sending], date(2026, 11, 20)) is None
