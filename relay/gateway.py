"""An OpenAI-compatible AI gateway: desktops use the operator's model account, metered.

``/ai/v1/chat/completions`` (streaming or not) and ``/ai/v1/embeddings`` take the
desktop's session token as the API key, refuse a business over its plan before
anything is forwarded, forward with the operator's key, and count tokens and cost
from the upstream's own usage figures (for streams, from the final usage chunk the
gateway asks for).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
from litestar import Request, Response, Router, post
from litestar.di import NamedDependency
from litestar.response import Stream

from relay.auth import authenticate, bearer_token
from relay.errors import RelayError
from relay.plans import Limit, cost_usd, price_of
from relay.services import Services, now_ms
from relay.usage import plan_for, release, reserve, warn_if_crossed

__all__ = ["gateway_router"]

log = logging.getLogger("clientora.relay.gateway")

_AI_LIMITS: tuple[Limit, ...] = ("ai_tokens", "ai_cost_usd")


def _openai_error(status: int, message: str, kind: str, code: str) -> Response[dict[str, Any]]:
    """Errors in OpenAI's own shape, so any OpenAI client explains them."""
    return Response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status_code=status,
    )


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _WithUsage(msgspec.Struct):
    usage: _Usage | None = None
    model: str | None = None


async def _meter(services: Services, business_id: str, model: str, usage: _Usage) -> None:
    cost = cost_usd(services.prices, model, usage.prompt_tokens, usage.completion_tokens)
    await services.store.add_usage(
        business_id,
        "",
        {
            "ai_requests": 1,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": cost,
        },
        now_ms(),
    )
    await warn_if_crossed(services, business_id, *_AI_LIMITS)


# Completion tokens held for a call that names no ``max_tokens``; its real use settles it.
_DEFAULT_COMPLETION = 256


def _expected(price: tuple[float, float], body: dict[str, Any]) -> dict[Limit, float]:
    """What a call will likely use: its prompt at about four bytes a token, plus the
    completion it allows (embeddings have none)."""
    prompt = len(msgspec.json.encode(body.get("messages") or body.get("input") or "")) // 4 + 1
    completion = 0
    if "messages" in body:
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        completion = asked if isinstance(asked, int) and asked > 0 else _DEFAULT_COMPLETION
    cost = (prompt * price[0] + completion * price[1]) / 1_000_000
    return {"ai_tokens": prompt + completion, "ai_cost_usd": cost}


async def _prepare(
    request: Request[Any, Any, Any], services: Services
) -> tuple[str, dict[str, Any], str] | Response[dict[str, Any]]:
    """Authenticate, read the body, check the model and hold the call's expected use
    against the plan; an error response on any failure. Returns the business, the body
    and the hold to release once the call is metered."""
    if not services.settings.ai_upstream_url:
        return _openai_error(
            503, "This relay has no AI service configured.", "server_error", "gateway_disabled"
        )
    try:
        principal = await authenticate(services, bearer_token(request))
    except RelayError as exc:
        return _openai_error(exc.status, exc.message, "invalid_request_error", exc.code)
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return _openai_error(
            400, "The request body is not valid JSON.", "invalid_request_error", "bad_json"
        )
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _openai_error(
            400,
            "The request needs a JSON object with a model.",
            "invalid_request_error",
            "bad_request",
        )
    model: str = body["model"]
    allowed = plan_for(services).models
    price = price_of(services.prices, model)
    if (allowed and model not in allowed) or price is None:
        # An unpriced model would be billed at nothing: only priced, allowed ones go out.
        return _openai_error(
            400,
            f"The model {model!r} is not available on this relay.",
            "invalid_request_error",
            "model_not_found",
        )
    ttl_ms = int((services.settings.ai_timeout_s + 30.0) * 1000)
    try:
        hold = await reserve(services, principal.business_id, _expected(price, body), ttl_ms)
    except RelayError as exc:
        if exc.code == "quota_exceeded":
            # OpenAI's own code for an exhausted budget: clients already know it.
            return _openai_error(429, exc.message, "insufficient_quota", "insufficient_quota")
        return _openai_error(exc.status, exc.message, "requests", "rate_limit_exceeded")
    return principal.business_id, body, hold


def _upstream(services: Services, path: str) -> tuple[str, dict[str, str]]:
    base = services.settings.ai_upstream_url.rstrip("/")
    headers = {"Content-Type": "application/json"}
    if services.settings.ai_upstream_key:
        headers["Authorization"] = f"Bearer {services.settings.ai_upstream_key}"
    return f"{base}{path}", headers


