"""What one channel of an XML-dialect output sends: events, with adjacent text of one kind
(and adjacent fragments of one call's arguments) in one event, and whitespace held back where
a tag may follow it."""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart

_LINE_BREAK: Final = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class Output:
    """The events of one channel, as the machine decides them."""

    __slots__ = (
        "_cap",
        "_events",
        "_run",
        "_run_kind",
        "after_tag",
        "index",
        "pending_ws",
        "reasoning",
    )

    def __init__(self, cap: int, reasoning: bool) -> None:
        self._cap = cap
        self.reasoning = reasoning
        """Whether text read now is reasoning."""
        self.index = -1
        """The call that argument fragments belong to."""
        self.pending_ws = ""
        """Whitespace from a line break on, held: dropped if a tag follows, else text."""
        self.after_tag = False
        """Whitespace that comes next is dropped (it follows <think> or </think>)."""
        self._events: list[Event] = []
        self._run: list[str] = []  # pieces of one kind not yet in an event
        self._run_kind: type[Content | Reasoning | ToolCallArgs] = Content

    def take(self) -> list[Event]:
        """The events decided so far."""
        self._end_run()
        events, self._events = self._events, []
        return events

    def emit(self, event: ToolCallStart | ToolCallEnd) -> None:
        self._end_run()
        self._events.append(event)

    def add(self, kind: type[Content | Reasoning | ToolCallArgs], piece: str) -> None:
        """Text of a kind, or a fragment of the current call's arguments (``ToolCallArgs``)."""
        if kind is not self._run_kind:
            self._end_run()
            self._run_kind = kind
        self._run.append(piece)

    def _end_run(self) -> None:
        run = self._run
        if run:
            text = run[0] if len(run) == 1 else "".join(run)
            kind = self._run_kind
            if issubclass(kind, ToolCallArgs):
                self._events.append(ToolCallArgs(self.index, text))
            else:
                self._events.append(kind(text))
            self._run = []

    def text(self, text: str) -> None:
        """Literal text: emit it, holding back trailing whitespace from a line break on."""
        if self.after_tag:
            text = text.lstrip()
            if not text:
                return
            self.after_tag = False
        body = text.rstrip()
        if not body:
            pending = self.pending_ws + text
        else:
            self.emit_text(self.pending_ws + body if self.pending_ws else body)
            pending = text[len(body) :]
        held = _LINE_BREAK.search(pending) if pending else None
        if held is None:
            self.emit_text(pending)
            self.pending_ws = ""
            return
        if held.start():
            self.emit_text(pending[: held.start()])
        self.pending_ws = pending[held.start() :]
        if len(self.pending_ws) > self._cap:  # too much to hold: it is text
            self.emit_text(self.pending_ws)
            self.pending_ws = ""

    def emit_text(self, text: str) -> None:
        if text:
            self.add(Reasoning if self.reasoning else Content, text)
