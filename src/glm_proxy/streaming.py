"""Streamed responses: the translated GLM stream, the raw relay, and the response that owns them.

Both generators read the backend's response as bytes arrive and yield what the client gets.
``translated_stream`` decodes SSE, translates each chunk and re-encodes it; all chunks from
one read of the backend go out in one write. ``relayed_stream`` passes bytes through untouched.

Once the status line has gone out, a failure cannot change the status: it ends the stream with
an OpenAI error event (``data: {"error": ...}``) and is recorded for the access log.

``UpstreamStreamResponse`` closes the backend response whatever happens: after the last byte,
when the client disconnects (Starlette cancels the stream at once, so a stalled backend is not
waited for), or when the stream never started.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiohttp
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from glm_proxy.access_log import RequestRecord
from glm_proxy.errors import BackendBadResponse, BackendError
from glm_proxy.sse import DONE, SSEDecoder, SSEError, SSEEvent, encode_error, encode_event
from glm_proxy.translate import StreamTranslator, Translation
from glm_proxy.upstream import Upstream

logger = logging.getLogger("glm_proxy.stream")

SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
"""Extra headers of a translated stream: no caching, no buffering by nginx-style proxies."""


class UpstreamStreamResponse(StreamingResponse):
    """A streaming response whose body comes from a backend response it closes at the end."""

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        close_upstream: Callable[[], object],
        status_code: int = 200,
        headers: list[tuple[bytes, bytes]] | None = None,
        media_type: str | None = None,
    ):
        super().__init__(content, status_code=status_code, media_type=media_type)
        if headers:
            self.raw_headers.extend(headers)
        self._content = content
        self._close_upstream = close_upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A generator that never started has no ``finally`` to run: close the backend here.
            self._close_upstream()
            await self._content.aclose()


class _StreamEnd(Exception):
    """The backend sent ``[DONE]`` or an error event: nothing more is read."""

    def __init__(self, out: list[bytes], backend_error: bytes | None = None):
        super().__init__()
        self.out = out
        self.backend_error = backend_error


async def translated_stream(
    response: aiohttp.ClientResponse,
    translation: Translation,
    upstream: Upstream,
    record: RequestRecord,
) -> AsyncGenerator[bytes, None]:
    """The client's SSE stream for a GLM backend's SSE ``response``."""
    decoder = SSEDecoder()
    translator = StreamTranslator(translation)
    debug = logger.isEnabledFor(logging.DEBUG)
    raw: list[bytes] = []
    finished = False
    try:
        backend_error = None
        try:
            async for data in response.content.iter_any():
                if debug:
                    raw.append(data)
                out = _translate_events(decoder.feed(data), translator)
                if out:
                    yield b"".join(out)
            out = _translate_events(decoder.flush(), translator)
        except _StreamEnd as end:
            out, backend_error = end.out, end.backend_error
        # Text still held by the parser is never dropped, not even before a backend's error.
        out += [encode_event(orjson.dumps(chunk)) for chunk in translator.close()]
        if backend_error is None:
            out.append(DONE)
        else:
            out.append(backend_error)
            record.error = "backend_error"
        finished = True
        yield b"".join(out)
    except (aiohttp.ClientError, TimeoutError) as error:
        yield _fail(record, upstream.error(error, responded=True))
    except (SSEError, orjson.JSONDecodeError) as error:
        message = f"the backend at {upstream.public_url} sent an invalid event stream: {error}"
        yield _fail(record, BackendBadResponse(message))
    except BackendError as error:
        yield _fail(record, error)
    except Exception as error:  # a translation bug must not leave the client hanging
        logger.exception("stream translation failed")
        yield _fail(
            record, BackendBadResponse(f"glm-proxy could not translate the stream: {error}")
        )
    finally:
        record.tool_calls = translator.tool_calls
        if finished:
            response.release()  # back to the pool if the body was read to its end
        else:
            response.close()
        if debug:
            logger.debug("backend stream: %s", b"".join(raw).decode("utf-8", "replace"))


def _translate_events(events: list[SSEEvent], translator: StreamTranslator) -> list[bytes]:
    """The client's events for the backend's events of one read (translated together)."""
    chunks: list[dict[str, Any]] = []
    for event in events:
        if event.data == "[DONE]":
            raise _StreamEnd(_encoded(translator.feed_many(chunks)))
        chunk = orjson.loads(event.data)
        if not isinstance(chunk, dict):
            raise BackendBadResponse(
                f"the backend sent an event that is not a JSON object: {event.data[:200]!r}"
            )
        if "choices" not in chunk and "error" in chunk:
            # The backend reported a failure inside its stream: pass it on and end there.
            out = _encoded(translator.feed_many(chunks))
            raise _StreamEnd(out, encode_event(orjson.dumps(chunk)))
        chunks.append(chunk)
    return _encoded(translator.feed_many(chunks)) if chunks else []


def _encoded(chunks: list[dict[str, Any]]) -> list[bytes]:
    return [encode_event(orjson.dumps(chunk)) for chunk in chunks]


async def relayed_stream(
    response: aiohttp.ClientResponse, upstream: Upstream, record: RequestRecord
) -> AsyncGenerator[bytes, None]:
    """The backend's body, byte for byte, as it arrives."""
    finished = False
    try:
        async for data in response.content.iter_any():
            yield data
        finished = True
    except (aiohttp.ClientError, TimeoutError) as error:
        failure = upstream.error(error, responded=True)
        record.error = failure.code
        if response.content_type == "text/event-stream":
            yield encode_error(failure.message, failure.type, failure.code)
    finally:
        if finished:
            response.release()
        else:
            response.close()


def _fail(record: RequestRecord, error: BackendError) -> bytes:
    record.error = error.code
    return encode_error(error.message, error.type, error.code)
