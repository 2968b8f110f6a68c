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

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Protocol

import aiohttp
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from glm_proxy.access_log import RequestRecord
from glm_proxy.chunk_template import PlainChunkTemplate, PlainText
from glm_proxy.errors import BackendBadResponse, BackendError, ProxyError, hide_keys
from glm_proxy.sse import DONE, SSEDecoder, SSEError, encode_error, encode_event
from glm_proxy.stream_translator import StreamTranslator
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


class _StreamEnd(Exception):
    """Nothing more is read: the backend sent ``[DONE]``, its own error event, or a bad event.

    ``out`` holds the client's events for what came before in the same read. Then ``done``
    (``[DONE]`` came), ``backend_error`` (the backend's error event, passed on) or ``invalid``
    (what is wrong with the event) says how the client's stream ends.
    """

    def __init__(
        self,
        out: list[bytes],
        *,
        done: bool = False,
        backend_error: bytes | None = None,
        invalid: str | None = None,
    ):
        super().__init__()
        self.out = out
        self.done = done
        self.backend_error = backend_error
        self.invalid = invalid


async def translated_stream(
    response: aiohttp.ClientResponse,
    translator: StreamTranslator,
    upstream: Upstream,
    record: RequestRecord,
) -> AsyncGenerator[bytes, None]:
    """The client's SSE stream for a GLM backend's SSE ``response``.

    However the backend's stream ends, the client's ends the same way: the text the parser
    still holds is flushed, every choice gets its ``finish_reason``, then comes ``[DONE]`` or
    one error event. A backend stream that stops before its answer is finished (no ``[DONE]``
    and a choice without ``finish_reason``), or that carries no choice at all, ends with an error.
    """
    decoder = SSEDecoder()
    template = PlainChunkTemplate()
    debug = logger.isEnabledFor(logging.DEBUG)
    raw: list[bytes] = []
    read_to_end = False
    try:
        done = False
        backend_error: bytes | None = None
        failure: BackendError | None = None
        try:
            async for data in response.content.iter_any():
                if debug:
                    raw.append(data)
                out = _translate_read(data, decoder, translator, template)
                if out:
                    yield b"".join(out)
            read_to_end = True
            flushed = [event.data.encode() for event in decoder.flush()]
            out = _translate_events(flushed, translator, template)
        except _StreamEnd as end:
            out, done, backend_error = end.out, end.done, end.backend_error
            read_to_end = end.invalid is None
            if end.invalid is not None:
                failure = _invalid_stream(upstream, end.invalid)
        except (aiohttp.ClientError, TimeoutError) as error:
            out, failure = [], upstream.error(error, responded=True)
        except SSEError as error:
            out, failure = [], _invalid_stream(upstream, str(error))
        if failure is None and backend_error is None:
            failure = _unfinished(upstream, translator, done)
        # Text still held by the parser is never dropped, whatever ended the stream.
        out += [encode_event(orjson.dumps(chunk)) for chunk in translator.close()]
        if failure is not None:
            out.append(_fail(record, failure))
        elif backend_error is not None:
            out.append(hide_keys(backend_error, upstream.hidden))
            record.error = "backend_error"
        else:
            out.append(DONE)
        yield b"".join(out)
    except Exception as error:  # a translation bug must not leave the client hanging
        logger.exception("stream translation failed")
        yield _fail(
            record, BackendBadResponse(f"glm-proxy could not translate the stream: {error}")
        )
    finally:
        record.tool_calls = translator.tool_calls
        if read_to_end:
            response.release()  # back to the pool if the body was read to its end
        else:
            response.close()
        if debug:
            logger.debug("backend stream: %s", b"".join(raw).decode("utf-8", "replace"))


def _unfinished(
    upstream: Upstream, translator: StreamTranslator, done: bool
) -> BackendError | None:
    """The error of a backend stream that ended without an answer, or before its end."""
    where = f"the backend at {upstream.public_url}"
    if not translator.choices:
        return BackendBadResponse(f"{where} sent an event stream without any choice")
    if not done and not translator.finished:
        # No ``finish_reason`` and no ``[DONE]``: the answer was cut short. Say so, rather than
        # let the client take a part for the whole. (A stream whose every choice finished is
        # complete even when the backend forgets ``[DONE]``.)
        return BackendBadResponse(
            f"{where} ended its event stream before the answer was finished "
            "(no finish_reason, no [DONE])"
        )
    return None


_LEARNING_EVENTS = 4
"""How many events of a read are read one by one, at most, while no shape is learnt yet."""


def _translate_read(
    data: bytes, decoder: SSEDecoder, translator: StreamTranslator, template: PlainChunkTemplate
) -> list[bytes]:
    """The client's events for one read from the backend (its chunks translated together).

    Plain-text chunks shaped like the last one are recognised from their bytes by
    ``template.read`` (most chunks of a stream): only the others go through the JSON decoder.
    Until a shape is learnt, the first events of the read go to the decoder one by one, so that
    the rest of the read (often the whole stream, from a fast backend) can use the shape.
    """
    items: list[dict[str, Any] | PlainText] = []
    start = 0
    for _ in range(_LEARNING_EVENTS):
        if template.learnt:
            break
        end = data.find(b"\n\n", start) + 2
        if end < 2:
            break
        _collect(decoder.feed_payloads(data[start:end]), translator, template, items)
        start = end
    rest = data[start:] if start else data
    if rest:
        _collect(template.read(rest, decoder), translator, template, items)
    return _encoded(translator.feed_many(items)) if items else []


