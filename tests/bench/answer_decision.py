"""Benchmark: what the assistant does with each question on its default path (no AI key).

Every question goes through the engine's own "test a question" path (``Engine.ask``: the
knowledge-base search, then the drafter the app uses without a key), with the app's
default settings. Prints one JSON line:

    {"bench": "answer_decision", "questions": n, "retrieval_mrr": .., "answered_right": ..,
     "sent_wrong": .., "handoff_unanswerable": .., "handoff_own_language": ..,
     "calibration_error": ..}

* ``retrieval_mrr``: answerable questions, reciprocal rank of the first relevant entry among
  the hits the app retrieves (0 when none);
* ``answered_right``: answerable questions answered (no hand-off) citing a relevant entry;
* ``sent_wrong``: all questions answered (no hand-off) citing no relevant entry;
* ``handoff_unanswerable``: questions with no relevant entry that were handed off;
* ``handoff_own_language``: hand-offs whose reply speaks to the customer in the question's
  language and script (``lang``: sq, sr-Latn, sr-Cyrl, en, it...), as ``detect_language``
  judges it: its first paragraph (the answer, or the lead-in before an answer quoted in
  the shop's language) and its last (the hand-off note) both; ``answered_own_language``
  the same for drafts answered without a hand-off;
* ``calibration_error``: expected calibration error (10 equal-width bins) of the confidence
  shown on each draft against "the cited entry is right" (nothing cited: wrong).

``--by-shop`` gives each ``shop`` of the file its own knowledge base and asks it only that
shop's questions. ``--holdout-half`` builds the base from every other entry, so questions
whose answers are left out become unanswerable (for sets that have none). ``--dump FILE``
writes one JSON line per question. ``--fit`` (with ``--by-shop``) fits the confidence map
(``drafting.confidence``) leaving one shop out at a time, prints the held-out figures at
``ANSWER_AT``, the least threshold whose held-out precision is at least 98 % and the
weights fitted on all shops, as a second JSON line.

``--llm`` drafts with a chat model instead (OPENAI_BASE_URL, OPENAI_API_KEY,
CLIENTORA_CHAT_MODEL; any OpenAI-compatible server): with ``--fit`` the second line is
then the LLM drafter's calibration (``confidence.LLM_WEIGHTS``) fitted on its answers.

Usage: python -m tests.bench.answer_decision --kb ../shared/data/shops_sq_sr.kb.jsonl \\
           --questions ../shared/data/shops_sq_sr.dev.questions.jsonl --by-shop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.drafting import AIConfig
from desktop.core.drafting.confidence import ANSWER_AT, fit_logistic, llm_features, probability
from desktop.core.drafting.language import detect_language, is_cyrillic
from desktop.core.drafting.matching import best_of, candidates, features, support
from desktop.core.engine import Engine
from desktop.core.kb import FaqInput
from tests.bench.kb_quality import read_jsonl, tags_of

BINS = 10


def expected_calibration_error(pairs: Sequence[tuple[float, bool]]) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by size."""
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for confidence, right in pairs:
        bins[min(int(confidence * BINS), BINS - 1)].append((confidence, right))
    total = 0.0
    for members in bins.values():
        accuracy = sum(1 for _, right in members if right) / len(members)
        mean = sum(c for c, _ in members) / len(members)
        total += len(members) * abs(accuracy - mean)
    return total / len(pairs) if pairs else 0.0


def addressed_in(reply: str, lang: str, handoff: bool) -> bool:
    """Whether ``reply`` opens in language ``lang`` (an answer quoted in another language
    counts only behind a lead-in in the customer's), and a hand-off's note, its last
    paragraph, is in that language too."""
    paragraphs = [p for p in reply.split("\n\n") if p.strip()] or [reply]
    return written_in(paragraphs[0], lang) and (not handoff or written_in(paragraphs[-1], lang))


