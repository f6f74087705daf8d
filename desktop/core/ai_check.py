""" "Test connection": one tiny chat call and one embedding, answered in the owner's words."""

from __future__ import annotations

import msgspec
import openai

from desktop.core.drafting.config import AIConfig
from desktop.core.settings import EmbeddingSettings

__all__ = ["CheckResult", "check_ai"]

OPENAI_URL = "https://api.openai.com/v1"


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the answer: what was tried, whether it worked, and in plain words."""

    name: str  # "chat" or "embeddings"
    ok: bool
    words: str


def _words(exc: Exception, model: str) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "The AI service did not answer in time."
    if isinstance(exc, openai.APIConnectionError):
        return "Cannot reach that address. Check the endpoint and your internet connection."
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 401:
            return "The AI service refused the key. Check the API key."
        if status == 403:
            return f"This key may not use {model}."
        if status == 404:
            return f"The AI service has no model called {model} (or the endpoint is wrong)."
        if status == 429:
            return "The AI service says the key is out of credit or asked to slow down."
        return f"The AI service answered with an error (HTTP {status})."
    return "The AI service gave an answer the app does not understand."


async def check_ai(
    config: AIConfig, embeddings: EmbeddingSettings | None = None, *, timeout_s: float = 15.0
) -> list[CheckResult]:
    """Try the chat model (and the embedding model when given); never raises for a failure."""
    client = openai.AsyncOpenAI(
        base_url=config.base_url or OPENAI_URL,
        api_key=config.api_key or "no-key",  # a keyless local server still needs a string
        timeout=timeout_s,
        max_retries=0,
    )
    results: list[CheckResult] = []
    try:
        try:
            answer = await client.chat.completions.create(
                model=config.model,
                messages=[{"role": "user", "content": "Reply with the word OK."}],
                max_tokens=5,
            )
            results.append(
                CheckResult(name="chat", ok=True, words=f"{answer.model or config.model} answers.")
            )
        except Exception as exc:  # every failure becomes a sentence
            results.append(CheckResult(name="chat", ok=False, words=_words(exc, config.model)))
        if embeddings is not None and not (embeddings.enabled and embeddings.model.strip()):
            # Search by meaning is off: nothing to try, and nothing wrong.
            words = "not used (no embedding model is set up; search matches words)."
            results.append(CheckResult(name="embeddings", ok=True, words=words))
        elif embeddings is not None:
            try:
                response = await client.embeddings.create(model=embeddings.model, input=["probe"])
                dims = len(response.data[0].embedding) if response.data else 0
                words = f"{embeddings.model} answers ({dims} numbers per text)."
                if embeddings.dims and dims and dims != embeddings.dims:
                    words += f" The app expects {embeddings.dims}: change it to match."
                results.append(
                    CheckResult(name="embeddings", ok=dims == embeddings.dims, words=words)
                )
            except Exception as exc:
                results.append(
                    CheckResult(name="embeddings", ok=False, words=_words(exc, embeddings.model))
                )
    finally:
        await client.close()
    return results
