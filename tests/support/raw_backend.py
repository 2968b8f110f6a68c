"""A backend whose every connection runs the test's own coroutine: a raw asyncio TCP server.

For the HTTP hardening tests, which need what neither the scripted nor the faulty backend
does: the exact request line that arrived, a backend that takes a POST and drops it after a
while, a stream that never ends. ``RawBackend.handler`` is called with a ``Connection`` per
accepted connection; it reads requests with ``Connection.request()`` (every head is recorded
in ``RawBackend.heads``) and writes what it likes. The server counts open connections and the
bytes written to them, and runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson


@dataclass
class Request:
    line: bytes
    """The request line as it arrived: ``b"GET /v1/models HTTP/1.1"``."""
    headers: dict[bytes, bytes]
    body: bytes


class Connection:
    def __init__(
        self, server: RawBackend, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server, self.reader, self.writer = server, reader, writer

    async def request(self) -> Request | None:
        """The next request on the connection (recorded), or None once the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        line, *fields = head[:-4].split(b"\r\n")
        headers = {}
        for field in fields:
            name, _, value = field.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        request = Request(line, headers, body)
        self.server.heads.append(line)
        return request

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.server.written += len(data)
        await self.writer.drain()


Handler = Callable[[Connection], Awaitable[None]]


def json_answer(payload: object, *, close: bool = False) -> bytes:
    """A whole JSON response, kept alive unless ``close``."""
    body = orjson.dumps(payload)
    connection = b"Connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n%s" % (len(body), connection, body)
    )


def sse_chunk(content: str, finish: str | None = None) -> bytes:
    """One ``data:`` event of a streamed chat completion, framed as an HTTP chunk."""
    event = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "glm-4.5-air",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    data = b"data: " + orjson.dumps(event) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


class RawBackend:
    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.heads: list[bytes] = []
        self.open = 0
        self.written = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None

    def url(self, prefix: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"

    def reset(self, handler: Handler) -> None:
        self.handler = handler
        self.heads.clear()
        self.written = 0

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the raw backend did not start")

    def stop(self) -> None:
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = None

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, sock=sock))
        ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        assert self.handler is not None
        self._tasks.add(task)
        self.open += 1
        try:
            await self.handler(Connection(self, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the proxy went away first
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.open -= 1
            self._tasks.discard(task)