def _transport_error(exc: httpx.HTTPError) -> Response[dict[str, Any]]:
    if isinstance(exc, httpx.TimeoutException):
        return _openai_error(
            504, "The AI service did not answer in time.", "server_error", "upstream_timeout"
        )
    return _openai_error(
        502, "The AI service could not be reached.", "server_error", "upstream_unreachable"
    )


def _relay_upstream_error(response: httpx.Response) -> Response[Any]:
    """Pass an upstream error on when it is OpenAI-shaped, else describe it."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("param", None)
        # The upstream's own wait hint: the desktop's SDK backs off by it.
        wait = response.headers.get("retry-after")
        headers = {"Retry-After": wait} if wait else None
        return Response(body, status_code=response.status_code, headers=headers)
    return _openai_error(
        502,
        f"The AI service answered with HTTP {response.status_code}.",
        "server_error",
        "upstream_error",
    )


async def _forward_json(
    services: Services, business_id: str, path: str, body: dict[str, Any], hold: str
) -> Response[Any]:
    try:
        return await _forward_json_held(services, business_id, path, body)
    finally:
        await release(services, hold)


async def _forward_json_held(
    services: Services, business_id: str, path: str, body: dict[str, Any]
) -> Response[Any]:
    url, headers = _upstream(services, path)
    try:
        response = await services.http.post(
            url,
            content=msgspec.json.encode(body),
            headers=headers,
            timeout=services.settings.ai_timeout_s,
        )
    except httpx.HTTPError as exc:
        return _transport_error(exc)
    if response.status_code >= 400:
        return _relay_upstream_error(response)
    try:
        parsed = msgspec.json.decode(response.content, type=_WithUsage)
    except msgspec.DecodeError:
        return _openai_error(
            502, "The AI service's answer could not be read.", "server_error", "upstream_error"
        )
    usage = parsed.usage or _Usage()
    await _meter(services, business_id, parsed.model or body["model"], usage)
    return Response(response.content, media_type="application/json")


async def _forward_stream(
    services: Services, business_id: str, body: dict[str, Any], hold: str
) -> Response[Any] | Stream:
    url, headers = _upstream(services, "/chat/completions")
    # Ask for the final usage chunk so the stream can be metered like any other call.
    body = {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}
    request = services.http.build_request(
        "POST",
        url,
        content=msgspec.json.encode(body),
        headers=headers,
        timeout=services.settings.ai_timeout_s,
    )
    try:
        response = await services.http.send(request, stream=True)
    except httpx.HTTPError as exc:
        await release(services, hold)
        return _transport_error(exc)
    if response.status_code >= 400:
        await response.aread()
        await response.aclose()
        await release(services, hold)
        return _relay_upstream_error(response)

    async def relay_chunks() -> AsyncIterator[bytes]:
        usage = _Usage()
        model = str(body["model"])
        pending = b""
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.startswith(b"data:") and b'"usage"' in line:
                        try:
                            parsed = msgspec.json.decode(line[5:].strip(), type=_WithUsage)
                        except msgspec.DecodeError:
                            continue
                        if parsed.usage is not None:
                            usage, model = parsed.usage, parsed.model or model
        except httpx.HTTPError:
            log.warning("AI stream broke off", extra={"business_id": business_id})
        finally:
            await response.aclose()
            await _meter(services, business_id, model, usage)
            await release(services, hold)

    return Stream(
        relay_chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@post("/chat/completions", status_code=200)
async def chat_completions(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[Any] | Stream:
    prepared = await _prepare(request, services)
    if isinstance(prepared, Response):
        return prepared
    business_id, body, hold = prepared
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        await release(services, hold)
        return _openai_error(
            400, "messages must be a non-empty list.", "invalid_request_error", "bad_request"
        )
    if body.get("stream") is True:
        return await _forward_stream(services, business_id, body, hold)
    return await _forward_json(services, business_id, "/chat/completions", body, hold)


@post("/embeddings", status_code=200)
async def embeddings(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[Any]:
    prepared = await _prepare(request, services)
    if isinstance(prepared, Response):
        return prepared
    business_id, body, hold = prepared
    if not isinstance(body.get("input"), str | list):
        await release(services, hold)
        return _openai_error(
            400, "input must be a string or a list.", "invalid_request_error", "bad_request"
        )
    return await _forward_json(services, business_id, "/embeddings", body, hold)


def gateway_router() -> Router:
    return Router("/ai/v1", route_handlers=[chat_completions, embeddings])
