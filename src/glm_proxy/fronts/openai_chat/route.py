"""The OpenAI chat-completions route: GLM answers converted, streamed and not; others relayed.

The hot path stays lean: the raw body is parsed once with orjson, checked by hand
(``request``), and the original bytes go to the backend unchanged.

The translated stream: ``translated_stream`` decodes SSE, translates each chunk and re-encodes
it; all chunks from one read of the backend go out in one write. Once the status line has gone
out, a failure cannot change the status: it ends the stream with an OpenAI error event
(``data: {"error": ...}``) and is recorded for the access log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import Response

from glm_proxy.access_log import RECORD, RequestRecord
from glm_proxy.backend.chunk_template import PlainChunkTemplate, PlainText
from glm_proxy.backend.chunks import chunk_problem, load_chunk, show_payload
from glm_proxy.backend.client import Upstream
from glm_proxy.backend.sse import DONE, SSEDecoder, SSEError, encode_error, encode_event
from glm_proxy.config import Settings
from glm_proxy.conversion.plan import plan_for
from glm_proxy.dialects import AUTO
from glm_proxy.errors import BackendBadResponse, BackendError, hide_keys
from glm_proxy.fronts._http import (
    SSE_HEADERS,
    UpstreamStreamResponse,
    invalid_stream,
    read_body,
    relay_response,
    whole_completion,
)
from glm_proxy.fronts.markup_watch import MarkupWatch
from glm_proxy.fronts.openai_chat.render import translate_completion
from glm_proxy.fronts.openai_chat.request import check_body_headers, parse_chat_request
from glm_proxy.fronts.openai_chat.stream import StreamTranslator

logger = logging.getLogger("glm_proxy.app")

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


class ChatRoute:
    """``POST /v1/chat/completions``, sharing the settings and the upstream session."""

    def __init__(self, settings: Settings, upstream: Upstream):
        self.settings = settings
        self.upstream = upstream
        self.chat_url = upstream.url("/chat/completions")
        self.markup_watch = MarkupWatch(settings.glm_models)

    async def handle(self, request: Request) -> Response:
        record: RequestRecord = request.scope[RECORD]
        check_body_headers(request.scope["headers"])
        body = await read_body(request, self.settings.max_body_size)
        data = parse_chat_request(body)
        model: str = data["model"]
        tools = data.get("tools")
        stream = data.get("stream") is True
        record.model, record.messages, record.stream = model, len(data["messages"]), stream
        record.tools = len(tools) if tools else 0
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request body: %s", body.decode("utf-8", "replace"))
        settings = self.settings
        headers = self.upstream.headers(request.scope["headers"], "application/json")
        query = request.scope["query_string"]
        url = self.upstream.url("/chat/completions", query) if query else self.chat_url
        client_model = None
        if settings.model_aliases:
            backend_model = settings.backend_model(model)
            if backend_model != model:  # MODEL_ALIASES: the backend gets its own model's name
                client_model, model = model, backend_model
                data["model"] = model
                body = orjson.dumps(data)
        dialect = settings.dialect_for(model)
        if dialect is None:  # no setting names the model: detect, if it may call tools
            may_call = tools and data.get("tool_choice") != "none"
            if not (settings.detect_dialect and may_call):
                watch = self.markup_watch.watcher(model) if may_call else None
                return await relay_response(
                    self.upstream, record, "POST", url, headers, body, watch
                )
            dialect = AUTO
        plan = plan_for(
            data,
            starts_in_reasoning=(
                settings.starts_in_reasoning(model)
                if dialect == "glm"
                else settings.thinking_start is True
            ),
            max_buffer=settings.parser_max_buffer,
            dialect=dialect,
            client_model=client_model,
        )
        response = await self.upstream.send("POST", url, headers, body)
        if response.status >= 400:
            raise await self.upstream.status_error(response)
        if stream:
            if response.content_type == "application/json":
                # The backend ignored ``stream``: say so rather than lose its answer silently.
                response.close()
                raise BackendBadResponse(
                    f"the backend at {self.upstream.public_url} answered a streaming request "
                    "with application/json instead of an event stream"
                )
            return UpstreamStreamResponse(
                translated_stream(
                    response,
                    StreamTranslator(plan, settings.reasoning_field),
                    self.upstream,
                    record,
                ),
                close_upstream=response.close,
                status_code=response.status,
                headers=SSE_HEADERS,
                media_type="text/event-stream",
            )
        raw = await self.upstream.read(response)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("backend answer: %s", raw.decode("utf-8", "replace"))
        completion = whole_completion(raw, self.upstream)
        dialects: set[str] = set()
        result, record.tool_calls = translate_completion(
            completion, plan, settings.reasoning_field, dialects
        )
        del completion
        record.dialect = ",".join(sorted(dialects)) or None
        if dialect == AUTO and not record.tool_calls and client_model is None:
            # Detection found no call: the answer goes out as the backend wrote it.
            watch = self.markup_watch.watcher(model, detected=True)
            if watch is not None:
                watch(raw)
            return Response(raw, response.status, media_type="application/json")
        del raw
        return Response(orjson.dumps(result), response.status, media_type="application/json")


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
                failure = invalid_stream(upstream, end.invalid)
        except (aiohttp.ClientError, TimeoutError) as error:
            out, failure = [], upstream.error(error, responded=True)
        except SSEError as error:
            out, failure = [], invalid_stream(upstream, str(error))
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
        record.dialect = translator.dialect
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
            chunk = load_chunk(payload)
        except orjson.JSONDecodeError as error:
            invalid = f"an event that is not JSON ({error}): {show_payload(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid) from None
        if not isinstance(chunk, dict):
            invalid = f"an event that is not a JSON object: {show_payload(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid)
        if "choices" not in chunk and "error" in chunk:
            # The backend reported a failure inside its stream: pass it on and end there.
            out = _encoded(translator.feed_many(items))
            raise _StreamEnd(out, backend_error=_backend_error_event(chunk))
        problem = chunk_problem(chunk)
        if problem is not None:
            invalid = f"a chunk whose {problem}: {show_payload(payload)}"
            raise _StreamEnd(_encoded(translator.feed_many(items)), invalid=invalid)
        template.learn(payload, chunk)
        items.append(chunk)


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


def _fail(record: RequestRecord, error: BackendError) -> bytes:
    record.error = error.code
    return encode_error(error.message, error.type, error.code)