def written_in(reply: str, lang: str) -> bool:
    """Whether ``reply`` is in language ``lang`` ("sq", "en", "sr-Cyrl"...), script included."""
    base, _, script = lang.partition("-")
    if script == "Cyrl" and not is_cyrillic(reply):
        return False
    if script == "Latn" and is_cyrillic(reply):
        return False
    return detect_language(reply) == base


def llm_config() -> AIConfig:
    """The chat model named by the environment (``--llm``)."""
    return AIConfig(
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        model=os.environ.get("CLIENTORA_CHAT_MODEL", "gpt-4o-mini"),
    )


async def ask_shop(
    entries: list[dict[str, Any]], questions: list[dict[str, Any]], ai: AIConfig | None = None
) -> list[dict[str, Any]]:
    """Each question's outcome against a fresh app data folder holding ``entries``."""
    kept = {str(e["id"]) for e in entries}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = await Engine.open(folder, credentials=EncryptedFileCredentials(folder / "secret"))
        try:
            if ai is not None:
                await engine.preferences.update(msgspec.structs.replace(engine.settings, ai=ai))
            await engine.kb.add_faqs(
                FaqInput(
                    question=e["title"], answer=e["text"], tags=tags_of(e), item_id=str(e["id"])
                )
                for e in entries
            )
            await engine.kb.wait_idle()
            outcomes = []
            for q in questions:
                relevant = {str(r) for r in q["relevant_ids"]} & kept
                result = await engine.knowledge.ask(q["question"])
                draft = result.draft
                ids = list(dict.fromkeys(h.item_id for h in result.hits))
                rank = next((i + 1 for i, x in enumerate(ids) if x in relevant), None)
                cited = {c.split("#", 1)[0] for c in draft.cited_chunk_ids}
                lang = str(q.get("lang", "en"))
                usable = [h for h in result.hits if h.item_type in ("faq", "offer")]
                scored = candidates(q["question"], usable)
                evidence: list[float] = []
                picked_right = False
                if scored and scored[0].coverage > 0:
                    best, runner_up = best_of(scored)
                    evidence = features(best, runner_up, usable)
                    picked_right = best.hit.item_id in relevant
                outcomes.append(
                    {
                        "id": q["id"],
                        "shop": q.get("shop", ""),
                        "style": q.get("style", ""),
                        "lang": lang,
                        "answerable": bool(relevant),
                        "rank": rank,
                        "handoff": draft.handoff,
                        "right": bool(cited & relevant),
                        "confidence": draft.confidence,
                        "own_language": addressed_in(draft.reply, lang, draft.handoff),
                        "reply": draft.reply[:200],
                        "features": evidence,
                        "picked_right": picked_right,
                        "llm_features": llm_features(
                            draft.model_confidence,
                            support(q["question"], result.hits, draft.cited_chunk_ids),
                            draft.handoff,
                        )
                        if draft.model_confidence is not None
                        else [],
                    }
                )
            return outcomes
        finally:
            await engine.close()


