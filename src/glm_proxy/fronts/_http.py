"""The I/O every front's route shares: reading the body, the backend's whole answer, responses
streamed from the backend, and the stream loop of the fronts that are not OpenAI chat.

``UpstreamStreamResponse`` closes the backend response whatever happens: after the last byte,
when the client disconnects (Starlette cancels the stream at once, so a stalled backend is not
waited for), or when the stream never started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Protocol

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from glm_proxy.access_log import RequestRecord
from glm_proxy.backend.chunk_template import PlainChunkTemplate, PlainText, chunk_of
from glm_proxy.backend.chunks import chunk_problem, load_chunk
from glm_proxy.backend.client import Upstream, response_headers
from glm_proxy.backend.sse import SSEDecoder, SSEError, encode_error
from glm_proxy.errors import BackendBadResponse, BodyTooLarge, ProxyError, hide_keys
from glm_proxy.fronts.markup_watch import watched

logger = logging.getLogger("glm_proxy.stream")

READ_WHOLE_LIMIT = 1 << 20
"""Relayed bodies with a known length up to this size are read whole, not streamed."""

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
        # Starlette's own loop runs each stream in an anyio task group; this one costs one
        # task: a watcher that cancels the stream at once when the client goes away (the body
        # has been read, so ``receive`` only has the disconnect left to say).
        task = asyncio.current_task()
        assert task is not None
        state = {"gone": False, "done": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["done"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            headers = self.raw_headers
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": headers}
            )
            async for chunk in self._content:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not state["gone"]:
                raise  # not the client leaving (a shutdown, say): the caller decides
            task.uncancel()
        except OSError:
            pass  # the client went away while we wrote
        finally:
            state["done"] = True
            watcher.cancel()
            # A generator that never started has no ``finally`` to run: close the backend here.
            self._close_upstream()
            await self._content.aclose()


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with a 413 past ``limit`` bytes (MAX_BODY_SIZE)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"request body is larger than {limit} bytes (MAX_BODY_SIZE)")


def whole_completion(raw: bytes, upstream: Upstream) -> dict[str, Any]:
    """The backend's whole chat completion, checked: choices that each hold a message."""
    where = f"the backend at {upstream.public_url}"
    try:
        completion = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BackendBadResponse(f"{where} answered with invalid JSON: {_excerpt(raw)}") from None
    if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
        raise BackendBadResponse(f"{where} answered without a choices list: {_excerpt(raw)}")
    for choice in completion["choices"]:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise BackendBadResponse(
                f"{where} answered with a choice that has no message object: {_excerpt(raw)}"
            )
    return completion


def _excerpt(raw: bytes, size: int = 200) -> str:
    text = raw[:size].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > size else ""))


async def relay_response(
    upstream: Upstream,
    record: RequestRecord,
    method: str,
    url: Any,
    headers: list[tuple[str, str]],
    body: bytes | None,
    watch: Callable[[bytes], None] | None = None,
) -> Response:
    """The backend's answer, passed on; ``watch`` is shown its bytes (see ``markup_watch``)."""
    response = await upstream.send(method, url, headers, body)
    if response.status >= 400:
        raise await upstream.status_error(response)
    length = response.content_length
    if length is not None and length <= READ_WHOLE_LIMIT:
        raw = await upstream.read(response)
        if watch is not None:
            watch(raw)
        relayed = Response(raw, response.status)
        relayed.raw_headers.extend(response_headers(response))
        return relayed
    chunks = relayed_stream(response, upstream, record)
    return UpstreamStreamResponse(
        chunks if watch is None else watched(chunks, watch),
        close_upstream=response.close,
        status_code=response.status,
        headers=response_headers(response),
    )


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


def invalid_stream(upstream: Upstream, problem: str) -> BackendBadResponse:
    return BackendBadResponse(
        f"the backend at {upstream.public_url} sent an invalid event stream: {problem}"
    )


