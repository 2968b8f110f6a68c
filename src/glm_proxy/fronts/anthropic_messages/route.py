"""The Anthropic Messages routes: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The request is mapped to a chat-completions body (``request``), sent to the backend, and the
answer comes back as a message (``render``) or as Messages events (``stream`` driven by
``streaming.front_stream``). Every error, raised here or by the backend, is answered in
Anthropic's shape (``errors``). ``?beta=true`` (Claude Code adds it) changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from glm_proxy.access_log import RECORD, RequestRecord
from glm_proxy.backend.client import Upstream
from glm_proxy.config import Settings
from glm_proxy.conversion.plan import plan_for
from glm_proxy.dialects import AUTO, PLAIN
from glm_proxy.errors import BackendBadResponse, BadRequest, json_kind
from glm_proxy.fronts._http import (
    SSE_HEADERS,
    UpstreamStreamResponse,
    front_stream,
    read_body,
    whole_completion,
)
from glm_proxy.fronts.anthropic_messages.blocks import new_message_id, new_tool_use_id
from glm_proxy.fronts.anthropic_messages.render import render_message
from glm_proxy.fronts.anthropic_messages.request import (
    estimate_tokens,
    map_request,
    stop_sequences,
)
from glm_proxy.fronts.anthropic_messages.stream import MessageStream
from glm_proxy.fronts.openai_chat.request import check_body_headers

logger = logging.getLogger("glm_proxy.app")

MESSAGES_PATHS = ("/v1/messages", "/v1/messages/count_tokens")
PING_INTERVAL = 10.0
"""Seconds of backend silence after which a stream gets a ``ping`` event."""
TOKEN_COUNT_HEADER = "x-glm-proxy-token-count"
"""Says how ``count_tokens`` counted: ``estimate`` (about four bytes of JSON a token)."""


class MessagesRoutes:
    """The handlers, sharing the proxy's settings and upstream session. Errors they raise are
    answered in Anthropic's shape by the server (``fronts.error_shapes``: by path)."""

    def __init__(self, settings: Settings, upstream: Upstream) -> None:
        self.settings = settings
        self.upstream = upstream

    async def count_tokens(self, request: Request) -> Response:
        data = await self._read(request)
        body = map_request({"max_tokens": 1, **data}, "count")
        return Response(
            orjson.dumps({"input_tokens": estimate_tokens(body)}),
            media_type="application/json",
            headers={TOKEN_COUNT_HEADER: "estimate"},
        )

    async def _read(self, request: Request) -> dict[str, Any]:
        check_body_headers(request.scope["headers"])
        raw = await read_body(request, self.settings.max_body_size)
        if not raw:
            raise BadRequest("request body is empty: send a JSON object")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"request body must be a JSON object, got {json_kind(data)}")
        return data

    async def messages(self, request: Request) -> Response:
        record: RequestRecord = request.scope[RECORD]
        data = await self._read(request)
        settings = self.settings
        model = data.get("model")
        backend_model = settings.backend_model(model) if isinstance(model, str) else ""
        body = map_request(data, backend_model)
        assert isinstance(model, str)
        stream = body.get("stream") is True
        record.model, record.messages, record.stream = model, len(body["messages"]), stream
        record.tools = len(body.get("tools") or ())
        plan = plan_for(
            body,
            starts_in_reasoning=settings.starts_in_reasoning(backend_model),
            max_buffer=settings.parser_max_buffer,
            dialect=_dialect(settings, backend_model, body),
            id_factory=new_tool_use_id,
        )
        upstream = self.upstream
        headers = upstream.headers(request.scope["headers"], "application/json")
        response = await upstream.send(
            "POST", upstream.url("/chat/completions"), headers, orjson.dumps(body)
        )
        if response.status >= 400:
            raise await upstream.status_error(response)
        message_id = new_message_id()
        if stream:
            if response.content_type == "application/json":
                response.close()
                raise BackendBadResponse(
                    f"the backend at {upstream.public_url} answered a streaming request "
                    "with application/json instead of an event stream"
                )
            front = MessageStream(
                plan, model=model, message_id=message_id, stop_sequences=stop_sequences(data)
            )
            return UpstreamStreamResponse(
                front_stream(response, front, upstream, record, PING_INTERVAL),
                close_upstream=response.close,
                status_code=200,
                headers=SSE_HEADERS,
                media_type="text/event-stream",
            )
        raw = await upstream.read(response)
        completion = whole_completion(raw, upstream)
        dialects: set[str] = set()
        message, record.tool_calls = render_message(
            completion,
            plan,
            model=model,
            message_id=message_id,
            stop_sequences=stop_sequences(data),
            dialects=dialects,
        )
        record.dialect = ",".join(sorted(dialects)) or None
        return Response(orjson.dumps(message), media_type="application/json")


def _dialect(settings: Settings, model: str, body: dict[str, Any]) -> str:
    """The dialect the answer is read in: the model's, by the settings; else detected from the
    output when it may call tools (DETECT_DIALECT); else none (``plain``: the text, reasoning
    and calls the backend parsed itself pass as they are)."""
    dialect = settings.dialect_for(model)
    if dialect is not None:
        return dialect
    if settings.detect_dialect and body.get("tools") and body.get("tool_choice") != "none":
        return AUTO
    return PLAIN
