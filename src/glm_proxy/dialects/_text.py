"""The text around tool calls, shared by the JSON dialects (Hermes, Kimi-K2, DeepSeek).

``TextMachine`` reads one channel of one output (the content, or the reasoning a backend split
off): plain text, reasoning inside ``<think>`` … ``</think>``, stop tokens that leak as text,
and the opener of a call, whose reading it hands to the dialect's own states. ``JsonParser``
drives two of them (content and reasoning) as a ``glm_proxy.dialects.Parser``.

Strategy (the same rules as the GLM machine, glm-format.md section 5)
-----------------------------------------------------------------------
* One pass, left to right: each state is a reader ``(data, pos) -> new pos`` (or -1 when it
  has read everything, keeping in ``_buf`` only a suffix that may still become a tag). Tags
  are found with ``_tags.scan``: one ``find`` per ``<``.
* In text, trailing whitespace from a line break on is held: dropped if a tag follows (the
  chat templates put a newline before a call), released otherwise. Whitespace right after
  ``<think>`` or ``</think>`` is dropped.
* A call opened inside the reasoning ends it (models call tools while thinking); after the
  call, text is content again. A call that is not one (bad JSON, a cut-off output) goes back
  out as text of the kind it started in; one already announced stays unended and its text
  goes out as content, so no text is lost and no half call looks finished.
* The events of one kind are merged into one event per reading (what ``merge_events`` would
  make of them), so the output is the same however the text was cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._tags import Tags, scan
from glm_proxy.dialects._typing import ToolSchemas
from glm_proxy.events import (
    Content,
    Event,
    Reasoning,
    ToolCallArgs,
    ToolCallEnd,
    ToolCallStart,
)

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"
# Longest plausible tool name (or call head); longer, it is prose.
NAME_LIMIT: Final = 256
# Where whitespace that a tag may follow starts to be held back (str.splitlines' line breaks).
LINE_BREAK: Final = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
NON_SPACE: Final = re.compile(r"\S")

Reader = Callable[[str, int], int]


class CallNumbers:
    """Call indices shared by the content and the reasoning channel of one output."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:
        self.next_index = 0


