"""Reading the model's JSON answer and turning it into a safe draft."""

from __future__ import annotations

import math
import re
from typing import Final

import msgspec

from common.channels import TEXT_LIMITS
from desktop.core.drafting.confidence import LLM_WEIGHTS, llm_features, probability
from desktop.core.drafting.handoff import pending_customer_text, request_tag
from desktop.core.drafting.intents import promises_follow_up
from desktop.core.drafting.matching import support
from desktop.core.drafting.models import Draft, DraftRequest, Usage
from desktop.core.drafting.pii import restore_pii
from desktop.core.drafting.text import trim_to_limit

__all__ = ["UNGROUNDED_CONFIDENCE_CAP", "ModelAnswer", "finish_answer", "parse_answer"]

#: Highest confidence a draft may claim when it cites none of the retrieved chunks.
UNGROUNDED_CONFIDENCE_CAP: Final = 0.3

_FENCE: Final = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class ModelAnswer(msgspec.Struct, frozen=True):
    """The JSON object the prompt asks for; extra keys are ignored."""

    reply: str
    cited_chunk_ids: list[str]
    confidence: float
    handoff: bool
    handoff_reason: str | None = None


_DECODER: Final = msgspec.json.Decoder(ModelAnswer)


def parse_answer(content: str | None) -> ModelAnswer | str:
    """The decoded answer, or a sentence saying what is wrong with it (for the retry prompt).

    Code fences around the JSON (some local models add them in JSON mode) are tolerated.
    """
    if content is None or not content.strip():
        return "the answer was empty."
    fenced = _FENCE.match(content)
    text = fenced.group(1) if fenced else content
    try:
        return _DECODER.decode(text.strip().encode("utf-8"))
    except msgspec.ValidationError as exc:
        return f"the JSON did not have the required fields and types ({exc})."
    except msgspec.DecodeError as exc:
        return f"it was not valid JSON ({exc})."


def finish_answer(
    answer: ModelAnswer,
    request: DraftRequest,
    *,
    language: str,
    pii: dict[str, str],
    usage: Usage | None,
) -> Draft:
    """Check the answer against the request: known citations, confidence, length, promises.

    The confidence shown is not the model's own figure but the calibrated chance that the
    draft is right (``confidence.LLM_WEIGHTS``): the model's figure and hand-off flag with
    the retrieval side's chance that the cited chunks answer the message."""
    known = {hit.chunk_id for hit in request.hits}
    cited = tuple(dict.fromkeys(i for i in answer.cited_chunk_ids if i in known))
    grounded = bool(cited)
    own = answer.confidence if math.isfinite(answer.confidence) else 0.0
    own = min(max(own, 0.0), 1.0)
    backed = support(pending_customer_text(request.turns), request.hits, cited)
    confidence = round(probability(llm_features(own, backed, answer.handoff), LLM_WEIGHTS), 3)
    if not grounded:
        confidence = min(confidence, UNGROUNDED_CONFIDENCE_CAP)
    handoff = answer.handoff
    reason = (answer.handoff_reason or "").strip() or None
    reply = restore_pii(answer.reply, pii).strip()
    if not reply:
        handoff = True
        reason = reason or "the model gave no reply"
        reply = request.profile.message("handoff", request_tag(request))
    elif not handoff and promises_follow_up(reply):
        # The model promised a call-back or a check: only a person can keep that promise.
        handoff = True
        reason = "the reply promises a follow-up by the shop"
    if handoff and reason is None:
        reason = "the model asked for a person"
    return Draft(
        reply=trim_to_limit(reply, TEXT_LIMITS[request.platform]),
        language=language,
        drafter="llm",
        cited_chunk_ids=cited,
        confidence=confidence,
        model_confidence=own,
        handoff=handoff,
        handoff_reason=reason if handoff else None,
        grounded=grounded,
        usage=usage,
    )
