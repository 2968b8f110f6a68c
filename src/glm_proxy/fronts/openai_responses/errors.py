"""Errors of the Responses front: the OpenAI error shape, as the chat front's (pure)."""

from __future__ import annotations

from glm_proxy.errors import ProxyError, RequestError


def render_error(error: ProxyError) -> tuple[int, bytes]:
    """The status and body of ``error``: ``{"error": {"message", "type", "param", "code"}}``."""
    return error.status, error.body()


class ResponseNotFound(RequestError):
    """``GET /v1/responses/{id}`` for a response that is not (or no longer) stored."""

    status = 404
    code = "response_not_found"