class FrontStream(Protocol):
    """A front's stream (Anthropic Messages, OpenAI Responses): backend chunks in, its own
    wire events out. Pure; ``front_stream`` drives it."""

    tool_calls: int
    """Calls converted so far (for the access log)."""

    @property
    def finished(self) -> bool:
        """Whether every choice seen got a ``finish_reason`` (and there was one at least)."""

    @property
    def dialect(self) -> str | None:
        """The dialect whose calls were converted so far (for the access log)."""

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events for one decoded backend chunk."""

    # Optional: ``feed_many(items: list[dict[str, Any] | PlainText]) -> list[bytes]``, the
    # events for the chunks of one read, the same as ``feed`` on each (``chunk_of`` for a
    # recognised plain-text run); a front that has it gets the text of a run in one piece.

    def end(self) -> list[bytes]:
        """The last events, when the backend's stream ended normally."""

    def fail(self, error: ProxyError) -> list[bytes]:
        """The last events, when the stream failed after it started (held text first)."""

    def ping(self) -> bytes | None:
        """A keep-alive event, sent after ``ping_interval`` seconds of backend silence."""


async def front_stream(
    response: aiohttp.ClientResponse,
    front: FrontStream,
    upstream: Upstream,
    record: RequestRecord,
    ping_interval: float | None = None,
) -> AsyncGenerator[bytes, None]:
    """The client's stream in a front's own events, for a backend's SSE ``response``.

    Ends as ``translated_stream`` does: with the front's last events when the backend finished
    (``[DONE]``, or every choice finished), else with its error events, which say what went
    wrong (the backend's own error event, an invalid event, a cut connection, an answer left
    unfinished). ``ping_interval``: seconds of backend silence after which ``front.ping()`` is
    sent (the backend's own read timeout still applies).
    """
    decoder = SSEDecoder()
    template = PlainChunkTemplate()
    read_to_end = False
    failure: ProxyError | None = None
    try:
        done = False
        try:
            reads = response.content.iter_any().__aiter__()
            while not done:
                try:
                    if ping_interval is None:
                        data = await reads.__anext__()
                    else:
                        async with asyncio.timeout(ping_interval) as silence:
                            data = await reads.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if ping_interval is None or not silence.expired():
                        raise
                    ping = front.ping()
                    if ping:
                        yield ping
                    continue
                out: list[bytes] = []
                chunks: list[dict[str, Any] | PlainText] = []
                done, failure = _read_events(data, decoder, template, upstream, chunks)
                _feed_read(front, chunks, out)
                if out:
                    yield b"".join(out)
                if failure is not None:
                    break
            else:
                read_to_end = True
            if not done and failure is None:
                read_to_end = True
                out = []
                chunks = []
                flushed = [event.data.encode() for event in decoder.flush()]
                done, failure = _collect(flushed, template, upstream, chunks)
                _feed_read(front, chunks, out)
                if out:
                    yield b"".join(out)
        except (aiohttp.ClientError, TimeoutError) as error:
            failure = upstream.error(error, responded=True)
        except SSEError as error:
            failure = invalid_stream(upstream, str(error))
        if failure is None and not done and not front.finished:
            failure = BackendBadResponse(
                f"the backend at {upstream.public_url} ended its event stream before the answer "
                "was finished (no finish_reason, no [DONE])"
            )
        if failure is None:
            yield b"".join(front.end())
        else:
            record.error = failure.code or "backend_error"
            yield b"".join(front.fail(failure))
    except Exception as error:  # a translation bug must not leave the client hanging
        logger.exception("stream translation failed")
        failure = BackendBadResponse(f"glm-proxy could not translate the stream: {error}")
        record.error = failure.code
        try:
            yield b"".join(front.fail(failure))
        except Exception:
            logger.exception("the stream's error events failed too")
    finally:
        record.tool_calls = front.tool_calls
        record.dialect = front.dialect
        if read_to_end and failure is None:
            response.release()
        else:
            response.close()


