"""Drafting replies: the LLM drafter, the extractive fallback and their shared checks."""

from __future__ import annotations

from desktop.core.drafting.config import DEFAULT_PRICES, AIConfig, ModelPrice
from desktop.core.drafting.extractive import ExtractiveDrafter
from desktop.core.drafting.intents import handoff_topic, promises_follow_up, wants_human
from desktop.core.drafting.language import detect_language
from desktop.core.drafting.llm import LLMDrafter
from desktop.core.drafting.models import (
    BusinessProfile,
    Draft,
    Drafter,
    DraftRequest,
    Turn,
    Usage,
)
from desktop.core.drafting.pii import mask_pii, restore_pii

__all__ = [
    "DEFAULT_PRICES",
    "AIConfig",
    "BusinessProfile",
    "Draft",
    "DraftRequest",
    "Drafter",
    "ExtractiveDrafter",
    "LLMDrafter",
    "ModelPrice",
    "Turn",
    "Usage",
    "detect_language",
    "handoff_topic",
    "mask_pii",
    "promises_follow_up",
    "restore_pii",
    "wants_human",
]
