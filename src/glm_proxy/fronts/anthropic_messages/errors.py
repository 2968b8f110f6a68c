"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``. Pure.

The error's kind follows its status as the Anthropic API's does (anthropic-format.md), so that
the SDKs raise the right exception class and retry what they retry (429 and 5xx).
"""

from __future__ import annotations

from typing import Any

import orjson

from glm_proxy.errors import ProxyError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    kind = ERROR_TYPES.get(status)
    if kind is not None:
        return kind
    return "api_error" if status >= 500 else "invalid_request_error"


def error_payload(error: ProxyError) -> dict[str, Any]:
    """The error object, as a response body and as the data of a stream's ``error`` event."""
    message = error.message
    partial = getattr(error, "partial", None)
    if isinstance(partial, str):
        message += f"\n\nWhat the backend sent before it failed:\n{partial}"
    return {"type": "error", "error": {"type": error_type(error.status), "message": message}}


def error_event(error: ProxyError) -> bytes:
    """The ``error`` event that ends a stream that already started."""
    return b"event: error\ndata: " + orjson.dumps(error_payload(error)) + b"\n\n"


def render_error(error: ProxyError) -> tuple[int, bytes]:
    """The status and body of ``error`` (a backend's own 4xx keeps its status, and its
    message, in Anthropic's shape)."""
    return error.status, orjson.dumps(error_payload(error))
