"""The ``/v1/responses`` routes: the async glue around the pure modules of this front.

``POST /v1/responses`` maps the request onto a chat-completions body (``request``), sends it to
the backend, and answers with the whole response (``render``) or its event stream (``stream``,
driven by ``fronts._http.front_stream``). Finished responses go to the in-memory ``store`` unless
the request said ``store: false``; ``GET /v1/responses/{id}`` returns a stored one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from glm_proxy.access_log import RECORD, RequestRecord
from glm_proxy.backend.client import Upstream
from glm_proxy.config import Settings
from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.dialects import AUTO
from glm_proxy.errors import BackendBadResponse, BadRequest, json_kind
from glm_proxy.fronts._http import (
    SSE_HEADERS,
    UpstreamStreamResponse,
    front_stream,
    read_body,
    whole_completion,
)
from glm_proxy.fronts.error_shapes import STREAM_END
from glm_proxy.fronts.openai_chat.request import check_body_headers
from glm_proxy.fronts.openai_responses.errors import ResponseNotFound
from glm_proxy.fronts.openai_responses.render import ResponseMeta, render_response
from glm_proxy.fronts.openai_responses.request import MappedRequest, map_request
from glm_proxy.fronts.openai_responses.store import ResponseStore
from glm_proxy.fronts.openai_responses.stream import ResponsesStream

RESPONSES_PATH = "/v1/responses"


class ResponsesRoutes:
    """The handlers of the Responses front, sharing the upstream session and one store."""

    def __init__(self, settings: Settings, upstream: Upstream) -> None:
        self.upstream = upstream
        self.settings = settings
        self.store = ResponseStore(
            settings.responses_store_max,
            settings.responses_store_max_age,
            settings.responses_store_max_bytes,
        )

    async def create(self, request: Request) -> Response:
        settings = self.settings
        record: RequestRecord = request.scope[RECORD]
        check_body_headers(request.scope["headers"])
        data = parse_body(await read_body(request, settings.max_body_size))
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model must be a non-empty string", param="model")
        backend_model = settings.backend_model(model)
        mapped = map_request(data, backend_model, self._history(data))
        body = mapped.body
        record.model, record.stream = model, mapped.stream
        record.messages, record.tools = len(body["messages"]), len(body.get("tools", ()))
        plan = self._plan(body, backend_model)
        meta = ResponseMeta.of(data, model)
        upstream = self.upstream
        headers = upstream.headers(request.scope["headers"], "application/json")
        url = upstream.url("/chat/completions")
        response = await upstream.send("POST", url, headers, orjson.dumps(body))
        if response.status >= 400:
            raise await upstream.status_error(response)
        keep = data.get("store") is not False
        if mapped.stream:
            if response.content_type == "application/json":
                response.close()
                raise BackendBadResponse(
                    f"the backend at {upstream.public_url} answered a streaming request "
                    "with application/json instead of an event stream"
                )
            front = ResponsesStream(plan, meta, mapped.names)
            request.scope[STREAM_END] = front.cut_off
            events = front_stream(response, front, upstream, record)
            return UpstreamStreamResponse(
                self._streamed(front, events, mapped, keep),
                close_upstream=response.close,
                headers=SSE_HEADERS,
                media_type="text/event-stream",
            )
        completion = whole_completion(await upstream.read(response), upstream)
        dialects: set[str] = set()
        answer, record.tool_calls = render_response(completion, plan, meta, mapped.names, dialects)
        record.dialect = ",".join(sorted(dialects)) or None
        encoded = orjson.dumps(answer)
        if keep:
            self._keep(answer, mapped, encoded)
        return Response(encoded, media_type="application/json")

    async def retrieve(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        stored = self.store.get(response_id)
        if stored is None:
            raise ResponseNotFound(
                f"no response with id {response_id!r} is stored: {self._kept()}",
                param="response_id",
            )
        return Response(orjson.dumps(stored.response), media_type="application/json")

    # -- helpers ----------------------------------------------------------------------------

    def _plan(self, body: dict[str, Any], model: str) -> Plan:
        """The plan for the backend ``model`` (MODEL_ALIASES applied: the dialect is that of the
        model that writes the answer): GLM_MODELS, then DIALECT_MODELS, else detected from the
        output when the request offers tools, as in the chat front."""
        settings = self.settings
        dialect = settings.dialect_for(model)
        if dialect is None and settings.detect_dialect and body.get("tools"):
            dialect = AUTO
        plan = plan_for(
            body,
            starts_in_reasoning=(
                settings.starts_in_reasoning(model)
                if dialect == "glm"
                else settings.thinking_start is True
            ),
            max_buffer=settings.parser_max_buffer,
            dialect=dialect or "glm",
        )
        if dialect is not None:
            return plan
        # No dialect: the model's text passes as it is (calls the backend parsed itself still
        # become function calls).
        parser = dataclasses.replace(plan.parser, parse_tool_calls=False)
        return dataclasses.replace(plan, parser=parser)

    def _history(self, data: dict[str, Any]) -> list[Any] | None:
        previous = data.get("previous_response_id")
        if previous is None:
            return None
        if not isinstance(previous, str) or not previous:
            raise BadRequest(
                f"previous_response_id must be a response id, not {json_kind(previous)}",
                param="previous_response_id",
            )
        stored = self.store.get(previous)
        if stored is None:
            raise BadRequest(
                f"previous_response_id {previous!r} names no stored response: {self._kept()}",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return stored.items

    def _kept(self) -> str:
        settings = self.settings
        return (
            f"glm-proxy keeps the last {settings.responses_store_max} responses in this "
            f"process's memory for {settings.responses_store_max_age / 60:g} minutes "
            "(RESPONSES_STORE_MAX, RESPONSES_STORE_MAX_AGE), and none sent with store: false "
            "or before a restart"
        )

    def _keep(
        self, answer: dict[str, Any], mapped: MappedRequest, encoded: bytes | None = None
    ) -> None:
        if answer.get("status") in ("completed", "incomplete"):
            self.store.put(answer, mapped.items + answer["output"], encoded)

    async def _streamed(
        self,
        front: ResponsesStream,
        events: AsyncGenerator[bytes, None],
        mapped: MappedRequest,
        keep: bool,
    ) -> AsyncGenerator[bytes, None]:
        try:
            yield b"".join(front.start())
            async for data in events:
                yield data
        finally:
            await events.aclose()
        if keep and front.final is not None:
            self._keep(front.final, mapped, front.final_json)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request as a dict, or ``BadRequest`` naming the problem."""
    if not body:
        raise BadRequest("request body is empty: send a JSON object", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"request body must be a JSON object, got {json_kind(data)}", code="invalid_json"
        )
    return data
