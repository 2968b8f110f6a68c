"""From converted events to Anthropic content blocks: one owner for the rules. Pure: no I/O.

``Blocks`` reads the events of one answer (``glm_proxy.events``, as a ``ChoiceSession`` gives
them) and tells a ``Sink`` which blocks to open, extend and close. The whole answer
(``render``) and the stream (``stream``) use it with their own sinks, so an accumulated stream
is the whole answer.

Rules (anthropic-format.md):

* one block open at a time, ``index`` counting every block from 0;
* ``Reasoning`` is a ``thinking`` block (closed with a signature), ``Content`` a ``text``
  block; a run of whitespace that no visible text follows before the next block opens no block
  (no empty text blocks: the API refuses them when the client sends them back);
* a call is a ``tool_use`` block only once it has ended (``ToolCallEnd``): its events are held
  until then, and the block goes out whole. A call the output cut off never ends, so it never
  becomes a block (the parser returns its markup as content); a call whose arguments are not a
  JSON object (a backend's own call cut off by the token limit) comes out as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from glm_proxy.ids import random_hex

THINKING_SIGNATURE = "glm-proxy"
"""The ``signature`` of every thinking block: clients want one to send the block back, and
the backend does not sign its reasoning (the proxy ignores signatures it is sent)."""

TEXT, THINKING = "text", "thinking"


def new_message_id() -> str:
    return "msg_" + random_hex(24)


def new_tool_use_id() -> str:
    """The id of a converted call, in Anthropic's form."""
    return "toolu_" + random_hex(24)


class Sink(Protocol):
    """Where ``Blocks`` writes: the whole answer's block list, or the stream's events."""

    def open(self, index: int, kind: str) -> None:
        """A ``text`` or ``thinking`` block begins."""

    def extend(self, index: int, kind: str, text: str) -> None:
        """More text of the open block."""

    def close(self, index: int, kind: str) -> None:
        """The open block ends."""

    def tool_use(self, index: int, call_id: str, name: str, arguments: str, value: Any) -> None:
        """A whole ``tool_use`` block: ``arguments`` is the JSON text of ``value``."""


class _Call:
    __slots__ = ("fragments", "id", "name")

    def __init__(self, call_id: str, name: str) -> None:
        self.id = call_id
        self.name = name
        self.fragments: list[str] = []


class Blocks:
    """The block state of one answer (see the module docstring)."""

    __slots__ = ("_calls", "_id_factory", "_open", "_pending", "_sink", "count", "tool_uses")

    def __init__(self, sink: Sink, id_factory: Callable[[], str] = new_tool_use_id) -> None:
        self._sink = sink
        self._id_factory = id_factory
        self._open: str | None = None
        self._pending = ""  # whitespace not yet in a block
        self._calls: dict[int, _Call] = {}
        self.count = 0
        """Blocks opened so far (the next block's index)."""
        self.tool_uses = 0

    @property
    def holding_calls(self) -> bool:
        """Whether calls were announced and have not ended yet."""
        return bool(self._calls)

    def read(self, events: Iterable[Event]) -> None:
        for event in events:
            kind = type(event)
            if kind is Content:
                self.text(event.text)  # type: ignore[union-attr]
            elif kind is Reasoning:
                self.thinking(event.text)  # type: ignore[union-attr]
            elif kind is ToolCallStart:
                assert isinstance(event, ToolCallStart)
                self._calls[event.index] = _Call(event.id or self._id_factory(), event.name)
            elif kind is ToolCallArgs:
                assert isinstance(event, ToolCallArgs)
                call = self._calls.get(event.index)
                if call is not None:
                    call.fragments.append(event.fragment)
            else:
                assert isinstance(event, ToolCallEnd)
                ended = self._calls.pop(event.index, None)
                if ended is not None:
                    self._call(ended)

    def text(self, text: str) -> None:
        if not text:
            return
        if self._open == TEXT:
            self._sink.extend(self.count - 1, TEXT, text)
            return
        if self._pending:
            text = self._pending + text
        if text.isspace():
            self._pending = text
            return
        self._pending = ""
        self._start(TEXT)
        self._sink.extend(self.count - 1, TEXT, text)

    def thinking(self, text: str) -> None:
        if not text:
            return
        if self._open != THINKING:
            self._start(THINKING)
        self._sink.extend(self.count - 1, THINKING, text)

    def end(self) -> None:
        """The answer is over: the open block closes; calls that never ended are dropped (the
        parser returned their markup as content)."""
        self._calls.clear()
        self._pending = ""
        self._stop()

    def _call(self, call: _Call) -> None:
        arguments = "".join(call.fragments) or "{}"
        try:
            value = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            self.text(arguments)  # not a call a client could run: its text is kept
            return
        self._stop()
        self._pending = ""
        self._sink.tool_use(self.count, call.id, call.name, arguments, value)
        self.count += 1
        self.tool_uses += 1

    def _start(self, kind: str) -> None:
        self._stop()
        self._pending = ""
        self._open = kind
        self._sink.open(self.count, kind)
        self.count += 1

    def _stop(self) -> None:
        if self._open is not None:
            self._sink.close(self.count - 1, self._open)
            self._open = None


def stop_reason(
    finish: str | None, tool_uses: int, matched_stop: str | None, stop_sequences: Iterable[str]
) -> tuple[str, str | None]:
    """``stop_reason`` and ``stop_sequence`` of an answer: ``finish`` is the choice's finish
    reason after conversion (``ChoiceSession.finish_reason``)."""
    if finish == "length":
        return "max_tokens", None
    if tool_uses:
        return "tool_use", None
    if finish == "content_filter":
        return "refusal", None
    if matched_stop is not None and matched_stop in stop_sequences:
        return "stop_sequence", matched_stop
    return "end_turn", None


def usage_fields(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """Anthropic's usage from the backend's: ``input_tokens`` (less the tokens read from the
    prompt cache, which go to ``cache_read_input_tokens`` as Anthropic counts them) and
    ``output_tokens``. Counts the backend did not give are 0."""
    if not usage:
        return {"input_tokens": 0, "output_tokens": 0}
    prompt = _count(usage.get("prompt_tokens"))
    out = {"input_tokens": prompt, "output_tokens": _count(usage.get("completion_tokens"))}
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        cached = _count(details.get("cached_tokens"))
        if 0 < cached <= prompt:
            out["input_tokens"] = prompt - cached
            out["cache_read_input_tokens"] = cached
    return out


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0
