"""Sample questions for the test channel, taken from the shop's own FAQs and offers."""

from __future__ import annotations

from collections.abc import Sequence

from desktop.core.kb.models import ItemInfo

__all__ = ["GENERIC", "sample_questions"]

#: When the knowledge base is still empty: questions any shop gets.
GENERIC = (
    "What are your opening hours?",
    "Do you deliver, and how much does it cost?",
    "Can I return something I bought?",
)


def sample_questions(items: Sequence[ItemInfo], limit: int = 4) -> list[str]:
    """Questions a customer of *this* shop might ask: an FAQ put another way first (it
    tests matching, not copying), then its question, then each offer asked about."""
    found: list[str] = []
    faqs = [i for i in items if i.item_type == "faq"]
    offers = [i for i in items if i.item_type == "offer"]
    for faq in faqs:
        found.append(faq.alternatives[0] if faq.alternatives else faq.title)
    for offer in offers:
        found.append(f"Is {offer.title} still available? How much is it?")
    for faq in faqs:
        if faq.alternatives:
            found.append(faq.title)
    unique = list(dict.fromkeys(q.strip() for q in found if q.strip()))
    return unique[:limit] if unique else list(GENERIC)
