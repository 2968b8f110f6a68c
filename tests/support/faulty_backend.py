"""A backend that breaks HTTP itself: a raw asyncio TCP server on 127.0.0.1.

The scripted backend (aiohttp) always speaks correct HTTP, whatever content it is told to send.
This one follows ``Plan``s made of byte-level steps, to produce what a crashing or flaky server
does: a connection reset (RST) before or in the middle of an answer, a clean close in the middle
of a body, a body shorter than its ``Content-Length``, a stall that only the client can end.

Each connection reads one request, then follows the next queued plan (or answers correctly when
none is queued) and closes. The server counts the connections it accepted and those still open,
so tests can see that the proxy closed its side. It runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Send:
    """Send these bytes."""

    data: bytes


@dataclass(frozen=True)
class Stall:
    """Send nothing more; wait until the client closes the connection."""


@dataclass(frozen=True)
class NextRequest:
    """Keep the connection: read the client's next request on it, then go on."""


@dataclass(frozen=True)
class Reset:
    """Abort the connection: the client gets a TCP reset (RST), not a clean close."""


@dataclass(frozen=True)
class Close:
    """Close the connection cleanly (FIN), whatever was promised."""


Step = Send | NextRequest | Stall | Reset | Close
Plan = Sequence[Step]


# --- building answers ---------------------------------------------------------------------


def head(
    status: int = 200,
    content_type: str = "application/json",
    length: int | None = None,
    keep_alive: bool = False,
) -> bytes:
    """A response head; without ``length`` the body is chunked. Unless ``keep_alive``, it says
    that the connection closes after the answer (so the client does not pool it)."""
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    connection = "" if keep_alive else "Connection: close\r\n"
    return (
        f"HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\n{framing}\r\n{connection}\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    """One piece of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def sse(content: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
    """One ``data:`` event of a streamed chat completion (choice 0)."""
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    event = {
        "id": "chatcmpl-faulty",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "glm-4.5-air",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


def completion(content: str) -> bytes:
    """A whole non-streamed chat completion."""
    message = {"role": "assistant", "content": content}
    return orjson.dumps(
        {
            "id": "chatcmpl-faulty",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "glm-4.5-air",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


GOOD_TEXT = "All good."


def good_answer(stream: bool) -> Plan:
    """A complete, correct answer."""
    if stream:
        events = sse(role=True) + sse(GOOD_TEXT) + sse(finish="stop") + b"data: [DONE]\n\n"
        return [Send(head(content_type="text/event-stream") + chunk(events) + LAST_CHUNK)]
    body = completion(GOOD_TEXT)
    return [Send(head(length=len(body)) + body)]


# --- the server ---------------------------------------------------------------------------


class FaultyBackend:
    def __init__(self) -> None:
        self.plans: deque[Plan] = deque()
        self.requests: list[bytes] = []
        """Body of every request received, in order."""
        self.accepted = 0
        self.open = 0
        """Connections accepted and not closed yet."""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def plan(self, *plans: Plan) -> None:
        self.plans.extend(plans)

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the faulty backend did not start")

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
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        self.open += 1
        reset = False
        try:
            body = await _read_request(reader)
            if body is None:
                return
            self.requests.append(body)
            plan = self.plans.popleft() if self.plans else good_answer(b'"stream":true' in body)
            for step in plan:
                if isinstance(step, Send):
                    writer.write(step.data)
                    await writer.drain()
                elif isinstance(step, NextRequest):
                    body = await _read_request(reader)
                    if body is None:
                        break
                    self.requests.append(body)
                elif isinstance(step, Stall):
                    while await reader.read(65536):
                        pass  # until the client closes its side
                    break
                elif isinstance(step, Reset):
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    reset = True
                    break
                else:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away first
        finally:
            if not reset:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            self.open -= 1
            self._handlers.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The body of one HTTP request (``Content-Length`` framed), or None if the client left."""
    try:
        header = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    length = 0
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)
