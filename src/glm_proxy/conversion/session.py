"""One choice of an answer, converted: its dialect parser, the calls it numbered, its finish.

A front creates a ``ChoiceSession`` per choice index and hands it the choice's text as the
backend sends it (``read``: content, and reasoning the backend split off), then ``close``s it
at the end. What comes out are ``glm_proxy.events`` with their final call indices:

* the parser's calls and the calls the backend parsed itself are numbered together, in order of
  appearance: until the backend sends a call of its own, a parser call keeps the parser's index
  (nothing to rewrite on the usual path); from then on every call gets the next free index;
* ``parallel_tool_calls: false`` keeps only the first call (and drops the content from the
  second call on); reasoning is always kept;
* calls announced and ended are counted, so that ``finish_reason`` follows one rule.

A whole (non-streamed) answer goes through ``read_whole``: the same parser, read at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from glm_proxy.conversion.plan import Plan
from glm_proxy.dialects import AUTO, Parser, create_parser
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart

_TEXT = (Content, Reasoning)


class ChoiceSession:
    """The conversion of one choice (see the module docstring)."""

    __slots__ = (
        "_backend_calls",
        "_backend_open",
        "_backend_unnamed",
        "_dialect",
        "_dropping",
        "_first_only",
        "_next_call",
        "_parser",
        "_parser_calls",
        "ended",
        "started",
    )

    def __init__(self, plan: Plan) -> None:
        self._parser: Parser = create_parser(plan.parser, plan.dialect)
        self._dialect = plan.dialect
        self._first_only = not plan.parallel_tool_calls
        self._dropping = False  # first call only, and the model is past it
        self.started = 0
        """Calls the parser announced (the backend's own not counted)."""
        self.ended = 0
        """Calls the parser ended."""
        self._next_call = 0  # the next free index, once numbering is not the parser's own
        self._parser_calls: dict[int, int] | None = None  # parser index -> index, once mixed
        self._backend_calls: dict[int, int] = {}  # backend index -> index
        self._backend_open: dict[int, list[str]] = {}  # announced as events: their arguments
        self._backend_unnamed: dict[int, tuple[str, list[str]]] = {}  # no name yet: id, args

    @property
    def dialect(self) -> str | None:
        """The dialect read: the plan's, or the one detected (None while none was)."""
        if self._dialect == AUTO:
            detected: str | None = getattr(self._parser, "dialect", None)
            return detected
        return self._dialect

    @property
    def converted_dialect(self) -> str | None:
        """The dialect whose calls were converted (the access log's), None while none was."""
        return self.dialect if self.ended else None

    @property
    def cut_off(self) -> bool:
        """Whether a call was announced and never ended (the output was cut off inside it)."""
        return self.started > self.ended

    def read(self, content: str | None, reasoning: str | None = None) -> list[Event]:
        """The events for a piece of the choice: its reasoning first, then its content."""
        parser = self._parser
        events = parser.feed_reasoning(reasoning) if reasoning else []
        if content:
            more = parser.feed(content)
            events = events + more if events else more
        if not events:
            return events
        if len(events) == 1 and type(events[0]) in _TEXT and not self._dropping:
            return events  # the usual piece: text, nothing to number or filter
        return self._numbered(events)

    def read_text(self, text: str, reasoning: bool) -> list[Event]:
        """``read`` of a piece that is only content, or only reasoning."""
        parser = self._parser
        events = parser.feed_reasoning(text) if reasoning else parser.feed(text)
        if not events or (len(events) == 1 and type(events[0]) in _TEXT and not self._dropping):
            return events
        return self._numbered(events)

    def close(self) -> list[Event]:
        """The end of the choice: what the parser still held, and the end of the backend's own
        calls that were announced as events (``backend_events``), unless their arguments were
        cut off (they do not parse): a cut call is never a finished one."""
        events = self._parser.close()
        if events:
            events = self._numbered(events)
        for index, (call_id, fragments) in self._backend_unnamed.items():
            # Never named: announced with an empty name rather than lost.
            events.append(ToolCallStart(index, call_id, ""))
            if fragments:
                events.append(ToolCallArgs(index, "".join(fragments)))
            self._backend_open[index] = fragments
        self._backend_unnamed = {}
        for index, fragments in self._backend_open.items():
            if _parses("".join(fragments)):
                events.append(ToolCallEnd(index))
        self._backend_open = {}
        return events

    def read_whole(
        self, content: str, reasoning: str | None = None, backend_calls: Iterable[Any] = ()
    ) -> list[Event]:
        """The events of a whole answer: the calls the backend parsed itself first (whole
        ``tool_calls`` entries of a message), then what the parser reads."""
        events: list[Event] = []
        for call in backend_calls:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                function = call["function"]
                index = self.backend_call(len(self._backend_calls))
                arguments = function.get("arguments")
                events += (
                    ToolCallStart(index, str(call.get("id") or ""), str(function.get("name"))),
                    ToolCallArgs(index, arguments if isinstance(arguments, str) else "{}"),
                    ToolCallEnd(index),
                )
        parser = self._parser
        if reasoning:
            events += self._numbered(parser.feed_reasoning(reasoning))
        return events + self._numbered(parser.finish(content))

    def finish_reason(self, backend: str | None) -> str | None:
        """``"tool_calls"`` when the parser's calls were ended and none was cut off, unless
        the backend hit its token limit (``"length"`` stays); else the backend's own reason
        (to the backend, a call written as text was no call)."""
        if self.ended and not self.cut_off and backend != "length":
            return "tool_calls"
        return backend

    # -- calls the backend parsed itself ----------------------------------------------------

    def backend_call(self, index: int) -> int:
        """The index, among all the choice's calls, of the backend's call ``index``."""
        number = self._backend_calls.get(index)
        if number is None:
            if self._parser_calls is None:  # from now on, parser calls are numbered here too
                self._parser_calls = {n: n for n in range(self._next_call)}
            number = self._backend_calls[index] = self._next_call
            self._next_call += 1
        return number

    def backend_events(self, deltas: Iterable[Any]) -> list[Event]:
        """A streamed ``tool_calls`` delta of the backend's, as events: a call is announced
        once its name has come (its arguments wait until then), later deltas carry its argument
        fragments."""
        events: list[Event] = []
        for delta in deltas:
            if not isinstance(delta, dict) or type(delta.get("index")) is not int:
                continue
            function = delta.get("function")
            function = function if isinstance(function, dict) else {}
            index = self.backend_call(delta["index"])
            fragment = function.get("arguments")
            fragment = fragment if isinstance(fragment, str) else ""
            if index in self._backend_open:
                if fragment:
                    self._backend_open[index].append(fragment)
                    events.append(ToolCallArgs(index, fragment))
                continue
            call_id, fragments = self._backend_unnamed.pop(index, ("", []))
            call_id = call_id or str(delta.get("id") or "")
            if fragment:
                fragments.append(fragment)
            name = function.get("name")
            if not isinstance(name, str) or not name:
                self._backend_unnamed[index] = (call_id, fragments)
                continue
            events.append(ToolCallStart(index, call_id, name))
            if fragments:
                events.append(ToolCallArgs(index, "".join(fragments)))
            self._backend_open[index] = fragments
        return events

    # -- numbering and filtering ------------------------------------------------------------

    def _numbered(self, events: list[Event]) -> list[Event]:
        """Count and number the parser's calls; keep only the first one if so asked."""
        calls = self._parser_calls
        out: list[Event] = []
        for event in events:
            kind = type(event)
            if kind is Content:
                if not self._dropping:
                    out.append(event)
                continue
            if kind is Reasoning:
                out.append(event)
                continue
            index = event.index  # type: ignore[union-attr]
            if self._first_only and index > 0:
                self._dropping = True
                continue
            if calls is None:
                self._next_call = max(self._next_call, index + 1)
            else:
                number = calls.get(index)
                if number is None:
                    number = calls[index] = self._next_call
                    self._next_call += 1
                if number != index:
                    event = _renumbered(event, number)
            if kind is ToolCallStart:
                self.started += 1
            elif kind is ToolCallEnd:
                self.ended += 1
            out.append(event)
        return out


def _parses(arguments: str) -> bool:
    """Whether a backend call's arguments are complete: JSON, or none at all."""
    if not arguments.strip():
        return True
    try:
        orjson.loads(arguments)
    except ValueError:
        return False
    return True


def _renumbered(event: Event, index: int) -> Event:
    if isinstance(event, ToolCallStart):
        return ToolCallStart(index, event.id, event.name)
    if isinstance(event, ToolCallArgs):
        return ToolCallArgs(index, event.fragment)
    return ToolCallEnd(index)
