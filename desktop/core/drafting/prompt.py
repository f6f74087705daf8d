"""The drafting prompt: templates from resources/prompts filled with shop, knowledge and talk."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Final, Literal

from common.channels import TEXT_LIMITS, Platform
from desktop.core.drafting.language import LANGUAGE_NAMES
from desktop.core.drafting.models import DraftRequest, Turn
from desktop.core.kb.models import SearchHit

__all__ = [
    "MAX_KNOWLEDGE_CHARS",
    "MAX_TURNS",
    "OUTPUT_SCHEMA",
    "language_instruction",
    "render_messages",
    "render_repair",
    "response_format",
]

#: Retrieved text given to the model, in characters (about 3k tokens): bounds cost per draft.
MAX_KNOWLEDGE_CHARS: Final = 12_000
_MAX_CHUNK_CHARS: Final = 3_000
#: Recent turns shown to the model; older ones rarely change the answer and cost tokens.
MAX_TURNS: Final = 12
_MAX_TURN_CHARS: Final = 1_500

_PLATFORM_NAMES: Final[dict[Platform, str]] = {
    "messenger": "Facebook Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "webchat": "the shop's web chat",
}

#: The reply's structure for OpenAI Structured Outputs (strict: closed, every field required).
OUTPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string", "description": "The message to send to the customer."},
        "cited_chunk_ids": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Ids of the knowledge chunks the reply uses.",
        },
        "confidence": {"type": "number", "description": "0.0 to 1.0."},
        "handoff": {"type": "boolean", "description": "True when a person must take over."},
        "handoff_reason": {"type": ["string", "null"], "description": "Why, in English."},
    },
    "required": ["reply", "cited_chunk_ids", "confidence", "handoff", "handoff_reason"],
    "additionalProperties": False,
}

# Our own section markers; customer text must not be able to close or open one.
_MARKERS: Final = re.compile(r"<(/?)(chunk|knowledge|conversation|message)\b", re.IGNORECASE)


@cache
def _template(name: str) -> Template:
    text = resources.files("resources").joinpath("prompts", name).read_text(encoding="utf-8")
    return Template(text)


def response_format(mode: Literal["json_schema", "json_object"]) -> dict[str, Any]:
    """The ``response_format`` request field for the configured structured-output mode."""
    if mode == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": "draft_reply", "strict": True, "schema": OUTPUT_SCHEMA},
    }


def language_instruction(language: str, *, cyrillic: bool, fallback: str) -> str:
    """The sentence that tells the model which language (and script) to reply in."""
    name = LANGUAGE_NAMES.get(language)
    if name is None:
        fallback_name = LANGUAGE_NAMES.get(fallback, fallback)
        return (
            "Reply in the language the customer writes in; if you cannot tell, "
            f"reply in {fallback_name}."
        )
    script = ""
    if language == "sr":
        script = " in Cyrillic script" if cyrillic else " in Latin script"
    return (
        f"The customer writes in {name}: reply in {name}{script}, "
        "even where the knowledge is written in another language."
    )


def _neutralise(text: str) -> str:
    return _MARKERS.sub(lambda m: f"‹{m.group(1)}{m.group(2)}", text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_knowledge(hits: Sequence[SearchHit]) -> str:
    """Retrieved chunks with their ids, best first, within :data:`MAX_KNOWLEDGE_CHARS`."""
    blocks: list[str] = []
    used = 0
    for hit in hits:
        context = " › ".join((hit.title, *hit.heading_path)) if hit.heading_path else hit.title
        source = f' source="{_neutralise(hit.source)}"' if hit.source else ""
        block = (
            f'<chunk id="{hit.chunk_id}" type="{hit.item_type}"{source}>\n'
            f"{_neutralise(context)}\n{_neutralise(_clip(hit.text, _MAX_CHUNK_CHARS))}\n</chunk>"
        )
        if blocks and used + len(block) > MAX_KNOWLEDGE_CHARS:
            break
        blocks.append(block)
        used += len(block)
    return "\n\n".join(blocks) if blocks else "(no knowledge was found for this message)"


def render_conversation(turns: Sequence[Turn], customer_texts: Sequence[str]) -> str:
    """The recent turns; ``customer_texts`` are the (masked) texts to show for each turn."""
    recent = list(zip(turns, customer_texts, strict=True))[-MAX_TURNS:]
    lines = []
    for turn, text in recent:
        who = "customer" if turn.role == "customer" else "shop"
        lines.append(
            f'<message from="{who}">\n{_neutralise(_clip(text, _MAX_TURN_CHARS))}\n</message>'
        )
    return "\n".join(lines)


def render_messages(
    request: DraftRequest,
    *,
    language: str,
    cyrillic: bool,
    turn_texts: Sequence[str],
) -> list[dict[str, str]]:
    """The chat messages for one draft: rules and shop first (stable, cacheable), then data."""
    profile = request.profile
    last_ms = max((t.timestamp_ms for t in request.turns), default=0)
    today = dt.datetime.fromtimestamp(last_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")
    rules = "".join(f"- {rule}\n" for rule in profile.rules)
    system = _template("draft_system.md").substitute(
        business_name=profile.name,
        platform_name=_PLATFORM_NAMES[request.platform],
        language_instruction=language_instruction(
            language,
            cyrillic=cyrillic,
            fallback=profile.languages[0] if profile.languages else "en",
        ),
        tone=profile.tone,
        char_limit=TEXT_LIMITS[request.platform],
        handoff_topics=", ".join(profile.handoff_topics) or "(none)",
        today=today,
        shop_rules=f"\n# The shop's own rules\n\n{rules}" if rules else "",
        hours=profile.hours or "not given",
    )
    user = _template("draft_user.md").substitute(
        knowledge=render_knowledge(request.hits),
        conversation=render_conversation(request.turns, turn_texts),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_repair(problem: str) -> str:
    """The follow-up message asking the model to answer again in the required form."""
    return _template("draft_repair.md").substitute(problem=problem)
