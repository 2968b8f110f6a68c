"""The connection to the backend: one pooled aiohttp session per process.

``Upstream.start()`` (in the app's lifespan) creates the session, ``close()`` ends it. Requests
go out with the client's original bytes and headers (minus hop-by-hop ones, and minus the
client's key when the proxy has its own). Every aiohttp failure is turned into a
``BackendError`` that says what happened and what to check.

A request is sent once, never again: a POST that reached the backend may have started a
generation (GPU time, and a tool-calling agent acting twice). Backends drop idle kept-alive
connections when they like, so a pooled connection is looked at before the request goes out on
it (``_PoolConnector``): one that the backend has closed (it is readable while idle: the close,
or bytes nobody asked for) is thrown away, and another is taken, before anything is written.
A body that breaks off part-way is not thrown away: the error carries what arrived
(``BackendError.partial``, sent as ``error.partial``).

Relayed paths go out exactly as the client wrote them (``relay_url``), under the base URL's
path; a path that would leave it once decoded and normalised (``/v1/%2e%2e/admin``) is refused.
"""

from __future__ import annotations

import errno
import select
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace
from yarl import URL

from glm_proxy.config import Settings
from glm_proxy.errors import (
    BackendBadResponse,
    BackendError,
    BackendStatusError,
    BackendTimeout,
    BackendUnreachable,
    BadRequest,
    hidden_forms,
)

RawHeaders = Sequence[tuple[bytes, bytes]]

# Request headers that describe the client's connection to the proxy, not the request itself.
_HOP_BY_HOP = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        # The proxy reads bodies itself and asks for them uncompressed (``_IDENTITY``).
        b"accept-encoding",
    }
)
# Readable and cheap to read. Sent, rather than skipping aiohttp's own Accept-Encoding: a request
# without one accepts any coding, and skipping costs aiohttp a header copy per request.
_IDENTITY = ("Accept-Encoding", "identity")
_CLIENT_KEYS = frozenset({b"authorization", b"x-api-key", b"api-key"})
# Response headers the proxy's own server sets, or that no longer hold after aiohttp decoding.
_RESPONSE_SKIP = frozenset(
    {
        b"content-length",
        b"content-encoding",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"date",
        b"server",
    }
)
ERROR_BODY_LIMIT = 1 << 20
"""Most bytes of an error response the proxy reads to quote it."""
DEAD_POOLED_LIMIT = 8
"""Closed pooled connections thrown away for one request, at most (then one is used as is)."""
# How aiohttp words a body that ended before its Content-Length or last chunk.
_CUT_SHORT = "Response payload is not completed"