def _translate_events(
    payloads: Sequence[bytes | PlainText],
    translator: StreamTranslator,
    template: PlainChunkTemplate,
) -> list[bytes]:
    """The client's events for the given backend events (translated together)."""
    items: list[dict[str, Any] | PlainText] = []
    _collect(payloads, translator, template, items)
    return _encoded(translator.feed_many(items)) if items else []


def _collect(
    payloads: Sequence[bytes | PlainText],
    translator: StreamTranslator,
    template: PlainChunkTemplate,
    items: list[dict[str, Any] | PlainText],
) -> None:
    """Add the backend's events to ``items`` (for ``feed_many``): recognised plain-text chunks
    as they are, the others decoded (learning their shape). Raises ``_StreamEnd`` with the
    client's events for ``items`` when the stream ends at one of them."""
    for payload in payloads:
        if type(payload) is tuple:
            items.append(payload)
            continue
        assert type(payload) is bytes
        found = template.match(payload)
        if found is not None:
            items.append(found)
            continue
        if payload == b"[DONE]":
            raise _StreamEnd(_encoded(translator.feed_many(items)), done=True)
        try:
            chunk = _load(payload)
        except orjson.JSONDecodeError as error:
            invalid = f"an event that is not JSON ({error}): {_show(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid) from None
        if not isinstance(chunk, dict):
            invalid = f"an event that is not a JSON object: {_show(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid)
        if "choices" not in chunk and "error" in chunk:
            # The backend reported a failure inside its stream: pass it on and end there.
            out = _encoded(translator.feed_many(items))
            raise _StreamEnd(out, backend_error=_backend_error_event(chunk))
        problem = _chunk_problem(chunk)
        if problem is not None:
            invalid = f"a chunk whose {problem}: {_show(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid)
        template.learn(payload, chunk)
        items.append(chunk)


def _chunk_problem(chunk: dict[str, Any]) -> str | None:
    """What makes a chunk unreadable (its choices or deltas are not objects), if anything."""
    choices = chunk.get("choices")
    if choices is None:
        return None
    if not isinstance(choices, list):
        return "choices is not a list"
    for choice in choices:
        if not isinstance(choice, dict):
            return "choices hold something else than objects"
        delta = choice.get("delta")
        if delta is not None and not isinstance(delta, dict):
            return "delta is not an object"
    return None


def _load(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        if payload.isascii():
            raise
        # Invalid UTF-8 from the backend is replaced, as everywhere else, not a reason to fail.
        return orjson.loads(payload.decode("utf-8", "replace"))


def _show(payload: bytes) -> str:
    return repr(payload[:200].decode("utf-8", "replace"))


def _backend_error_event(chunk: dict[str, Any]) -> bytes:
    """The client's error event for the backend's own: as it is when it has the OpenAI shape,
    else rebuilt in that shape around the backend's words."""
    error = chunk["error"]
    if (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("type"), str)
        and "param" in error
        and "code" in error
    ):
        return encode_event(orjson.dumps(chunk))
    fields = error if isinstance(error, dict) else {"message": error}
    message = fields.get("message")
    if not isinstance(message, str) or not message:
        said = orjson.dumps(error).decode()[:2000]
        message = f"the backend reported an error in its stream: {said}"
    kind, param, code = fields.get("type"), fields.get("param"), fields.get("code")
    return encode_error(
        message,
        kind if isinstance(kind, str) else "backend_error",
        None if code is None else str(code),
        None if param is None else str(param),
    )


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


def _invalid_stream(upstream: Upstream, problem: str) -> BackendBadResponse:
    return BackendBadResponse(
        f"the backend at {upstream.public_url} sent an invalid event stream: {problem}"
    )


def _fail(record: RequestRecord, error: BackendError) -> bytes:
    record.error = error.code
    return encode_error(error.message, error.type, error.code)


class FrontStream(Protocol):
    """A front's stream (Anthropic Messages, OpenAI Responses): backend chunks in, its own
    wire events out. Pure; ``front_stream`` drives it."""

    tool_calls: int
    """Calls converted so far (for the access log)."""

    @property
    def finished(self) -> bool:
        """Whether every choice seen got a ``finish_reason`` (and there was one at least)."""

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events for one decoded backend chunk."""

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
                for event in decoder.feed(data):
                    done, failure = _front_event(event.data, front, upstream, out)
                    if done or failure is not None:
                        break
                if out:
                    yield b"".join(out)
                if failure is not None:
                    break
            else:
                read_to_end = True
            if not done and failure is None:
                read_to_end = True
                out = []
                for event in decoder.flush():
                    done, failure = _front_event(event.data, front, upstream, out)
                    if done or failure is not None:
                        break
                if out:
                    yield b"".join(out)
        except (aiohttp.ClientError, TimeoutError) as error:
            failure = upstream.error(error, responded=True)
        except SSEError as error:
            failure = _invalid_stream(upstream, str(error))
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
        if read_to_end and failure is None:
            response.release()
        else:
            response.close()


def _front_event(
    data: str, front: FrontStream, upstream: Upstream, out: list[bytes]
) -> tuple[bool, ProxyError | None]:
    """Feed one backend event to ``front`` (its events into ``out``): whether it was
    ``[DONE]``, and the failure it stands for, if any."""
    if data == "[DONE]":
        return True, None
    try:
        chunk = _load(data.encode())
    except orjson.JSONDecodeError as error:
        return False, _invalid_stream(
            upstream, f"an event that is not JSON ({error}): {data[:200]!r}"
        )
    if not isinstance(chunk, dict):
        return False, _invalid_stream(
            upstream, f"an event that is not a JSON object: {data[:200]!r}"
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
    problem = _chunk_problem(chunk)
    if problem is not None:
        return False, _invalid_stream(upstream, f"a chunk whose {problem}: {data[:200]!r}")
    out.extend(front.feed(chunk))
    return False, None
