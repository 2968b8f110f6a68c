"""Which front's error shape a request gets, by its path: one owner for that choice.

Errors raised before a route runs (a missing key, a body too large, shutdown) and errors the
route raises are answered by the server, which asks ``shape_for(path)`` how to write them: the
OpenAI shape (``{"error": {...}}``) unless the path belongs to a front with its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from glm_proxy.backend.sse import encode_error
from glm_proxy.errors import ProxyError
from glm_proxy.fronts.anthropic_messages import errors as anthropic_errors
from glm_proxy.fronts.openai_responses import errors as responses_errors


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How one front writes an error."""

    render: Callable[[ProxyError], tuple[int, bytes]]
    """The status and JSON body of an error answered before any of the response was sent."""
    event: Callable[[ProxyError], bytes]
    """The event that ends a stream that already started."""


def _openai_render(error: ProxyError) -> tuple[int, bytes]:
    return error.status, error.body()


def _openai_event(error: ProxyError) -> bytes:
    return encode_error(error.message, error.type, error.code)


OPENAI = ErrorShape(_openai_render, _openai_event)
"""The OpenAI shape: the chat front, the relayed routes, the proxy's own."""

ANTHROPIC = ErrorShape(anthropic_errors.render_error, anthropic_errors.error_event)
"""Anthropic's shape: the Messages front."""

RESPONSES = ErrorShape(responses_errors.render_error, responses_errors.failed_event)
"""The Responses front: the OpenAI shape before a stream starts, ``response.failed`` after."""

_BY_PATH: tuple[tuple[str, ErrorShape], ...] = (
    ("/v1/messages", ANTHROPIC),
    ("/v1/responses", RESPONSES),
)
"""Path prefixes of the fronts with a shape of their own."""


STREAM_END: Final = "glm_proxy.stream_end"
"""The ASGI scope key under which a route whose stream has state of its own (sequence numbers,
held text) puts the function that ends it, error in, last events out: the server calls it
rather than the shape's ``event`` when it cuts that stream off."""


def shape_for(path: str) -> ErrorShape:
    """The error shape of the front that serves ``path``."""
    for prefix, shape in _BY_PATH:
        if path.startswith(prefix):
            return shape
    return OPENAI
