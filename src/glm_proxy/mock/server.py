"""The mock GLM backend's HTTP server (aiohttp): an OpenAI-compatible API without a tool parser.

Routes: ``POST /v1/chat/completions`` (and ``/chat/completions``), ``GET /v1/models`` (and
``/models``), ``GET /health``. Any ``Authorization`` is accepted. Errors are OpenAI-shaped.

It answers like a raw GLM server, reasoning and all in ``content``, unless it is told to split
the reasoning off into a message field as a backend with a reasoning parser does
(``reasoning_field``, or per request the header ``X-Mock-Reasoning-Field``).

It is also the backend of the benchmarks, so per-request work is kept small: the reply of a
request body seen before is reused (bodies up to ``CACHE_BODY_LIMIT`` bytes, ``CACHE_SIZE`` of
them), and with no delay a stream is written in one piece instead of chunk by chunk.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from dataclasses import dataclass
from types import TracebackType

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from glm_proxy.mock.completions import (
    Envelope,
    completion_body,
    encode_pieces,
    error_body,
    stream_ticks,
)
from glm_proxy.mock.replies import (
    ChatRequest,
    Reply,
    RequestError,
    StyleSetting,
    build_reply,
    mock_dialects,
    pick_style,
    read_request,
)

logger = logging.getLogger("glm_proxy.mock")

MODELS = ("glm-4.5-air", "glm-4.5", "glm-4.6", "glm-4.7", "glm-4.7-flash", "glm-5")
STYLES = ("auto", "4.5", "4.7")
CACHE_SIZE = 1024
CACHE_BODY_LIMIT = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
_SSE_HEADERS = {"Cache-Control": "no-cache"}
REASONING_HEADER = "X-Mock-Reasoning-Field"
"""A request header that makes the mock split the reasoning off into the field it names."""
REASONING_FIELDS = ("reasoning_content", "reasoning")
DIALECT_HEADER = "X-Mock-Dialect"
"""A request header that makes the mock write its tool calls in the dialect it names."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    request: ChatRequest
    reply: Reply
    pieces: list[tuple[bytes, bytes]] | None
    """The stream's encoded pieces (None for non-streamed requests)."""


class _MockBackend:
    def __init__(
        self,
        style: StyleSetting,
        chunk_size: int,
        delay: float,
        reasoning_field: str | None,
        dialect: str = "glm",
    ) -> None:
        self.style: StyleSetting = style
        self.dialect = dialect
        self.chunk_size = chunk_size
        self.delay = delay
        self.reasoning_field = reasoning_field
        self.cache: dict[bytes, _Prepared] = {}
        self.id_prefix = "chatcmpl-" + secrets.token_hex(6)
        self.counter = itertools.count(1)

    def prepare(self, body: bytes, reasoning_field: str | None, dialect: str) -> _Prepared:
        key = body if reasoning_field is None else reasoning_field.encode() + b"\0" + body
        if dialect != self.dialect:
            key = dialect.encode() + b"\0" + key
        prepared = self.cache.get(key)
        if prepared is not None:
            return prepared
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise RequestError(f"the request body is not valid JSON: {error}") from None
        request = read_request(decoded)
        reply = build_reply(request, pick_style(self.style, request.model), dialect)
        pieces = None
        if request.stream:
            pieces = encode_pieces(reply.text, self.chunk_size, reasoning_field)
        prepared = _Prepared(request, reply, pieces)
        if len(body) <= CACHE_BODY_LIMIT:
            if len(self.cache) >= CACHE_SIZE:
                del self.cache[next(iter(self.cache))]
            self.cache[key] = prepared
        return prepared

    async def chat_completions(self, http_request: web.Request) -> web.StreamResponse:
        reasoning_field = http_request.headers.get(REASONING_HEADER, self.reasoning_field)
        if reasoning_field is not None and reasoning_field not in REASONING_FIELDS:
            raise RequestError(
                f"{REASONING_HEADER} must be one of {', '.join(REASONING_FIELDS)}, "
                f"not {reasoning_field!r}"
            )
        dialect = http_request.headers.get(DIALECT_HEADER, self.dialect)
        if dialect not in mock_dialects():
            raise RequestError(
                f"{DIALECT_HEADER} must be one of {', '.join(mock_dialects())}, not {dialect!r}"
            )
        prepared = self.prepare(await http_request.read(), reasoning_field, dialect)
        request, reply = prepared.request, prepared.reply
        envelope = Envelope(
            f"{self.id_prefix}{next(self.counter):x}", int(time.time()), request.model, request.n
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "chat model=%s stream=%s choices=%d chars=%d finish=%s",
                request.model,
                request.stream,
                request.n,
                len(reply.text),
                reply.finish_reason,
            )
        if prepared.pieces is None:
            return web.Response(
                body=completion_body(reply, envelope, reasoning_field),
                content_type="application/json",
            )
        ticks = stream_ticks(reply, envelope, prepared.pieces, request.include_usage)
        if self.delay <= 0:
            return web.Response(
                body=b"".join(ticks), content_type="text/event-stream", headers=_SSE_HEADERS
            )
        response = web.StreamResponse(headers=_SSE_HEADERS)
        response.content_type = "text/event-stream"
        await response.prepare(http_request)
        try:
            for index, tick in enumerate(ticks):
                if index:
                    await asyncio.sleep(self.delay)
                await response.write(tick)
            await response.write_eof()
        except ConnectionError:
            logger.debug("client went away during a stream")
        return response

    async def models(self, _request: web.Request) -> web.Response:
        return web.Response(body=_MODELS_BODY, content_type="application/json")

    async def health(self, _request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")


_MODELS_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "glm-proxy-mock"} for m in MODELS
        ],
    }
)

