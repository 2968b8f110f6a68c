"""A scripted OpenAI-compatible backend for integration tests: a real aiohttp server on 127.0.0.1.

Tests queue ``Script`` objects; each chat completion request takes the next one (or the default)
and gets the raw model output it holds, as a JSON completion or as SSE cut into deltas of
``chunk_size`` characters, with reasoning split off or not, any finish_reason, usage, status or
error body, delays, a stall, or raw bytes. The backend records every request it receives
(method, path, headers, body) and every streamed response whose client went away.

It runs its own event loop in a daemon thread, so tests drive the proxy with blocking clients.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

CREATED = 1_700_000_000
DEFAULT_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
DEFAULT_CONTENT = "Hello! How can I help you today?"


@dataclass(frozen=True)
class Script:
    """How the backend answers one chat completion request."""

    content: str | list[str] = DEFAULT_CONTENT
    """The raw model output; a list gives one choice per element (``n > 1``)."""
    reasoning: str | None = None
    """Reasoning the backend itself split off, sent before the content in ``reasoning_field``."""
    reasoning_field: str = "reasoning_content"
    finish_reason: str = "stop"
    usage: dict[str, int] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    chunk_size: int | None = None
    """Characters per streamed delta; None sends all the content in one delta."""
    write_size: int | None = None
    """Cut the SSE bytes into writes of this many bytes (events split across reads)."""
    delay: float = 0.0
    """Seconds to wait before each streamed write, or before a non-streamed answer."""
    stall_after: int | None = None
    """Stop sending (but keep the connection open) after this many writes."""
    status: int = 200
    error_body: bytes | None = None
    retry_after: str | None = None
    """A ``Retry-After`` header on an error status."""
    """Body of a non-200 answer (default: an OpenAI error object)."""
    body: bytes | None = None
    """Answer exactly these bytes, with ``content_type``, instead of a completion."""
    content_type: str = "application/json"
    send_done: bool = True
    extra_events: tuple[bytes, ...] = ()
    """Raw SSE bytes sent after the content chunks and before ``[DONE]``."""
    tool_calls: tuple[tuple[str, str], ...] = ()
    """Calls the backend parsed itself, (name, arguments JSON): in the message, or streamed
    after the content as vLLM streams them (first delta with id and name, then arguments)."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class ScriptedBackend:
    def __init__(self, keep_alive: bool = True) -> None:
        self.keep_alive = keep_alive
        """False: every answer closes its connection, so the proxy pools none (tests that
        count the proxy's connections then know exactly how many it should hold)."""
        self.scripts: deque[Script] = deque()
        self.default = Script()
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.open_streams = 0
        self._disconnected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- control from the test thread -------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def reset(self) -> None:
        self.scripts.clear()
        self.requests.clear()
        self.disconnects = 0
        self._disconnected.clear()

    def wait_for_disconnect(self, timeout: float = 10.0) -> bool:
        return self._disconnected.wait(timeout)

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the scripted backend did not start")

    def stop(self) -> None:
        if self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = None

    # --- the server, in its own thread -----------------------------------------------------

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/v1/{tail:.*}", self._echo)
        if not self.keep_alive:
            app.on_response_prepare.append(_close_after)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, sock)
        self._loop.run_until_complete(site.start())
        ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> RecordedRequest:
        recorded = RecordedRequest(
            request.method,
            request.path,
            request.query_string,
            {name.lower(): value for name, value in request.headers.items()},
            await request.read(),
        )
        self.requests.append(recorded)
        return recorded

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        models = [{"id": "glm-4.5-air", "object": "model", "created": CREATED, "owned_by": "z"}]
        return web.json_response({"object": "list", "data": models})

    async def _echo(self, request: web.Request) -> web.Response:
        """Any other route: answer what arrived, so tests can see the relay is faithful."""
        recorded = await self._record(request)
        payload = {"method": recorded.method, "path": recorded.path, "query": recorded.query}
        payload["body"] = recorded.body.decode("utf-8", "replace")
        headers = {"x-backend": "scripted"}
        if recorded.path.endswith("/set-cookie"):
            headers["Set-Cookie"] = "session=backend-secret; Path=/"
        return web.json_response(payload, headers=headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        script = self.scripts.popleft() if self.scripts else self.default
        try:
            body = recorded.json()
        except orjson.JSONDecodeError:
            body = {}
        streamed = isinstance(body, dict) and bool(body.get("stream"))
        if script.delay and not streamed:
            await asyncio.sleep(script.delay)
        if script.body is not None:
            return web.Response(
                body=script.body, status=script.status, content_type=script.content_type
            )
        if script.status != 200:
            error = script.error_body
            if error is None:
                error = orjson.dumps(
                    {"error": {"message": f"scripted {script.status}", "type": "scripted"}}
                )
            headers = {"Retry-After": script.retry_after} if script.retry_after else None
            return web.Response(
                body=error, status=script.status, content_type="application/json", headers=headers
            )
        model = body.get("model", "unknown") if isinstance(body, dict) else "unknown"
        if streamed:
            options = body.get("stream_options") or {}
            return await self._stream(request, script, model, bool(options.get("include_usage")))
        return web.json_response(completion(script, model), dumps=_dumps)

    async def _stream(
        self, request: web.Request, script: Script, model: str, include_usage: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        data = b"".join(sse_events(script, model, include_usage))
        self.open_streams += 1
        try:
            for number, piece in enumerate(_cut(data, script.write_size)):
                if script.stall_after is not None and number >= script.stall_after:
                    await asyncio.sleep(3600)
                if script.delay:
                    await asyncio.sleep(script.delay)
                await response.write(piece)
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            self._disconnected.set()
            raise
        finally:
            self.open_streams -= 1
        return response


async def _close_after(request: web.Request, response: web.StreamResponse) -> None:
    response.force_close()
    response.headers["Connection"] = "close"  # aiohttp closes, but would not say so


def completion(script: Script, model: str) -> dict[str, Any]:
    """The non-streamed answer for ``script``."""
    contents = script.content if isinstance(script.content, list) else [script.content]
    choices = []
    for index, text in enumerate(contents):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if script.reasoning is not None:
            message[script.reasoning_field] = script.reasoning
        if script.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_backend_{number}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for number, (name, arguments) in enumerate(script.tool_calls)
            ]
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": script.finish_reason,
            }
        )
    answer: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "system_fingerprint": "scripted",
    }
    if script.usage is not None:
        answer["usage"] = script.usage
    return answer


