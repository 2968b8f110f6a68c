"""The HTTP application: routes, request checks, error responses, access log.

``create_app(settings)`` builds a FastAPI app; nothing is read from the environment here
(entry points do that: ``glm_proxy.commands.serve``, ``server.py``).

Routes:
    POST /v1/chat/completions, /chat/completions   GLM models: translated; others: relayed
    ANY  /v1/...                                   relayed to the backend unchanged
    GET  /health                                   answers without the backend (and without a key)
    GET  /health/ready                             asks the backend for its model list

Every request passes ``RequestMiddleware`` first (request id, access log, keys, shutdown).
The hot path stays lean: the raw body is parsed once with orjson, checked by hand
(``chat_request``), and the original bytes go to the backend unchanged.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from glm_proxy.access_log import RequestRecord
from glm_proxy.chat_request import check_body_headers, parse_chat_request
from glm_proxy.config import Settings
from glm_proxy.conversion.plan import plan_for
from glm_proxy.errors import (
    BackendBadResponse,
    BackendError,
    BackendStatusError,
    BadRequest,
    BodyTooLarge,
    MethodNotAllowed,
    ProxyError,
    RequestError,
    RouteNotFound,
    error_body,
    hidden_forms,
    hide_keys,
)
from glm_proxy.middleware import RECORD, RequestMiddleware, internal_error
from glm_proxy.shutdown import Drain
from glm_proxy.stream_translator import StreamTranslator
from glm_proxy.streaming import (
    SSE_HEADERS,
    UpstreamStreamResponse,
    relayed_stream,
    translated_stream,
)
from glm_proxy.translate import translate_completion
from glm_proxy.upstream import Upstream, response_headers

logger = logging.getLogger("glm_proxy.app")

__all__ = ["RECORD", "Proxy", "ProxyApp", "create_app"]
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
RELAY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
GC_YOUNGEST_EVERY = 10_000
"""Allocations between collections of the youngest generation (Python's default: 700)."""
READ_WHOLE_LIMIT = 1 << 20
"""Relayed bodies with a known length up to this size are read whole, not streamed."""


def create_app(settings: Settings) -> FastAPI:
    """The proxy as an ASGI app; the upstream session lives as long as the app's lifespan."""
    proxy = Proxy(settings)
    drain = Drain(settings.shutdown_grace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await proxy.upstream.start()
        drain.started()
        # Everything built so far (modules, the app, the session) lives as long as the process:
        # out of the collector's sight, the collections that requests cause stay cheap (about
        # a sixth of the CPU per request otherwise). Garbage goes first, so none is kept.
        gc.collect()
        gc.freeze()
        # A request allocates thousands of objects that reference counting frees at once, so
        # collecting the youngest generation every 700 allocations mostly walks live objects:
        # less often is 5% less CPU per request (chat and streams alike, measured).
        gc.set_threshold(GC_YOUNGEST_EVERY, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            drain.stopped()
            await proxy.upstream.close()

    app = ProxyApp(
        title="glm-proxy", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.chat = RequestMiddleware(partial(_answer, proxy.chat_completions), settings, drain)
    for path in CHAT_PATHS:
        app.add_route(path, proxy.chat_completions, methods=["POST"])
    app.add_route("/health", proxy.health, methods=["GET"])
    app.add_route("/health/ready", proxy.ready, methods=["GET"])
    app.add_route("/v1/{path:path}", proxy.relay, methods=RELAY_METHODS)
    app.add_exception_handler(ProxyError, _proxy_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(RequestMiddleware, settings=settings, drain=drain)
    app.state.settings = settings
    app.state.drain = drain
    # Whatever a backend echoes, its key does not reach the client (JSON-escaped or not).
    key = settings.api_key
    app.state.hidden = hidden_forms(key)
    return app


class ProxyApp(FastAPI):
    """The FastAPI app, with a short way in for the requests that matter most.

    ``POST /v1/chat/completions`` (and ``/chat/completions``) goes straight to ``chat``: the
    same ``RequestMiddleware`` and handler as through FastAPI, without its routing, middleware
    and exception layers (in py-spy's profile under load, about a tenth of a request's CPU).
    The routes stay registered for requests under a ``root_path``, which FastAPI's router
    knows how to strip.
    """

    chat: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in CHAT_PATHS
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await self.chat(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _answer(
    handler: Callable[[Request], Awaitable[Response]], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run ``handler`` as an ASGI app, answering errors as the app's exception handlers do."""
    request = Request(scope, receive)
    try:
        response = await handler(request)
    except ProxyError as error:
        response = await _proxy_error(request, error)
    except ClientDisconnect as error:
        response = await _client_disconnect(request, error)
    await response(scope, receive, send)


class Proxy:
    """The request handlers, sharing the settings and the upstream session."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.upstream = Upstream(settings)
        self.chat_url = self.upstream.url("/chat/completions")

    async def chat_completions(self, request: Request) -> Response:
        record: RequestRecord = request.scope[RECORD]
        check_body_headers(request.scope["headers"])
        body = await self._read_body(request)
        data = parse_chat_request(body)
        model: str = data["model"]
        tools = data.get("tools")
        stream = data.get("stream") is True
        record.model, record.messages, record.stream = model, len(data["messages"]), stream
        record.tools = len(tools) if tools else 0
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request body: %s", body.decode("utf-8", "replace"))
        settings = self.settings
        headers = self.upstream.headers(request.scope["headers"], "application/json")
        query = request.scope["query_string"]
        url = self.upstream.url("/chat/completions", query) if query else self.chat_url
        if not settings.is_glm(model):
            return await self._relay(record, "POST", url, headers, body)
        plan = plan_for(
            data,
            starts_in_reasoning=settings.starts_in_reasoning(model),
            max_buffer=settings.parser_max_buffer,
        )
        response = await self.upstream.send("POST", url, headers, body)
        if response.status >= 400:
            raise await self.upstream.status_error(response)
        if stream:
            if response.content_type == "application/json":
                # The backend ignored ``stream``: say so rather than lose its answer silently.
                response.close()
                raise BackendBadResponse(
                    f"the backend at {self.upstream.public_url} answered a streaming request "
                    "with application/json instead of an event stream"
                )
            return UpstreamStreamResponse(
                translated_stream(
                    response,
                    StreamTranslator(plan, settings.reasoning_field),
                    self.upstream,
                    record,
                ),
                close_upstream=response.close,
                status_code=response.status,
                headers=SSE_HEADERS,
                media_type="text/event-stream",
            )
        raw = await self.upstream.read(response)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("backend answer: %s", raw.decode("utf-8", "replace"))
        completion = self._completion(raw)
        del raw  # a large answer is held decoded, not twice
        result, record.tool_calls = translate_completion(completion, plan, settings.reasoning_field)
        del completion
        return Response(orjson.dumps(result), response.status, media_type="application/json")

    async def relay(self, request: Request) -> Response:
        """Any other ``/v1/...`` route: the request and the answer pass through unchanged."""
        scope = request.scope
        path: str = scope["path"]
        if path in CHAT_PATHS:
            raise MethodNotAllowed(
                f"method {request.method} is not allowed on {path} (use POST)",
            )
        record: RequestRecord = scope[RECORD]
        url = self.upstream.relay_url(_raw_suffix(scope), scope["query_string"])
        body = await self._read_body(request)
        headers = self.upstream.headers(scope["headers"])
        return await self._relay(record, request.method, url, headers, body or None)

    async def health(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def ready(self, request: Request) -> Response:
        """Ready when the backend answers ``GET /models`` (within 10 s at most)."""
        upstream = self.upstream
        headers = upstream.headers(())
        deadline = min(self.settings.upstream_timeout, 10.0)
        try:
            response = await upstream.send(
                "GET", upstream.url("/models"), headers, None, deadline=deadline
            )
            if response.status >= 400:
                raise await upstream.status_error(response)
            await upstream.read(response)
        except BackendError as error:
            request.scope[RECORD].error = error.code
            body = error_body(f"not ready: {error.message}", error.type, code="backend_not_ready")
            return Response(body, 503, media_type="application/json")
        body = orjson.dumps({"status": "ready", "backend": upstream.public_url})
        return Response(body, media_type="application/json")

    async def _relay(
        self,
        record: RequestRecord,
        method: str,
        url: Any,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> Response:
        upstream = self.upstream
        response = await upstream.send(method, url, headers, body)
        if response.status >= 400:
            raise await upstream.status_error(response)
        length = response.content_length
        if length is not None and length <= READ_WHOLE_LIMIT:
            raw = await upstream.read(response)
            relayed = Response(raw, response.status)
            relayed.raw_headers.extend(response_headers(response))
            return relayed
        return UpstreamStreamResponse(
            relayed_stream(response, upstream, record),
            close_upstream=response.close,
            status_code=response.status,
            headers=response_headers(response),
        )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_size
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _completion(self, raw: bytes) -> dict[str, Any]:
        where = f"the backend at {self.upstream.public_url}"
        try:
            completion = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BackendBadResponse(
                f"{where} answered with invalid JSON: {_excerpt(raw)}"
            ) from None
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise BackendBadResponse(f"{where} answered without a choices list: {_excerpt(raw)}")
        for choice in completion["choices"]:
            if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                raise BackendBadResponse(
                    f"{where} answered with a choice that has no message object: {_excerpt(raw)}"
                )
        return completion


async def _proxy_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ProxyError)
    request.scope[RECORD].error = error.code
    body = error.body()
    if isinstance(error, BackendError):  # it may quote what the backend said
        body = hide_keys(body, request.app.state.hidden)
    headers = error.headers if isinstance(error, BackendStatusError) else None
    return Response(body, error.status, headers=headers, media_type="application/json")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    method, path = request.method, request.url.path
    proxy_error: ProxyError
    if error.status_code == 404:
        proxy_error = RouteNotFound(
            f"unknown route {method} {path}: glm-proxy serves /v1/... (the OpenAI API) and /health"
        )
    elif error.status_code == 405:
        proxy_error = MethodNotAllowed(f"method {method} is not allowed on {path}")
    else:
        status = error.status_code
        proxy_error = RequestError(error.detail) if status < 500 else ProxyError(error.detail)
        proxy_error.status = status
    response = await _proxy_error(request, proxy_error)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_error(request: Request, error: Exception) -> Response:
    """FastAPI's own request checks (no route uses them today; kept OpenAI-shaped regardless)."""
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
        for item in error.errors()
    )
    return await _proxy_error(request, BadRequest(f"invalid request: {problems}"))


async def _client_disconnect(request: Request, error: Exception) -> Response:
    request.scope[RECORD].error = "client_disconnected"
    return Response(status_code=499)


async def _internal_error(request: Request, error: Exception) -> Response:
    """The outermost backstop: ``RequestMiddleware`` itself failed (it answers all else)."""
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return Response(internal_error(error).body(), 500, media_type="application/json")


def _raw_suffix(scope: Scope) -> bytes:
    """The path after ``/v1`` as the client wrote it (percent-escapes kept): ``raw_path``
    without the ``root_path`` (uvicorn puts it in front) and ``/v1``."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    root = scope.get("root_path", "").encode("utf-8")
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    if not raw.startswith(b"/v1/"):
        # Only an escaped "/v1" gets here ("/%76%31/models"): say what the proxy serves.
        raise BadRequest("relayed paths start with /v1/, written as such (not percent-escaped)")
    return raw[len(b"/v1") :]


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"request body is larger than {limit} bytes (MAX_BODY_SIZE)")


def _excerpt(raw: bytes, size: int = 200) -> str:
    text = raw[:size].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > size else ""))