def summary(kb: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o["answerable"]]
    unanswerable = [o for o in outcomes if not o["answerable"]]
    handoffs = [o for o in outcomes if o["handoff"]]
    answered = [o for o in outcomes if not o["handoff"]]

    def share(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {
        "bench": "answer_decision",
        "kb": kb,
        "questions": len(outcomes),
        "retrieval_mrr": share(
            sum(1 / o["rank"] for o in answerable if o["rank"]),
            len(answerable),
        )
        if answerable
        else 0.0,
        "answered_right": share(
            sum(1 for o in answerable if o["right"] and not o["handoff"]), len(answerable)
        ),
        "sent_wrong": share(
            sum(1 for o in outcomes if not o["handoff"] and not o["right"]), len(outcomes)
        ),
        "handoff_unanswerable": share(
            sum(1 for o in unanswerable if o["handoff"]), len(unanswerable)
        ),
        "handoff_own_language": share(sum(1 for o in handoffs if o["own_language"]), len(handoffs)),
        "answered_own_language": share(
            sum(1 for o in answered if o["own_language"]), len(answered)
        ),
        "calibration_error": round(
            expected_calibration_error([(o["confidence"], o["right"]) for o in outcomes]), 4
        ),
        "answerable_handed_off": share(sum(1 for o in answerable if o["handoff"]), len(answerable)),
    }


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entries = read_jsonl(Path(args.kb))
    questions = read_jsonl(Path(args.questions))
    if args.holdout_half:
        entries = sorted(entries, key=lambda e: str(e["id"]))[::2]
    groups: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    if args.by_shop:
        for e in entries:
            groups.setdefault(str(e["shop"]), ([], []))[0].append(e)
        for q in questions:
            groups[str(q["shop"])][1].append(q)
    else:
        groups[""] = (entries, questions)
    outcomes: list[dict[str, Any]] = []
    ai = llm_config() if args.llm else None
    for shop_entries, shop_questions in groups.values():
        outcomes.extend(await ask_shop(shop_entries, shop_questions, ai))
    return summary(Path(args.kb).name.split(".")[0], outcomes), outcomes


def fit(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The confidence map fitted leave-one-shop-out (held-out figures), then on all shops."""
    rows = [o for o in outcomes if o["features"]]
    held: list[tuple[float, bool]] = []
    for shop in sorted({o["shop"] for o in rows}):
        train = [o for o in rows if o["shop"] != shop]
        weights = fit_logistic([o["features"] for o in train], [o["picked_right"] for o in train])
        held += [
            (probability(o["features"], weights), o["picked_right"])
            for o in rows
            if o["shop"] == shop
        ]
    n = len(outcomes)
    unanswerable = sum(1 for o in outcomes if not o["answerable"])
    answerable = n - unanswerable
    answered = [(p, right) for p, right in held if p >= ANSWER_AT]
    auto_at = next(
        (
            t / 1000
            for t in range(500, 1000, 5)
            if (chosen := [r for p, r in held if p >= t / 1000])
            and sum(chosen) / len(chosen) >= 0.98
        ),
        1.0,
    )
    return {
        "bench": "answer_decision_fit",
        "weights": fit_logistic([o["features"] for o in rows], [o["picked_right"] for o in rows]),
        "heldout_answered_right": round(sum(1 for _, r in answered if r) / answerable, 4),
        "heldout_sent_wrong": round(sum(1 for _, r in answered if not r) / n, 4),
        "heldout_precision": round(sum(r for _, r in answered) / max(len(answered), 1), 4),
        "heldout_calibration_error": round(
            expected_calibration_error(held + [(0.0, False)] * (n - len(held))), 4
        ),
        "auto_send_at": auto_at,
    }


def fit_llm(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The LLM drafter's calibration fitted on its answers (``--llm --fit``)."""
    rows = [o for o in outcomes if o["llm_features"]]
    weights = fit_logistic([o["llm_features"] for o in rows], [o["right"] for o in rows])
    shown = [(probability(o["llm_features"], weights), o["right"]) for o in rows]
    return {
        "bench": "answer_decision_fit_llm",
        "llm_weights": weights,
        "answers": len(rows),
        "calibration_error": round(expected_calibration_error(shown), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", required=True, help="knowledge base JSONL")
    parser.add_argument("--questions", required=True, help="questions JSONL")
    parser.add_argument("--by-shop", action="store_true", help="one knowledge base per shop")
    parser.add_argument(
        "--holdout-half", action="store_true", help="base from every other entry only"
    )
    parser.add_argument("--dump", help="write one JSON line per question here")
    parser.add_argument(
        "--fit", action="store_true", help="also fit the confidence map (by shop) and print it"
    )
    parser.add_argument(
        "--llm", action="store_true", help="draft with the chat model named by the environment"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    line, outcomes = asyncio.run(run(args))
    if args.dump:
        with Path(args.dump).open("w", encoding="utf-8") as f:
            for o in outcomes:
                f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print(json.dumps(line), flush=True)
    if args.fit:
        print(json.dumps(fit_llm(outcomes) if args.llm else fit(outcomes)), flush=True)


if __name__ == "__main__":
    main()