class TextMachine:
    """One channel of one output; a dialect subclasses it with its call states.

    A subclass gives ``openers`` (the tags that open a call), ``dropped`` (tags removed from
    text: stop tokens), ``strays`` and ``open_call(marker)``, which sets ``_reader`` to its
    first state; its states end a call with ``end_call``, ``call_as_text`` or (at the end of
    the output) ``close_call``.
    """

    openers: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    strays: tuple[str, ...] = ()
    """Tags removed from text only while calls are read (a closer outside any call)."""
    _text_tags_made: dict[bool, Tags]

    def __init__(
        self,
        options: ParserOptions,
        schemas: ToolSchemas,
        numbers: CallNumbers,
        reasoning_channel: bool,
    ) -> None:
        self._options = options
        self._schemas = schemas
        self._numbers = numbers
        self._channel = reasoning_channel
        self._cap = max(options.max_buffer, NAME_LIMIT)
        self._text_tags = self._tags_in_text(options.parse_tool_calls)
        self._reader: Reader = self._in_text
        self._reasoning = reasoning_channel or options.starts_in_reasoning
        self._initial = self._reasoning and not reasoning_channel
        self._buf = ""
        self._out: list[Event] = []
        self._run: list[str] = []
        self._run_kind: type[Content | Reasoning | ToolCallArgs] = Content
        self._pending_ws = ""
        self._after_tag = False
        # the call being read
        self._raw: list[str] | None = None  # its text as read, for a call that is not one
        self._origin_reasoning = False
        self._saved_ws: tuple[str, bool] = ("", False)
        self._index = -1
        self._announced = False

    @classmethod
    def _tags_in_text(cls, read_calls: bool) -> Tags:
        """The tags looked for in text, made once per dialect (not per output)."""
        cache = cls.__dict__.get("_text_tags_made")
        if cache is None:
            cache = {}
            cls._text_tags_made = cache
        tags = cache.get(read_calls)
        if tags is None:
            common = (THINK_OPEN, THINK_CLOSE, *cls.dropped)
            extra = (*cls.openers, *cls.strays) if read_calls else ()
            tags = cache[read_calls] = Tags(*common, *extra)
        return tags

    # -- driving ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        if not text:
            return []
        if self._buf:
            text, self._buf = self._buf + text, ""
        elif (
            self._reader == self._in_text
            and "<" not in text
            and not (self._pending_ws or self._after_tag or text[-1].isspace())
        ):  # the common case, plain text: nothing to hold
            return [Reasoning(text) if self._reasoning else Content(text)]
        elif self._announced and self._raw is not None:
            fragment = self.quick_args(text)
            if fragment is not None:  # a piece inside a streaming argument (see quick_args)
                self._raw.append(text)
                return [ToolCallArgs(self._index, fragment)] if fragment else []
        self._process(text)
        return self._take()

    def backend_split(self) -> None:
        """The backend sends the reasoning apart: this channel's text is not reasoning."""
        if self._initial:
            self._initial = False
            self._reasoning = False

    def close(self) -> list[Event]:
        buf, self._buf = self._buf, ""
        if self._reader == self._in_text:
            if buf:
                self._text(buf)
        else:
            self.close_call(buf)
        if self._pending_ws:
            self._emit_text(self._pending_ws)
            self._pending_ws = ""
        return self._take()

    def _process(self, data: str) -> None:
        pos = 0
        while True:
            raw = self._raw
            new_pos = self._reader(data, pos)
            done = new_pos < 0
            if done:
                new_pos = len(data) - len(self._buf)
            if raw is not None and raw is self._raw:
                raw.append(data[pos:new_pos])
            if done:
                return
            pos = new_pos

    def hold(self, data: str, i: int) -> int:
        """Keep ``data[i:]`` for the next piece: the reader has read all it can."""
        self._buf = data[i:]
        return -1

    def raw_text(self, data: str = "") -> str:
        """The call's text as read so far, and ``data``."""
        return "".join(self._raw or ()) + data

    # -- events ----------------------------------------------------------------------------

    def _take(self) -> list[Event]:
        if self._run:
            self._end_run()
        out = self._out
        self._out = []
        return out

    def _emit(self, event: ToolCallStart | ToolCallEnd) -> None:
        self._end_run()
        self._out.append(event)

    def _add(self, kind: type[Content | Reasoning | ToolCallArgs], piece: str) -> None:
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
                self._out.append(ToolCallArgs(self._index, text))
            else:
                self._out.append(kind(text))
            self._run = []

    def _emit_text(self, text: str) -> None:
        if text:
            self._add(Reasoning if self._reasoning else Content, text)

    # -- text ------------------------------------------------------------------------------

    def _in_text(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, self._text_tags)
        if i > pos:
            self._text(data[pos:i])
        if marker is None:
            return self.hold(data, i)
        end = i + len(marker)
        if marker in (THINK_OPEN, THINK_CLOSE):
            opens = marker == THINK_OPEN
            switches = opens or not self._channel
            self._after_tag = switches and self._reasoning != opens
            self._reasoning = opens or self._channel
            self._initial = False
            self._pending_ws = ""
            return end
        if marker in self.dropped or marker in self.strays:
            self._pending_ws = ""  # whitespace before a tag is the format's
            return end
        self._saved_ws = (self._pending_ws, self._after_tag)
        self._pending_ws = ""
        self._origin_reasoning = self._reasoning
        self._raw = [marker]
        self._announced = False
        self.open_call(marker)
        return end

    def _text(self, text: str) -> None:
        """Literal text: emit it, holding back a trailing line break (see the strategy)."""
        if self._after_tag:
            text = text.lstrip()
            if not text:
                return
            self._after_tag = False
        body = text.rstrip()
        if body:
            self._emit_text(self._pending_ws + body if self._pending_ws else body)
            pending = text[len(body) :]
        else:
            pending = self._pending_ws + text
        held = LINE_BREAK.search(pending) if pending else None
        if held is None or len(pending) > self._cap:
            self._emit_text(pending)
            self._pending_ws = ""
            return
        if held.start():
            self._emit_text(pending[: held.start()])
        self._pending_ws = pending[held.start() :]

    # -- calls -----------------------------------------------------------------------------

    def open_call(self, marker: str) -> None:
        raise NotImplementedError

    def quick_args(self, text: str) -> str | None:
        """A dialect's fast path for a piece read inside an announced call: the fragment of
        arguments it gives (maybe empty) when its state reader would only pass it on to the
        arguments, else None (the piece then goes through the reader)."""
        return None

    def close_call(self, buf: str) -> None:
        """The output ended inside a call (``buf``: what was held): by default it is cut off."""
        self.cut_off(self.raw_text(buf))

    def announce(self, name: str) -> None:
        """The call ``name`` begins (its first fragment or its end is about to go out)."""
        if not self._announced:
            self._announced = True
            index = self._numbers.next_index
            self._numbers.next_index += 1
            self._emit(ToolCallStart(index, self._options.id_factory(), name))
            self._index = index

    def send(self, name: str, fragment: str) -> None:
        """A fragment of the arguments of the call ``name``."""
        if fragment:
            self.announce(name)
            self._add(ToolCallArgs, fragment)

    def end_call(self, name: str, fragment: str) -> None:
        """The call is complete; ``fragment`` is the rest of its arguments."""
        self.announce(name)
        if fragment:
            self._add(ToolCallArgs, fragment)
        self._emit(ToolCallEnd(self._index))
        self._back_to_text(self._channel)
        self._after_tag = False

    def call_as_text(self, text: str) -> None:
        """What was read as a call is not one: ``text`` goes out as text (as content if the
        call was announced already, which then stays unended)."""
        if self._announced:
            self._back_to_text(self._channel)
            self._after_tag = False
            self._add(Content, text)
            return
        self._back_to_text(self._origin_reasoning)
        self._pending_ws, self._after_tag = self._saved_ws
        self._emit_text(text)

    def cut_off(self, text: str) -> None:
        """The output ended inside the call: it is not a call (glm-format.md 4.8)."""
        self.call_as_text(text)

    def _back_to_text(self, reasoning: bool) -> None:
        self._raw = None
        self._reader = self._in_text
        self._reasoning = reasoning
        self._pending_ws = ""


MachineFactory = Callable[[ParserOptions, ToolSchemas, CallNumbers, bool], TextMachine]


class JsonParser:
    """A ``glm_proxy.dialects.Parser`` over a dialect's ``TextMachine`` (content, and the
    reasoning a backend split off, with calls numbered together)."""

    machine: MachineFactory

    def __init__(self, options: ParserOptions) -> None:
        self._options = options
        self._schemas = ToolSchemas(options.tools if options.parse_tool_calls else ())
        self._numbers = CallNumbers()
        self._content = self.machine(options, self._schemas, self._numbers, False)
        self._reasoning: TextMachine | None = None
        self.feed: Callable[[str], list[Event]] = self._content.feed

    def feed_reasoning(self, text: str) -> list[Event]:
        if self._reasoning is None:
            self._reasoning = self.machine(self._options, self._schemas, self._numbers, True)
            self._content.backend_split()
        return self._reasoning.feed(text)

    def close(self) -> list[Event]:
        events = self._reasoning.close() if self._reasoning is not None else []
        return events + self._content.close()

    def finish(self, text: str) -> list[Event]:
        return self.feed(text) + self.close()
