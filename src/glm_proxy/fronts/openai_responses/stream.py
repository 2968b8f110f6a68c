"""The streamed Responses answer, event by event: pure, no I/O (``fronts._http.front_stream``
drives it).

Strategy: one ``ChoiceSession`` reads the first choice of each backend chunk (the Responses API
has no ``n``). Its events open, fill and close output items in the order they come; an item is
closed when an item of another kind begins, and text items at the end. Every event carries a
``sequence_number`` counting from 0. The sequence per item:

* reasoning: ``output_item.added``, ``reasoning_summary_part.added``,
  ``reasoning_summary_text.delta``..., ``reasoning_summary_text.done``,
  ``reasoning_summary_part.done``, ``output_item.done``;
* message: ``output_item.added``, ``content_part.added``, ``output_text.delta``...,
  ``output_text.done``, ``content_part.done``, ``output_item.done``;
* function call: ``output_item.added`` (``arguments: ""``), ``function_call_arguments.delta``...,
  ``function_call_arguments.done``, ``output_item.done``.

Then ``response.completed``, ``response.incomplete`` (the backend hit its token limit) or
``response.failed``. A call the output cut off is never done: no ``arguments.done``, no
``output_item.done`` (a client would run half a call); the final response lists it with
``status: "incomplete"`` and the arguments sent so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from glm_proxy.backend.chunk_template import PlainText, first_choice_runs
from glm_proxy.backend.chunks import choice_deltas, usage_of
from glm_proxy.backend.sse import encode_named
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.errors import ProxyError
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from glm_proxy.fronts.openai_responses.errors import failure
from glm_proxy.fronts.openai_responses.render import (
    ResponseMeta,
    call_item,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    responses_usage,
)
from glm_proxy.fronts.openai_responses.tools import ToolNames


class _Item:
    """One output item while it streams."""

    __slots__ = ("call_id", "done", "id", "kind", "name", "output_index", "pieces")

    def __init__(self, kind: str, output_index: int, item_id: str) -> None:
        self.kind = kind  # "reasoning", "message" or "function_call"
        self.output_index = output_index
        self.id = item_id
        self.pieces: list[str] = []
        self.done = False
        self.call_id = ""
        self.name = ""


class ResponsesStream:
    """Backend chunks in, Responses events out (see the module docstring)."""

    def __init__(self, plan: Plan, meta: ResponseMeta, names: ToolNames) -> None:
        self._session = ChoiceSession(plan)
        self._meta = meta
        self._names = names
        self._sequence = 0
        self._items: list[_Item] = []
        self._text: _Item | None = None  # the open reasoning or message item
        self._calls: dict[int, _Item] = {}  # call index -> its item
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self.tool_calls = 0
        self.final: dict[str, Any] | None = None
        """The last response object sent (for the store), once the stream ended."""
        self.final_json = b""
        """``final`` as JSON, as the last event carried it (the store keeps these bytes)."""

    @property
    def dialect(self) -> str | None:
        """The dialect whose calls were converted (detected, for a model no setting names)."""
        return self._session.converted_dialect

    @property
    def finished(self) -> bool:
        return self._finish is not None

    def start(self) -> list[bytes]:
        """``response.created`` and ``response.in_progress``: sent before the backend answers."""
        response = orjson.dumps(response_object(self._meta, "in_progress", []))
        return [
            self._response_event("response.created", response),
            self._response_event("response.in_progress", response),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        usage = usage_of(chunk)
        if usage is not None:
            self._usage = usage
        out: list[bytes] = []
        for delta in choice_deltas(chunk):
            if delta.index != 0:
                continue
            session = self._session
            if delta.content or delta.reasoning:
                self._emit(session.read(delta.content, delta.reasoning), out)
            if delta.tool_calls:
                self._emit(session.backend_events(delta.tool_calls), out)
            if delta.finish_reason is not None:
                self._finish = delta.finish_reason
        return out

    def feed_many(self, chunks: Sequence[dict[str, Any] | PlainText]) -> list[bytes]:
        """The events for the chunks of one read of the backend (decoded, or plain-text runs
        recognised from their bytes, ``chunk_template``): the same as ``feed`` on each, but the
        text of a run of plain-text chunks of one kind goes through the parser at once (fewer,
        larger deltas; most of a stream's chunks are such)."""
        out: list[bytes] = []
        for item in first_choice_runs(chunks):
            if type(item) is tuple:
                field, text = item
                self._emit(self._session.read_text(text, field != "content"), out)
            else:
                assert type(item) is dict
                out += self.feed(item)
        return out

    def end(self) -> list[bytes]:
        out: list[bytes] = []
        self._emit(self._session.close(), out)
        self._close_text(out)
        incomplete = self._session.finish_reason(self._finish) == "length" or any(
            not item.done for item in self._calls.values()
        )
        status = "incomplete" if incomplete else "completed"
        response = response_object(
            self._meta,
            status,
            self._output(),
            responses_usage(self._usage),
            incomplete=incomplete,
        )
        self.final = response
        self.final_json = orjson.dumps(response)
        out.append(self._response_event(f"response.{status}", self.final_json))
        return out

    def fail(self, error: ProxyError) -> list[bytes]:
        out: list[bytes] = []
        try:
            self._emit(self._session.close(), out)  # held text is never lost
        finally:
            self._close_text(out)
            response = response_object(
                self._meta,
                "failed",
                self._output(),
                responses_usage(self._usage),
                error=failure(error),
            )
            self.final = response
            self.final_json = orjson.dumps(response)
            out.append(self._response_event("response.failed", self.final_json))
        return out

    def cut_off(self, error: ProxyError) -> list[bytes]:
        """``fail``, for the server cutting the stream off (``error_shapes.STREAM_END``): nothing
        once the stream has ended."""
        return [] if self.final is not None else self.fail(error)

    def ping(self) -> bytes | None:
        return None  # the Responses stream has no keep-alive event

    # -- items ------------------------------------------------------------------------------

    def _emit(self, events: list[Event], out: list[bytes]) -> None:
        for event in events:
            kind = type(event)
            if kind is Content:
                self._text_delta("message", event.text, out)  # type: ignore[union-attr]
            elif kind is Reasoning:
                self._text_delta("reasoning", event.text, out)  # type: ignore[union-attr]
            elif kind is ToolCallStart:
                assert isinstance(event, ToolCallStart)
                self._close_text(out)
                item = self._open("function_call", "fc")
                item.call_id, item.name = event.id, event.name
                self._calls[event.index] = item
                added = self._call_item(item, "in_progress")
                out.append(self._added(item, added))
            elif kind is ToolCallArgs:
                assert isinstance(event, ToolCallArgs)
                item = self._calls[event.index]
                item.pieces.append(event.fragment)
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        {
                            "item_id": item.id,
                            "output_index": item.output_index,
                            "delta": event.fragment,
                        },
                    )
                )
            elif kind is ToolCallEnd:
                assert isinstance(event, ToolCallEnd)
                self._end_call(self._calls[event.index], out)

    def _text_delta(self, kind: str, text: str, out: list[bytes]) -> None:
        item = self._text
        if item is None or item.kind != kind:
            self._close_text(out)
            item = self._text = self._open(kind, "msg" if kind == "message" else "rs")
            if kind == "message":
                out.append(self._added(item, message_item(item.id, "", "in_progress")))
                out.append(self._event("response.content_part.added", self._part(item, "")))
            else:
                out.append(self._added(item, reasoning_item(item.id, "")))
                out.append(
                    self._event("response.reasoning_summary_part.added", self._summary(item, ""))
                )
        item.pieces.append(text)
        where = self._where(item)
        if kind == "message":
            out.append(self._event("response.output_text.delta", {**where, "delta": text}))
        else:
            out.append(
                self._event("response.reasoning_summary_text.delta", {**where, "delta": text})
            )

    def _close_text(self, out: list[bytes]) -> None:
        item = self._text
        if item is None:
            return
        self._text = None
        item.done = True
        text = "".join(item.pieces)
        where = self._where(item)
        if item.kind == "message":
            out.append(self._event("response.output_text.done", {**where, "text": text}))
            out.append(self._event("response.content_part.done", self._part(item, text)))
        else:
            out.append(self._event("response.reasoning_summary_text.done", {**where, "text": text}))
            out.append(
                self._event("response.reasoning_summary_part.done", self._summary(item, text))
            )
        out.append(self._item_done(item))

    def _end_call(self, item: _Item, out: list[bytes]) -> None:
        item.done = True
        self.tool_calls += 1
        arguments = "".join(item.pieces)
        out.append(
            self._event(
                "response.function_call_arguments.done",
                {"item_id": item.id, "output_index": item.output_index, "arguments": arguments},
            )
        )
        out.append(self._item_done(item))

    def _open(self, kind: str, prefix: str) -> _Item:
        item = _Item(kind, len(self._items), new_id(prefix))
        self._items.append(item)
        return item

    def _output(self) -> list[dict[str, Any]]:
        return [self._whole(item) for item in self._items]

    def _whole(self, item: _Item) -> dict[str, Any]:
        if item.kind == "message":
            return message_item(item.id, "".join(item.pieces))
        if item.kind == "reasoning":
            return reasoning_item(item.id, "".join(item.pieces))
        return self._call_item(item, "completed" if item.done else "incomplete")

    def _call_item(self, item: _Item, status: str) -> dict[str, Any]:
        arguments = "".join(item.pieces)
        return call_item(item.id, item.call_id, item.name, arguments, self._names, status)

    # -- wire -------------------------------------------------------------------------------

    def _added(self, item: _Item, body: dict[str, Any]) -> bytes:
        payload = {"output_index": item.output_index, "item": body}
        return self._event("response.output_item.added", payload)

    def _item_done(self, item: _Item) -> bytes:
        payload = {"output_index": item.output_index, "item": self._whole(item)}
        return self._event("response.output_item.done", payload)

    @staticmethod
    def _where(item: _Item) -> dict[str, Any]:
        index = "content_index" if item.kind == "message" else "summary_index"
        return {"item_id": item.id, "output_index": item.output_index, index: 0}

    def _part(self, item: _Item, text: str) -> dict[str, Any]:
        part = {"type": "output_text", "text": text, "annotations": []}
        return {**self._where(item), "part": part}

    def _summary(self, item: _Item, text: str) -> dict[str, Any]:
        return {**self._where(item), "part": {"type": "summary_text", "text": text}}

    def _response_event(self, kind: str, response: bytes) -> bytes:
        """``_event(kind, {"response": ...})`` for a response object already encoded: the
        same bytes, without encoding the object again for each event that carries it."""
        head = b'{"type":"%s","sequence_number":%d,"response":' % (kind.encode(), self._sequence)
        self._sequence += 1
        return encode_named(kind, head + response + b"}")

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **payload}
        self._sequence += 1
        return encode_named(kind, orjson.dumps(data))
