"""The drafter that asks an OpenAI-compatible chat model, with bounded retries and fallbacks."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from typing import Final

import httpx
import httpx2
import msgspec

from desktop.core.drafting.answer import ModelAnswer, finish_answer, parse_answer
from desktop.core.drafting.config import AIConfig, cost_usd, price_for
from desktop.core.drafting.handoff import conversation_language, early_handoff, handoff_draft
from desktop.core.drafting.language import is_cyrillic
from desktop.core.drafting.models import Draft, DraftRequest, Usage
from desktop.core.drafting.pii import PiiMasker
from desktop.core.drafting.prompt import render_messages, render_repair, response_format

__all__ = ["LLMDrafter"]

log = logging.getLogger(__name__)

_OPENAI_URL: Final = "https://api.openai.com/v1"
_JITTER: Final = random.Random()  # noqa: S311 - back-off jitter, not security

TIMEOUT_REASON: Final = "The AI service did not answer in time"
UNREACHABLE_REASON: Final = "The AI service could not be reached"
RATE_LIMIT_REASON: Final = "The AI service is busy (rate limited)"
SERVER_ERROR_REASON: Final = "The AI service had an error"
KEY_REJECTED_REASON: Final = "AI key rejected"
QUOTA_REASON: Final = "The AI account has no quota left"
UNREADABLE_REASON: Final = "The AI answer could not be read"

_TIMEOUTS: Final = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT_ERRORS: Final = (httpx.TransportError, httpx2.TransportError)


# The parts of the chat-completion API we read; unknown fields are ignored.
class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _TokenUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptDetails | None = None


class _Completion(msgspec.Struct):
    model: str = ""
    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: _TokenUsage | None = None


class _ErrorBody(msgspec.Struct):
    message: str = ""
    code: str | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | None = None


_ENCODER: Final = msgspec.json.Encoder()
_COMPLETION: Final = msgspec.json.Decoder(_Completion)
_ERROR: Final = msgspec.json.Decoder(_ErrorEnvelope)


class _Failure(Exception):
    """A call that will not succeed now; ``reason`` is for the owner, ``detail`` for logs."""

    def __init__(self, reason: str, detail: str, *, retry: bool, wait_s: float | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry = retry
        self.wait_s = wait_s


class _Meter:
    """Adds up tokens and cost over the calls made for one draft."""

    def __init__(self, config: AIConfig) -> None:
        self._config = config
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self.model = config.model
        self.calls = 0

    def add(self, completion: _Completion) -> None:
        self.calls += 1
        self.model = completion.model or self.model
        usage = completion.usage
        if usage is None:
            return
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        price = price_for(self.model, self._config.prices) or price_for(
            self._config.model, self._config.prices
        )
        self.cost += cost_usd(price, usage.prompt_tokens, usage.completion_tokens, cached)

    def usage(self) -> Usage | None:
        if self.calls == 0:
            return None
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=round(self.cost, 10),
            model=self.model,
        )


class LLMDrafter:
    """Drafts with a chat model; any failure becomes a hand-off draft, never an exception.

    Requests are plain HTTP on httpx (the openai SDK cost twice the CPU per call, see
    docs/decisions.md). Timeouts, connection failures, 429 and 5xx are retried here a
    bounded number of times, honouring ``Retry-After``. Pass ``http_client`` (httpx or
    httpx2 ``AsyncClient``) to share connections; it is then the caller's to close.
    Otherwise call :meth:`aclose` (or use ``async with``).
    """

    def __init__(
        self,
        config: AIConfig,
        *,
        http_client: httpx.AsyncClient | httpx2.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self._owns_client = http_client is None
        # Our own client is made on first use, off the event loop's thread: loading the CA
        # bundle into its TLS context took 45-600 ms, a stall in the UI (ui_responsiveness).
        self._client: httpx.AsyncClient | httpx2.AsyncClient | None = http_client
        self._making_client = asyncio.Lock()
        self._url = (config.base_url or _OPENAI_URL).rstrip("/") + "/chat/completions"
        self._headers = {
            # An explicit key (never the environment); a keyless local server gets a dummy.
            "authorization": f"Bearer {config.api_key or 'no-key'}",
            "content-type": "application/json",
            "accept": "application/json",
        }

    async def __aenter__(self) -> LLMDrafter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections, unless they belong to a client the caller passed."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _http(self) -> httpx.AsyncClient | httpx2.AsyncClient:
        if self._client is None:
            async with self._making_client:  # one client, however many drafts start at once
                if self._client is None:
                    self._client = await asyncio.to_thread(httpx.AsyncClient)
        return self._client

    async def draft(self, request: DraftRequest) -> Draft:
        """A reply grounded in ``request.hits``, or a hand-off saying why there is none."""
        language = conversation_language(request.turns)
        try:
            return await self._draft(request, language)
        except Exception as exc:  # a draft must never take the inbox down with it
            log.exception("drafting failed")
            return handoff_draft(
                request,
                language=language,
                drafter="llm",
                reason="The draft could not be made",
                error=f"{type(exc).__name__}: {exc}",
            )

    async def _draft(self, request: DraftRequest, language: str) -> Draft:
        early = early_handoff(request, language=language, drafter="llm")
        if early is not None:
            return early
        masker = PiiMasker()
        texts = [
            masker.mask(t.text) if t.role == "customer" and self.config.mask_pii else t.text
            for t in request.turns
        ]
        customer_texts = [t.text for t in request.turns if t.role == "customer"]
        messages: list[dict[str, str]] = render_messages(
            request,
            language=language,
            cyrillic=is_cyrillic(customer_texts[-1]) if customer_texts else False,
            turn_texts=texts,
        )
        meter = _Meter(self.config)
        answer: ModelAnswer | str = "no answer"
        for attempt in range(2):  # the answer, and one repair if it cannot be read
            try:
                completion = await self._complete(messages)
            except _Failure as failure:
                return handoff_draft(
                    request,
                    language=language,
                    drafter="llm",
                    reason=failure.reason,
                    error=failure.detail,
                    usage=meter.usage(),
                )
            meter.add(completion)
            message = completion.choices[0].message if completion.choices else None
            if message is not None and message.refusal:
                return handoff_draft(
                    request,
                    language=language,
                    drafter="llm",
                    reason="The AI model refused to answer",
                    error=f"refusal: {message.refusal}",
                    usage=meter.usage(),
                )
            content = message.content if message is not None else None
            answer = parse_answer(content)
            if isinstance(answer, ModelAnswer):
                return finish_answer(
                    answer, request, language=language, pii=masker.mapping, usage=meter.usage()
                )
            log.warning("unreadable model answer (attempt %d): %s", attempt + 1, answer)
            messages = [
                *messages,
                {"role": "assistant", "content": content or ""},
                {"role": "user", "content": render_repair(answer)},
            ]
        return handoff_draft(
            request,
            language=language,
            drafter="llm",
            reason=UNREADABLE_REASON,
            error=f"invalid model output: {answer}",
            usage=meter.usage(),
        )

    async def _complete(self, messages: list[dict[str, str]]) -> _Completion:
        """One chat completion, retried on transient failures; raises :class:`_Failure`."""
        body = _ENCODER.encode(
            {
                "model": self.config.model,
                "messages": messages,
                "response_format": response_format(self.config.json_mode),
            }
        )
        attempts = max(self.config.max_retries, 0) + 1
        for attempt in range(attempts):
            try:
                return await self._post(body)
            except _Failure as exc:
                failure = exc
            delay = self._delay(attempt, failure.wait_s) if failure.retry else None
            if delay is None or attempt == attempts - 1:
                raise failure
            log.info("AI call failed (%s); retry in %.2fs", failure.detail, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, body: bytes) -> _Completion:
        """Send one request and read its answer; every failure becomes a :class:`_Failure`."""
        client = await self._http()
        try:
            response = await client.post(
                self._url, content=body, headers=self._headers, timeout=self.config.timeout_s
            )
        except _TIMEOUTS as exc:
            raise _Failure(TIMEOUT_REASON, f"{type(exc).__name__}: {exc}", retry=True) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _Failure(UNREACHABLE_REASON, f"{type(exc).__name__}: {exc}", retry=True) from exc
        if not 200 <= response.status_code < 300:
            raise _status_failure(response.status_code, response.content, response.headers)
        try:
            return _COMPLETION.decode(response.content)
        except msgspec.DecodeError as exc:  # ValidationError included
            raise _Failure(
                SERVER_ERROR_REASON, f"unreadable completion: {exc}", retry=False
            ) from exc

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before the next attempt, or None when the server asks for too long a wait."""
        if retry_after is not None:
            return retry_after if retry_after <= self.config.max_backoff_s else None
        backoff = self.config.backoff_s * 2.0**attempt
        return min(backoff * (0.5 + _JITTER.random() / 2), self.config.max_backoff_s)


def _status_failure(
    status: int, content: bytes, headers: httpx.Headers | httpx2.Headers
) -> _Failure:
    """What an error answer means for the owner, and whether to try again."""
    try:
        error = _ERROR.decode(content).error or _ErrorBody()
    except msgspec.DecodeError:
        error = _ErrorBody(message=content[:200].decode("utf-8", "replace"))
    detail = f"HTTP {status}: {error.message}"
    if status == 401:
        return _Failure(KEY_REJECTED_REASON, detail, retry=False)
    if status == 429:
        if error.code == "insufficient_quota":
            return _Failure(QUOTA_REASON, detail, retry=False)
        return _Failure(RATE_LIMIT_REASON, detail, retry=True, wait_s=_retry_after(headers))
    if status >= 500:
        reason = f"{SERVER_ERROR_REASON} (HTTP {status})"
        return _Failure(reason, detail, retry=True, wait_s=_retry_after(headers))
    if status == 403:
        return _Failure("The AI key may not use this model", detail, retry=False)
    if status == 404:
        return _Failure("The AI model was not found", detail, retry=False)
    return _Failure(f"The AI service refused the request (HTTP {status})", detail, retry=False)


def _retry_after(headers: httpx.Headers | httpx2.Headers) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after``), if any."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
