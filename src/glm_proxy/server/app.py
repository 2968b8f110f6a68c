"""The HTTP application: routes, request checks, error responses, access log.

``create_app(settings)`` builds a FastAPI app; nothing is read from the environment here
(entry points do that: ``glm_proxy.commands.serve``, ``server.py``).

Routes:
    POST /v1/chat/completions, /chat/completions   GLM models: translated; others: relayed
    POST /v1/messages, /v1/messages/count_tokens   Anthropic Messages (fronts/anthropic_messages)
    HEAD /                                         answered (clients check that the proxy is up)
    POST /v1/responses, GET /v1/responses/{id}     the Responses front (every model)
    ANY  /v1/...                                   relayed to the backend unchanged
    GET  /health                                   answers without the backend (and without a key)
    GET  /health/ready                             asks the backend for its model list

Every request passes ``RequestMiddleware`` first (request id, access log, keys, shutdown).
Each front's route lives in its folder (``glm_proxy.fronts``); this module only dispatches.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from glm_proxy.access_log import RECORD, RequestRecord
from glm_proxy.backend.client import Upstream
from glm_proxy.config import Settings
from glm_proxy.errors import (
    BackendError,
    BackendStatusError,
    BadRequest,
    MethodNotAllowed,
    ProxyError,
    RequestError,
    RouteNotFound,
    error_body,
    hidden_forms,
    hide_keys,
)
from glm_proxy.fronts._http import read_body, relay_response
from glm_proxy.fronts.anthropic_messages.route import MessagesRoutes
from glm_proxy.fronts.error_shapes import shape_for
from glm_proxy.fronts.openai_chat.route import CHAT_PATHS, ChatRoute
from glm_proxy.fronts.openai_responses.route import RESPONSES_PATH, ResponsesRoutes
from glm_proxy.server.middleware import RequestMiddleware, internal_error
from glm_proxy.server.shutdown import Drain

logger = logging.getLogger("glm_proxy.app")

__all__ = ["RECORD", "Proxy", "ProxyApp", "create_app"]
RELAY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
GC_YOUNGEST_EVERY = 10_000
"""Allocations between collections of the youngest generation (Python's default: 700)."""


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
    chat = RequestMiddleware(partial(_answer, proxy.chat_completions), settings, drain)
    app.direct = dict.fromkeys(CHAT_PATHS, chat)
    app.direct[RESPONSES_PATH] = RequestMiddleware(
        partial(_answer, proxy.responses.create), settings, drain
    )
    for path in CHAT_PATHS:
        app.add_route(path, proxy.chat_completions, methods=["POST"])
    messages = MessagesRoutes(settings, proxy.upstream)
    app.add_route("/v1/messages", messages.messages, methods=["POST"])
    app.add_route("/v1/messages/count_tokens", messages.count_tokens, methods=["POST"])
    app.add_route("/", proxy.root, methods=["HEAD"])  # Claude Code's connectivity check
    responses = proxy.responses
    app.add_route(RESPONSES_PATH, responses.create, methods=["POST"])
    app.add_route(RESPONSES_PATH + "/{response_id}", responses.retrieve, methods=["GET"])
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

    ``POST /v1/chat/completions`` (and ``/chat/completions``) and ``POST /v1/responses`` go
    straight to their handler in ``direct``: the same ``RequestMiddleware`` and handler as
    through FastAPI, without its routing, middleware and exception layers (in py-spy's profile
    under load, about a tenth of a request's CPU). The routes stay registered for requests
    under a ``root_path``, which FastAPI's router knows how to strip.
    """

    direct: dict[str, ASGIApp]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and (direct := self.direct.get(scope["path"])) is not None
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await direct(scope, receive, send)
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
        self.chat_completions = ChatRoute(settings, self.upstream).handle
        self.responses = ResponsesRoutes(settings, self.upstream)

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
        body = await read_body(request, self.settings.max_body_size)
        headers = self.upstream.headers(scope["headers"])
        return await relay_response(
            self.upstream, record, request.method, url, headers, body or None
        )

    async def root(self, request: Request) -> Response:
        return Response(status_code=200)

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


async def _proxy_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ProxyError)
    request.scope[RECORD].error = error.code
    status, body = shape_for(request.scope["path"]).render(error)
    if isinstance(error, BackendError):  # it may quote what the backend said
        body = hide_keys(body, request.app.state.hidden)
    headers = error.headers if isinstance(error, BackendStatusError) else None
    return Response(body, status, headers=headers, media_type="application/json")


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
    status, body = shape_for(request.scope["path"]).render(internal_error(error))
    return Response(body, status, media_type="application/json")


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