def sse_events(script: Script, model: str, include_usage: bool) -> Iterator[bytes]:
    """The SSE events of a streamed answer for ``script`` (one ``data:`` event each)."""
    contents = script.content if isinstance(script.content, list) else [script.content]

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "scripted",
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def delta(index: int, values: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": values, "logprobs": None, "finish_reason": finish}

    for index, text in enumerate(contents):
        yield event([delta(index, {"role": "assistant", "content": ""})])
        if script.reasoning:
            for piece in _pieces(script.reasoning, script.chunk_size):
                yield event([delta(index, {script.reasoning_field: piece})])
        for piece in _pieces(text, script.chunk_size):
            yield event([delta(index, {"content": piece})])
        for number, (name, arguments) in enumerate(script.tool_calls):
            first = {"index": number, "id": f"call_backend_{number}", "type": "function"}
            first["function"] = {"name": name, "arguments": ""}
            yield event([delta(index, {"tool_calls": [first]})])
            for piece in _pieces(arguments, script.chunk_size):
                more = {"index": number, "function": {"arguments": piece}}
                yield event([delta(index, {"tool_calls": [more]})])
        yield event([delta(index, {}, script.finish_reason)])
    yield from script.extra_events
    if include_usage and script.usage is not None:
        yield event([], script.usage)
    if script.send_done:
        yield b"data: [DONE]\n\n"


def _pieces(text: str, size: int | None) -> list[str]:
    if not text:
        return []
    if size is None:
        return [text]
    return [text[start : start + size] for start in range(0, len(text), size)]


def _cut(data: bytes, size: int | None) -> list[bytes]:
    if size is None:
        # One write per event, as real servers flush them.
        return [event + b"\n\n" for event in data.split(b"\n\n") if event]
    return [data[start : start + size] for start in range(0, len(data), size)]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