def _feed_read(
    front: FrontStream, chunks: list[dict[str, Any] | PlainText], out: list[bytes]
) -> None:
    """Give ``front`` the chunks of one read: all at once when it takes them so (``feed_many``,
    which also takes plain-text chunks recognised from their bytes as they are: a run of text
    goes through the parser in one piece), else one by one."""
    if not chunks:
        return
    feed_many = getattr(front, "feed_many", None)
    if feed_many is not None:
        out.extend(feed_many(chunks))
    else:
        for chunk in chunks:
            out.extend(front.feed(chunk_of(chunk)))


_LEARNING_EVENTS = 4
"""How many events of a read are read one by one, at most, while no shape is learnt yet."""


def _read_events(
    data: bytes,
    decoder: SSEDecoder,
    template: PlainChunkTemplate,
    upstream: Upstream,
    chunks: list[dict[str, Any] | PlainText],
) -> tuple[bool, ProxyError | None]:
    """Read one read from the backend into ``chunks`` (as ``_collect``): whether the stream
    ended in it (``[DONE]``) and the failure it met, if any.

    The fast path of the loop (the chat front's, ``chunk_template``): plain-text chunks shaped
    like the last one are recognised from their bytes, only the others are decoded as JSON.
    Until a shape is learnt, the first events of the read are decoded one by one, so that the
    rest of the read (often the whole stream, from a fast backend) can use the shape.
    """
    start = 0
    for _ in range(_LEARNING_EVENTS):
        if template.learnt:
            break
        end = data.find(b"\n\n", start) + 2
        if end < 2:
            break
        done, failure = _collect(decoder.feed_payloads(data[start:end]), template, upstream, chunks)
        if done or failure is not None:
            return done, failure
        start = end
    rest = data[start:] if start else data
    if not rest:
        return False, None
    return _collect(template.read(rest, decoder), template, upstream, chunks)


def _collect(
    payloads: Sequence[bytes | PlainText],
    template: PlainChunkTemplate,
    upstream: Upstream,
    chunks: list[dict[str, Any] | PlainText],
) -> tuple[bool, ProxyError | None]:
    """Add the backend's events to ``chunks`` up to the first that ends the stream: recognised
    plain-text chunks as they are, the others decoded (``_front_event``) and their shape
    learnt. Returns whether that event was ``[DONE]``, and the failure it stands for, if any."""
    for payload in payloads:
        if type(payload) is tuple:
            chunks.append(payload)
            continue
        assert type(payload) is bytes
        found = template.match(payload)
        if found is not None:
            chunks.append(found)
            continue
        done, failure = _front_event(payload, upstream, chunks)
        if done or failure is not None:
            return done, failure
        chunk = chunks[-1]
        assert type(chunk) is dict
        template.learn(payload, chunk)
    return False, None


def _front_event(
    payload: bytes, upstream: Upstream, chunks: list[dict[str, Any] | PlainText]
) -> tuple[bool, ProxyError | None]:
    """Read one backend event (a chunk goes into ``chunks``, for ``_feed_read``): whether it
    was ``[DONE]``, and the failure it stands for, if any."""
    if payload == b"[DONE]":
        return True, None
    try:
        chunk = load_chunk(payload)
    except orjson.JSONDecodeError as error:
        return False, invalid_stream(
            upstream, f"an event that is not JSON ({error}): {_shown(payload)!r}"
        )
    if not isinstance(chunk, dict):
        return False, invalid_stream(
            upstream, f"an event that is not a JSON object: {_shown(payload)!r}"
        )
    if "choices" not in chunk and "error" in chunk:
        reported = chunk["error"]
        message = reported.get("message") if isinstance(reported, dict) else reported
        if not isinstance(message, str) or not message:
            message = orjson.dumps(reported).decode()[:2000]
        said = hide_keys(message.encode(), upstream.hidden).decode()
        return False, BackendBadResponse(
            f"the backend at {upstream.public_url} reported an error in its stream: {said}",
            code="backend_error",
        )
    problem = chunk_problem(chunk)
    if problem is not None:
        return False, invalid_stream(upstream, f"a chunk whose {problem}: {_shown(payload)!r}")
    chunks.append(chunk)
    return False, None


def _shown(payload: bytes) -> str:
    """The start of an event's data, for a message."""
    return payload.decode("utf-8", "replace")[:200]
