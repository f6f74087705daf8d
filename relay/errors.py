"""Typed API errors and the handlers that turn every failure into ``{"error": {...}}``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from common.protocol import ApiError, ErrorBody

__all__ = ["EXCEPTION_HANDLERS", "RelayError"]

log = logging.getLogger("clientora.relay")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


class RelayError(Exception):
    """An error with a stable ``code`` the desktop can act on and a plain-words message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after_s: float | None = None,
        limit: float | None = None,
        resets_on: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s
        self.limit = limit
        self.resets_on = resets_on

    def body(self) -> ApiError:
        return ApiError(
            code=self.code,
            message=self.message,
            retry_after_s=self.retry_after_s,
            limit=self.limit,
            resets_on=self.resets_on,
        )


def _body(status: int, error: ApiError) -> Response[ErrorBody]:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
    return Response(ErrorBody(error=error), status_code=status, headers=headers)


def _relay_error(_: Request[Any, Any, Any], exc: RelayError) -> Response[ErrorBody]:
    return _body(exc.status, exc.body())


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    message = exc.detail
    if isinstance(exc, ValidationException) and exc.extra:
        # Litestar's own message names the field; keep it, drop the raw input echo.
        message = f"{exc.detail}: " + "; ".join(
            str(item.get("message", "")) if isinstance(item, dict) else str(item)
            for item in (exc.extra if isinstance(exc.extra, list) else [exc.extra])
        )
    code = _CODES.get(exc.status_code, "error")
    return _body(exc.status_code, ApiError(code=code, message=message))


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[ErrorBody]:
    # Only decoding a hostile body nests this deep (msgspec stops at the interpreter's
    # recursion limit): the caller's mistake, not ours, so no traceback.
    log.info("request body nested too deeply", extra={"path": request.url.path})
    return _body(
        400, ApiError(code="bad_request", message="The request body is nested too deeply.")
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return _body(500, ApiError(code="internal", message="The relay hit an unexpected error."))


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    RelayError: _relay_error,
    HTTPException: _http_error,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