_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 413: "invalid_request_error"}


@web.middleware
async def _openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as error:
        return _error(400, error.message, error.param)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        if error.status == 404:
            message = f"no route {request.method} {request.path}; try POST /v1/chat/completions"
        else:
            message = f"{error.reason} ({request.method} {request.path})"
        return _error(error.status, message, None)


def _error(status: int, message: str, param: str | None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "invalid_request_error")
    return web.Response(
        status=status, body=error_body(message, kind, param), content_type="application/json"
    )


def create_mock_app(
    style: StyleSetting = "auto",
    chunk_size: int = 4,
    delay: float = 0.0,
    reasoning_field: str | None = None,
    dialect: str = "glm",
) -> web.Application:
    """The mock GLM backend as an aiohttp application; ``reasoning_field``: split the reasoning
    off into that message field (``reasoning_content`` or ``reasoning``); ``dialect``: the
    tool-call dialect it writes (GLM by default)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if not delay >= 0:
        raise ValueError("delay must be zero or more seconds")
    if reasoning_field is not None and reasoning_field not in REASONING_FIELDS:
        raise ValueError(f"reasoning_field must be one of {', '.join(REASONING_FIELDS)}")
    if dialect not in mock_dialects():
        raise ValueError(f"dialect must be one of {', '.join(mock_dialects())}, not {dialect!r}")
    backend = _MockBackend(style, chunk_size, delay, reasoning_field, dialect)
    app = web.Application(middlewares=[_openai_errors], client_max_size=MAX_BODY)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", backend.chat_completions)
        app.router.add_get(f"{prefix}/models", backend.models)
    app.router.add_get("/health", backend.health)
    return app


class RunningMockBackend:
    """A mock backend serving in the current event loop; ``url`` is its OpenAI base URL."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner = runner
        self.url = url
        """``http://HOST:PORT/v1``: what OPENAI_BASE_URL should be."""

    async def close(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningMockBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def start_mock_backend(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    style: StyleSetting = "auto",
    chunk_size: int = 4,
    delay: float = 0.0,
    reasoning_field: str | None = None,
    dialect: str = "glm",
) -> RunningMockBackend:
    """Serve a mock backend on ``host:port`` (port 0: a free one) until ``close()``.

    Use as ``async with await start_mock_backend() as backend: ...`` or close it yourself.
    """
    app = create_mock_app(
        style=style,
        chunk_size=chunk_size,
        delay=delay,
        reasoning_field=reasoning_field,
        dialect=dialect,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningMockBackend(runner, f"http://{shown}:{bound_port}/v1")
