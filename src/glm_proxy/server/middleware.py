"""The ASGI middleware every HTTP request passes first.

For each request, in order:

1. an id: the client's ``x-request-id`` when it is sane, else a new one. It goes back in every
   response (errors too) and is ``current_request_id`` for the log lines written meanwhile;
2. a ``RequestRecord`` in the scope (``RECORD``): the handlers fill it in, and it is logged as
   the request's line when the request ends;
3. the gate: 503 once shutdown has cut requests off; 403 for a client on another machine when
   neither ``PROXY_API_KEY`` nor ``ALLOW_REMOTE`` lets it in; with ``PROXY_API_KEY``, 401 for a
   missing or wrong key (every route but ``/health``), and the key headers are dropped so that
   they never reach the backend;
4. the last resort: an exception no handler answered becomes an OpenAI-shaped 500 (with the
   id), and a request that shutdown cut off (see ``glm_proxy.server.shutdown``) ends with an error
   event if its event stream had started, else with a 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_proxy.access_log import (
    RECORD,
    RequestRecord,
    current_request_id,
    log_request,
    request_id_from,
)
from glm_proxy.config import Settings
from glm_proxy.errors import Forbidden, ProxyError, ShuttingDown, Unauthorized
from glm_proxy.fronts.error_shapes import STREAM_END, shape_for
from glm_proxy.server.auth import CLIENT_KEY_HEADERS, ClientKeys, is_loopback, presented_key
from glm_proxy.server.shutdown import Drain

logger = logging.getLogger("glm_proxy.app")

OPEN_PATHS = frozenset({"/health"})
"""Routes that answer without a key (load balancers and health checks have none)."""


class _Response:
    """What has been sent of the response so far."""

    __slots__ = ("finished", "headers", "started")

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.headers: Any = ()

    def is_event_stream(self) -> bool:
        return any(
            name.lower() == b"content-type" and value.startswith(b"text/event-stream")
            for name, value in self.headers
        )


class RequestMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, drain: Drain):
        self.app = app
        self.keys = ClientKeys(settings.proxy_api_keys)
        self.local_only = not (settings.proxy_api_keys or settings.allow_remote)
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given_id: bytes | None = None
        presented: list[bytes] = []
        check_keys = bool(self.keys)
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given_id = value
            elif check_keys and name in CLIENT_KEY_HEADERS:
                key = presented_key(name, value)
                if key:
                    presented.append(key)
        request_id = request_id_from(given_id)
        record = RequestRecord(scope["method"], scope["path"], request_id)
        scope[RECORD] = record
        token = current_request_id.set(request_id)
        id_header = (b"x-request-id", request_id.encode("ascii"))
        response = _Response()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                response.headers = message["headers"] = [*message.get("headers", ()), id_header]
                response.started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                response.finished = True
            await send(message)

        task = asyncio.current_task()
        drain = self.drain
        try:
            refusal = self._refusal(scope, presented)
            if refusal is not None:
                await send_error(send_with_id, record, refusal)
                return
            if check_keys:
                scope["headers"] = [h for h in scope["headers"] if h[0] not in CLIENT_KEY_HEADERS]
            if task is not None:
                drain.tasks.add(task)
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if task is None or not drain.cut_off or response.finished:
                _note_cancelled(record, response)
                raise
            if response.started and not response.is_event_stream():
                _note_cancelled(record, response)
                raise  # a relayed body cut short: closing the connection says it best
            task.uncancel()
            await self._end_cut_off(send_with_id, record, response, scope.get(STREAM_END))
        except Exception as error:
            if response.started:
                record.error = record.error or "internal_error"
                raise  # the status has gone out: the server can only close the connection
            logger.error(
                "unexpected error on %s %s", scope["method"], scope["path"], exc_info=error
            )
            await send_error(send_with_id, record, internal_error(error))
        finally:
            if task is not None:
                drain.tasks.discard(task)
            log_request(record)
            current_request_id.reset(token)

    def _refusal(self, scope: Scope, presented: list[bytes]) -> ProxyError | None:
        if self.drain.cut_off:
            return ShuttingDown("glm-proxy is shutting down: send the request again later")
        if self.local_only:
            client = scope.get("client")
            if client and not is_loopback(client[0]):
                return Forbidden(
                    f"glm-proxy serves only its own machine, and {client[0]} is another one: "
                    "set PROXY_API_KEY on the proxy (and send that key), or ALLOW_REMOTE=true"
                )
        if self.keys and scope["path"] not in OPEN_PATHS:
            if not presented:
                return Unauthorized(
                    "missing API key: this glm-proxy wants one of its keys (PROXY_API_KEY) as "
                    "'Authorization: Bearer <key>' or 'x-api-key: <key>'"
                )
            if not any(self.keys.accepts(key) for key in presented):
                return Unauthorized(
                    "invalid API key: the key sent is not one of this glm-proxy's keys "
                    "(PROXY_API_KEY)"
                )
        return None

    async def _end_cut_off(
        self,
        send: Send,
        record: RequestRecord,
        response: _Response,
        end_stream: Callable[[ProxyError], list[bytes]] | None,
    ) -> None:
        error = ShuttingDown(
            "glm-proxy is shutting down and the request did not finish within "
            f"{self.drain.grace:g} s (SHUTDOWN_GRACE)"
        )
        if not response.started:
            await send_error(send, record, error)
            return
        record.error = error.code
        event = shape_for(record.path).event(error)
        if end_stream is not None:  # the stream's own ending (its sequence, its held text)
            try:
                event = b"".join(end_stream(error))
            except Exception:
                logger.exception("the stream's own ending failed; ending it in its front's shape")
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def send_error(send: Send, record: RequestRecord, error: ProxyError) -> None:
    """Answer with ``error`` in the shape of the request's front (outside the app's exception
    handlers)."""
    record.error = error.code
    status, body = shape_for(record.path).render(error)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def internal_error(error: BaseException) -> ProxyError:
    """The 500 of a bug: it names the exception's type, never its text or a traceback."""
    return ProxyError(
        f"glm-proxy failed unexpectedly ({type(error).__name__}); see its log",
        code="internal_error",
    )


def _note_cancelled(record: RequestRecord, response: _Response) -> None:
    if not response.started:
        record.status = 499
    if record.error is None and not response.finished:
        record.error = "cancelled"
