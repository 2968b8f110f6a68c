"""The proxy's client connections: uvicorn's httptools protocol, with the limits it lacks.

uvicorn closes a kept-alive connection after KEEP_ALIVE_TIMEOUT idle seconds between requests
(its ``timeout_keep_alive``), and answers HTTP. What it does not do, ``GuardedHttpProtocol``
adds, each with a timer per connection and nothing on the path of a request's bytes:

- **HEAD_TIMEOUT**: a connection must send a complete request head within this many seconds
  of its opening (or of the first byte of its next request). A connection that sends nothing,
  or dribbles its headers, is closed: it cannot hold a socket for as long as it likes.
- **MAX_CONNECTIONS**: a connection opened while as many are open gets a 503 in the OpenAI
  shape for its request, and is closed (its head must come within ``OVER_CAP_HEAD_TIMEOUT``).
  The default follows the process's file limit, which ``raise_file_limit`` raises to the hard
  limit at start-up: the cap leaves room for a backend connection per client connection, so
  the proxy keeps answering instead of failing to accept.
- **SEND_TIMEOUT**: a client that stops taking the answer's bytes is dropped. The transport
  tells when its buffer is full (``pause_writing``); uvicorn then holds the app's next write
  (so the stream stops reading the backend: memory per stream stays bounded). If the buffer
  does not shrink for SEND_TIMEOUT seconds, the connection is aborted; the request sees the
  client gone and closes its backend stream. A slow reader that takes bytes is never dropped.
- **HTTP/1.0**: a response without Content-Length is close-delimited, as RFC 9112 (6.3) asks
  of a server answering an HTTP/1.0 request, not chunked (which HTTP/1.0 does not know).

``GuardedHttpProtocol.limits`` is set by the entry point (``configure``) before uvicorn starts;
uvicorn creates one protocol per connection.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from glm_proxy.errors import TooManyConnections

RESERVED_FILES = 64
"""Files kept out of the connection cap: the log, the listening socket, DNS, the runtime's own."""
OVER_CAP_HEAD_TIMEOUT = 2.0
"""Seconds a connection over MAX_CONNECTIONS gets to send the request its 503 answers."""
_LIMIT_WHEN_UNLIMITED = 1 << 20
"""The file limit assumed (and asked for) when the hard limit is "unlimited"."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout: float = 30.0
    send_timeout: float = 60.0
    max_connections: int = 1000


def raise_file_limit() -> int:
    """Raise the soft limit of open files to the hard one; the soft limit it has then."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _LIMIT_WHEN_UNLIMITED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft  # not allowed here (a container, say): the cap follows what there is
        soft = wanted
    return _LIMIT_WHEN_UNLIMITED if soft == resource.RLIM_INFINITY else soft


def default_max_connections(file_limit: int) -> int:
    """The connection cap for a file limit: each client connection may need a backend one."""
    return max(1, (file_limit - RESERVED_FILES) // 2)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head timeout, a connection cap, a stall timeout and
    close-delimited HTTP/1.0 streams (see the module's docstring)."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = self.limits.head_timeout
        self._head_since: float | None = None
        """When the request head now awaited began (None: no head is awaited)."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._stalled_at = 0
        self.limit_concurrency = None  # the cap is MAX_CONNECTIONS, answered below

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = _over_capacity(self.limits.max_connections)
            self._head_timeout = min(self._head_timeout, OVER_CAP_HEAD_TIMEOUT)
        self._head_since = self.loop.time()
        # One timer per connection, not per request: it looks at ``_head_since`` when it fires.
        self._head_timer = self.loop.call_later(self._head_timeout, self._check_head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_since is None:  # a later request on the connection: its own deadline
            self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_since = None
        super().on_headers_complete()
        if self.scope["http_version"] == "1.0" and self.cycle is not None:
            self.cycle.__class__ = _CloseDelimitedCycle

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
        self._stalled_at = self.transport.get_write_buffer_size()
        self._stall_timer = self.loop.call_later(self.limits.send_timeout, self._check_stall)

    def resume_writing(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        super().resume_writing()

    def _check_stall(self) -> None:
        """SEND_TIMEOUT seconds with the write buffer full: drop the client unless it took some."""
        size = self.transport.get_write_buffer_size()
        if size < self._stalled_at:  # slow, but reading
            self._stalled_at = size
            self._stall_timer = self.loop.call_later(self.limits.send_timeout, self._check_stall)
            return
        self._stall_timer = None
        self.logger.warning(
            "dropped a client that took no byte of its answer for %g s (SEND_TIMEOUT)",
            self.limits.send_timeout,
        )
        self.transport.abort()  # ``close`` would wait for the buffer to be sent, forever

    def _check_head(self) -> None:
        """Close the connection if the head it owes is late; else look again when it would be."""
        since = self._head_since
        wait = (
            self._head_timeout if since is None else since + self._head_timeout - self.loop.time()
        )
        if wait <= 0:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()
            return
        self._head_timer = self.loop.call_later(wait, self._check_head)


class _CloseDelimitedCycle(RequestResponseCycle):
    """The response to an HTTP/1.0 request: a body without Content-Length ends with the
    connection (uvicorn would frame it with chunked coding, which HTTP/1.0 does not know)."""

    close_delimited = False

    async def send(self, message: Any) -> None:  # uvicorn's ASGISendEvent
        if message["type"] == "http.response.start" and not self.response_started:
            framed = any(
                name.lower() in (b"content-length", b"transfer-encoding")
                for name, _ in message.get("headers", ())
            )
            if not framed:
                self.close_delimited = True
                self.chunked_encoding = False  # uvicorn adds no framing; keep_alive is off
        elif self.close_delimited and message["type"] == "http.response.body":
            # uvicorn counts the body against a length: each write is exactly what is left.
            self.expected_content_length = len(message.get("body", b""))
        await super().send(message)


def _over_capacity(cap: int) -> ASGIApp:
    error = TooManyConnections(
        f"glm-proxy has {cap} client connections open, as many as MAX_CONNECTIONS allows: "
        "send the request again in a moment"
    )
    body = error.body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]

    start: Message = {"type": "http.response.start", "status": error.status, "headers": headers}
    whole: Message = {"type": "http.response.body", "body": body, "more_body": False}

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send(whole)

    return refuse


def configure(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """Set the limits of every connection to come; the protocol class to give uvicorn."""
    GuardedHttpProtocol.limits = limits
    return GuardedHttpProtocol