class Upstream:
    """The backend at ``settings.base_url``, reached through one shared session."""

    def __init__(self, settings: Settings):
        self.base_url = settings.base_url
        self.public_url = settings.public_base_url()
        self.timeout = settings.upstream_timeout
        self._auth = f"Bearer {settings.api_key}" if settings.api_key else None
        self.hidden = hidden_forms(settings.api_key)
        """The backend key's forms, to mask wherever the backend's words reach the client."""
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.upstream_timeout, sock_read=settings.upstream_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = _PoolConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            # One client's cookies from the backend must not ride along with another client's
            # requests (they still reach the client that got them, in the relayed headers).
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def relay_url(self, raw_suffix: bytes, query: bytes = b"") -> URL:
        """The backend URL for a relayed request: ``raw_suffix`` (the path after ``/v1``, as
        the client wrote it) under the base URL's path; ``BadRequest`` if it would leave it."""
        if _leaves(raw_suffix):
            shown = raw_suffix.decode("latin-1")
            raise BadRequest(
                f"the path /v1{shown} leaves /v1 once decoded and normalised: "
                "glm-proxy relays only paths under /v1"
            )
        return self.url(raw_suffix.decode("latin-1"), query)

    def url(self, suffix: str, query: bytes = b"") -> URL:
        """The backend URL for ``suffix`` (the path after ``/v1``) and a raw query string."""
        text = self.base_url + suffix
        if query:
            text += "?" + query.decode("latin-1")
        return URL(text, encoded=True)

    def headers(
        self, client_headers: RawHeaders, default_type: str | None = None
    ) -> list[tuple[str, str]]:
        """The headers to send upstream for a request that came with ``client_headers``."""
        skip_keys = self._auth is not None
        headers: list[tuple[str, str]] = []
        has_type = False
        for name, value in client_headers:
            if name in _HOP_BY_HOP or (skip_keys and name in _CLIENT_KEYS):
                continue
            if name == b"content-type":
                has_type = True
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if self._auth is not None:
            headers.append(("Authorization", self._auth))
        if default_type is not None and not has_type:
            headers.append(("Content-Type", default_type))
        headers.append(_IDENTITY)
        return headers

    async def send(
        self,
        method: str,
        url: URL,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        deadline: float | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request; the caller must ``close()`` or ``release()`` the response.

        ``deadline`` bounds the whole request in seconds (default: UPSTREAM_TIMEOUT per read).
        """
        if self._session is None:
            raise RuntimeError("Upstream.start() was not called (the app's lifespan did not run)")
        timeout = self._timeout if deadline is None else aiohttp.ClientTimeout(total=deadline)
        try:
            return await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise self.error(error, responded=False) from error

    async def read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body of ``response`` (which is then released).

        When the backend fails part-way, the error it raises carries the text that arrived
        (``BackendError.partial``): it reaches the client with the error message.
        """
        pieces: list[bytes] = []
        try:
            async for data in response.content.iter_any():
                pieces.append(data)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise self._partial(self.error(error, responded=True), pieces) from error
        finally:
            response.release()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def status_error(self, response: aiohttp.ClientResponse) -> BackendStatusError:
        """The error for a response with an error status (its body is read, up to a limit)."""
        raw = bytearray()
        try:
            while len(raw) < ERROR_BODY_LIMIT:
                data = await response.content.read(ERROR_BODY_LIMIT - len(raw))
                if not data:
                    break
                raw += data
        except (aiohttp.ClientError, TimeoutError):
            pass  # the status says enough; quote what arrived
        finally:
            response.close()
        retry_after = response.headers.get("Retry-After")
        return BackendStatusError(response.status, bytes(raw), self.public_url, retry_after)

    def error(self, error: BaseException, *, responded: bool) -> BackendError:
        """What an aiohttp failure means for the client; ``responded``: after the status line."""
        where = f"the backend at {self.public_url}"
        if isinstance(error, TimeoutError):
            return BackendTimeout(
                f"{where} did not answer within {self.timeout:g} s (UPSTREAM_TIMEOUT)"
            )
        if isinstance(error, aiohttp.ClientConnectorError):
            return BackendUnreachable(
                f"could not reach the backend at {self.public_url} ({_reason(error)}): "
                "is LM Studio / Ollama running? Set OPENAI_BASE_URL."
            )
        when = "in the middle of its answer" if responded else "before answering"
        if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
            return BackendUnreachable(f"{where} {_closed(error)} the connection {when}")
        if isinstance(error, aiohttp.ClientPayloadError):
            if str(error).startswith(_CUT_SHORT):  # the connection ended before the body did
                return BackendUnreachable(f"{where} {_closed(error)} the connection {when}")
            return BackendBadResponse(f"{where} sent a broken response body: {error}")
        return BackendBadResponse(f"{where} sent an invalid response: {error}")

    def _partial(self, failure: BackendError, pieces: list[bytes]) -> BackendError:
        """``failure``, carrying the text of ``pieces`` (what arrived before it) if any."""
        if pieces:
            text = b"".join(pieces).decode("utf-8", "replace")
            failure.partial = text
            failure.message += f"; error.partial holds the {len(text)} characters it sent"
        return failure


def response_headers(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    """The backend's response headers that still hold when the proxy relays the body."""
    return [
        (name, value) for name, value in response.raw_headers if name.lower() not in _RESPONSE_SKIP
    ]


class _PoolConnector(aiohttp.TCPConnector):
    """A connector that never hands out a pooled connection the backend has closed.

    aiohttp drops a pooled connection once the event loop has seen it closed; a close that
    arrived just now (backends drop idle connections after a few seconds) is seen here, as
    urllib3 does: an idle connection that is readable has been closed (or sent bytes nobody
    asked for). Nothing has been written on it yet, so another connection is taken instead.
    """

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> aiohttp.connector.Connection:
        for _ in range(DEAD_POOLED_LIMIT):
            connection = await super().connect(req, traces, timeout)
            if not _closed_by_peer(connection):
                return connection
            connection.close()
        return await super().connect(req, traces, timeout)


def _closed_by_peer(connection: aiohttp.connector.Connection) -> bool:
    """Whether the connection's socket is readable (only a pooled, idle one can be closed)."""
    transport = connection.transport
    if transport is None:
        return True
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _leaves(raw_suffix: bytes) -> bool:
    """Whether ``raw_suffix`` climbs above its start once percent-decoded and normalised."""
    text = unquote(raw_suffix.decode("latin-1")).replace("\\", "/")
    depth = 0
    for segment in text.split("/"):
        if segment == "..":
            depth -= 1
            if depth < 0:
                return True
        elif segment not in ("", "."):
            depth += 1
    return False


def _closed(error: aiohttp.ClientError) -> str:
    """ "reset" when the connection ended with a TCP reset, else "closed"."""
    reset = isinstance(error, aiohttp.ClientOSError) and error.errno == errno.ECONNRESET
    return "reset" if reset or "ConnectionResetError" in str(error) else "closed"


def _reason(error: aiohttp.ClientConnectorError) -> str:
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    os_error = error.os_error
    refused = f"[Errno {errno.ECONNREFUSED}]"
    if isinstance(os_error, ConnectionRefusedError) or refused in str(os_error):
        return "connection refused"  # with several addresses the errors come joined in one
    if isinstance(os_error, TimeoutError):
        return "connection timed out"
    return (os_error.strerror or str(os_error) or type(os_error).__name__).lower()
