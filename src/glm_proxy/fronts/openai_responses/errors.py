"""Errors of the Responses front: the OpenAI error shape, as the chat front's (pure); a stream
that started ends with ``response.failed``."""

from __future__ import annotations

from typing import Any

import orjson

from glm_proxy.backend.sse import encode_named
from glm_proxy.errors import ProxyError, RequestError


def render_error(error: ProxyError) -> tuple[int, bytes]:
    """The status and body of ``error``: ``{"error": {"message", "type", "param", "code"}}``."""
    return error.status, error.body()


def failure(error: ProxyError) -> dict[str, Any]:
    """The ``error`` of a failed response object."""
    return {"code": error.code or "server_error", "message": error.message}


def failed_event(error: ProxyError) -> bytes:
    """A ``response.failed`` event for a stream whose state is not known here (the stream's own
    ``ResponsesStream.fail`` says more: the response's id, its output, the next sequence
    number). A client reads the failure from ``response.error``."""
    response = {"object": "response", "status": "failed", "error": failure(error), "output": []}
    payload = {"type": "response.failed", "response": response}
    return encode_named("response.failed", orjson.dumps(payload))


class ResponseNotFound(RequestError):
    """``GET /v1/responses/{id}`` for a response that is not (or no longer) stored."""

    status = 404
    code = "response_not_found"
