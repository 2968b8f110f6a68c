"""The state machine that reads one channel of an XML-style dialect's output.

Strategy
--------
One state machine reads the text once, left to right (the GLM parser's design): each state
knows the few tags that can end it, ``scan`` finds the next one with ``str.find``, and only
what cannot be decided yet is held back:

* a suffix that may still become a tag (named openers included: ``<parameter=pa``);
* in text, trailing whitespace from a line break on: dropped if a tag follows, else released;
* a call's arguments, as ``CallArguments`` decides (held while short, then streamed);
* with ``trim_newline`` (Qwen3-Coder writes each value between line breaks), the first line
  break of a value is dropped and its last one held until the value's end says it is the
  template's;
* after a closer inside a value (``</parameter>``, or ``</function>`` / ``</tool_call>`` where
  ``</parameter>`` is missing), the closer and the whitespace after it, until the next
  character says whether it closes the value (a tag that may follow it, or the end of the
  output) or is part of it (a value that contains ``</parameter>``).

States: TEXT (content or reasoning), SECTION (inside the wrapper, between calls), ARGS (inside
a call, between parameters), VALUE and VALUE_END (a parameter's value, and a closer in it not
decided yet), JSON (a JSON call in the wrapper, where the dialect allows one). A call is the
named block: complete at its closer (``</function>``, ``</invoke>``), or at the wrapper's closer
or the next call where the model left its closer out. It is announced when its first value
begins or when it ends, so a call cut off before any value leaves only content. A call the
output cuts off is never ended; its markup comes back as content. A call written without the
wrapper (Qwen3-Coder drops ``<tool_call>`` often) is read when its name is a declared tool's,
or when the request declares no tools.

Tags outside a call never reach content; within a value, a ``<parameter=...>`` of a declared,
not yet given key ends the value whose ``</parameter>`` is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._arguments import CallArguments
from glm_proxy.dialects._tags import NAME_LIMIT, scan
from glm_proxy.dialects._typing import ToolSchemas, json_call
from glm_proxy.dialects._xml.markup import BAD_NAME, THINK_CLOSE, THINK_OPEN, Prepared, name_in
from glm_proxy.dialects._xml.output import Output
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart

TEXT, SECTION, ARGS, VALUE, VALUE_END, JSON = range(6)

_NON_SPACE: Final = re.compile(r"\S")


class CallNumbers:
    """Call indices shared by the content and the reasoning channel of one output."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:
        self.next_index = 0


class Machine:
    """The state machine over one channel of text (see the module docstring)."""

    def __init__(
        self,
        prepared: Prepared,
        options: ParserOptions,
        schemas: ToolSchemas,
        numbers: CallNumbers,
        reasoning_channel: bool,
    ) -> None:
        self._p = prepared
        self._m = prepared.m
        self._options = options
        self._schemas = schemas
        self._numbers = numbers
        self._channel = reasoning_channel
        self._cap = max(options.max_buffer, NAME_LIMIT)
        self._text_tags = prepared.text if options.parse_tool_calls else prepared.text_no_calls
        self._state = TEXT
        reasoning = reasoning_channel or options.starts_in_reasoning
        self._o = Output(self._cap, reasoning)
        # the output began inside the reasoning and has not left it yet
        self._initial = reasoning and not reasoning_channel
        self._buf = ""
        self._saved_ws: tuple[str, bool] = ("", False)
        # the section and the call being read
        self._raw: list[str] | None = None  # markup read since the section or the last call
        self._origin_reasoning = False
        self._in_section = False
        self._section_calls = 0
        self._name = ""
        self._args: CallArguments | None = None
        self._junk: list[str] = []  # text in a call that belongs to no parameter
        self._gap: list[str] = []  # text read since the call's last tag
        self._seen: set[str] = set()
        self._key: str | None = None
        self._lead = False  # the value's first line break may still come
        self._nl = False  # a line break held at the value's end
        self._closing: list[str] = []  # a closer in a value, and whitespace, not decided yet
        self._closing_len = 0
        self._parts: list[str] = []  # the text of a JSON call
        self._parts_len = 0

    # -- driving ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        if not text:
            return []
        if self._buf:
            text, self._buf = self._buf + text, ""
        elif "<" not in text:
            state = self._state
            if state == TEXT and not (
                self._o.pending_ws or self._o.after_tag or text[-1].isspace()
            ):  # the common case, plain text: nothing to hold
                return [Reasoning(text) if self._o.reasoning else Content(text)]
            if state == VALUE:  # more of a value, no tag in it
                if self._raw is not None:
                    self._raw.append(text)
                self._value_text(text)
                return self._o.take()
        self._process(text)
        return self._o.take()

    def backend_split(self) -> None:
        """The backend sends the reasoning apart: this channel's text is not reasoning."""
        if self._initial:
            self._initial = False
            self._o.reasoning = False

    def close(self) -> list[Event]:
        buf, self._buf = self._buf, ""
        if self._state == VALUE_END:
            self._end_value_at(self._closing[0])  # the end of the output decides: a closer
            self._closing = []
        if self._state == TEXT:
            if buf:
                self._o.text(buf)
        elif self._state == SECTION and self._section_calls:
            self._leave_section()  # what was held may only be the start of a tag
            if buf:
                self._o.text(buf)
        else:
            self._truncate(buf)
        if self._o.pending_ws:
            self._o.emit_text(self._o.pending_ws)
            self._o.pending_ws = ""
        return self._o.take()

    def _process(self, data: str) -> None:
        pos = 0
        while True:
            raw = self._raw
            new_pos = _HANDLERS[self._state](self, data, pos)
            done = new_pos < 0
            if done:
                new_pos = len(data) - len(self._buf)
            if raw is not None and raw is self._raw:
                raw.append(data[pos:new_pos])
            if done:
                return
            pos = new_pos

    def _hold(self, data: str, i: int) -> int:
        self._buf = data[i:]
        return -1

    # -- text ------------------------------------------------------------------------------

    def _in_text(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._text_tags)
        if i > pos:
            self._o.text(data[pos:i])
        if tag is None:
            return self._hold(data, i)
        end = i + len(tag)
        m = self._m
        if tag == m.section_open:
            self._begin_section(tag)
            return end
        if tag.startswith(m.call_prefix):
            name = self._call_name(tag)
            names = self._schemas.names
            if name is None or (names and name not in names):
                self._o.text(tag)  # prose that looks like a call
                return end
            self._begin_section(None)
            self._open_call(name)
            self._raw = [tag]
            return end
        # Whitespace before a tag is the format's; after one, only where the reasoning
        # opens or closes; a stray tag is just removed.
        switches = tag == THINK_OPEN or (tag == THINK_CLOSE and not self._channel)
        self._o.after_tag = switches and self._o.reasoning != (tag == THINK_OPEN)
        if tag == THINK_OPEN:
            self._o.reasoning = True
            self._initial = False
        elif tag == THINK_CLOSE:
            self._o.reasoning = self._channel
            self._initial = False
        self._o.pending_ws = ""
        return end

    def _call_name(self, tag: str) -> str | None:
        name = name_in(tag, self._m.call_prefix)
        if not name or BAD_NAME.search(name):
            return None
        return name

    # -- the section: between calls --------------------------------------------------------

    def _begin_section(self, tag: str | None) -> None:
        self._saved_ws = (self._o.pending_ws, self._o.after_tag)
        self._o.pending_ws, self._o.after_tag = "", False
        self._origin_reasoning = self._o.reasoning
        self._in_section = tag is not None
        self._section_calls = 0
        self._state = SECTION
        self._raw = [tag] if tag is not None else None

    def _in_section_state(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._p.inner)
        first = _NON_SPACE.search(data, pos, i)
        if first is not None:  # text between calls: the section was prose, or is over
            at = first.start()
            if data[at] == "{" and self._m.json_calls and not self._section_calls:
                self._state = JSON
                self._parts, self._parts_len = [], 0
                return at
            return self._not_a_section(data, pos, at)
        if tag is None:
            return self._hold(data, i)
        end = i + len(tag)
        m = self._m
        if tag == m.section_close:
            if not self._section_calls:  # <tool_call></tool_call> is not a call: dropped
                self._raw = None
            self._leave_section()
            return end
        if tag.startswith(m.call_prefix):
            name = self._call_name(tag)
            if name is None:
                return self._not_a_section(data, pos, i)
            self._open_call(name)
            return end
        if tag.startswith(m.param_prefix):  # a parameter without its call
            return self._not_a_section(data, pos, i)
        return end  # a doubled opener, stray closers

    def _in_json(self, data: str, pos: int) -> int:
        """A JSON call in the wrapper (glm-format.md 4.9), read whole at the wrapper's closer."""
        i, tag = scan(data, pos, self._p.json_end)
        self._parts.append(data[pos:i])
        self._parts_len += i - pos
        if self._parts_len > self._cap:
            return self._not_a_section(data, pos, i)
        if tag is None:
            return self._hold(data, i)
        end = i + len(tag)
        call = json_call("".join(self._parts))
        self._parts, self._parts_len = [], 0
        if call is None:  # not a call: the wrapper and all in it are text
            return self._not_a_section(data, pos, end)
        self._name, arguments = call
        self._args = None
        self._start()
        self._o.add(ToolCallArgs, arguments)
        self._o.emit(ToolCallEnd(self._o.index))
        self._args = None
        self._o.reasoning = self._channel
        self._leave_section()
        return end

    def _not_a_section(self, data: str, pos: int, at: int) -> int:
        """Text where a call should be: before any call, the wrapper was prose (its markup
        becomes text); after one, the section is over."""
        if self._section_calls:
            self._leave_section()
            return at
        raw = "".join(self._raw or ()) + data[pos:at]
        self._raw = None
        self._state = TEXT
        self._in_section = False
        self._o.reasoning = self._origin_reasoning
        self._o.pending_ws, self._o.after_tag = self._saved_ws
        self._o.text(raw)
        return at

    def _leave_section(self) -> None:
        self._raw = None
        self._state = TEXT
        self._in_section = False
        self._o.pending_ws, self._o.after_tag = "", False

    # -- a call: between parameters --------------------------------------------------------

    def _open_call(self, name: str) -> None:
        self._state = ARGS
        self._name = name
        self._args = None
        self._junk, self._gap = [], []
        self._seen = set()
        self._key = None

    def _start(self) -> CallArguments:
        args = self._args
        if args is None:
            index = self._numbers.next_index
            self._numbers.next_index += 1
            self._o.emit(ToolCallStart(index, self._options.id_factory(), self._name))
            self._o.index = index
            args = self._args = CallArguments(self._schemas, self._name, self._cap)
        return args

    def _end_call(self) -> None:
        self._o.add(ToolCallArgs, self._start().finish())
        self._o.emit(ToolCallEnd(self._o.index))
        if self._junk:
            self._o.add(Content, "".join(self._junk))
            self._junk = []
        self._args = None
        self._o.reasoning = self._channel
        if self._in_section:
            self._section_calls += 1
            self._state = SECTION
            self._raw = []
            # a call cut off later in the section comes back as it is, where it is
            self._saved_ws, self._origin_reasoning = ("", False), self._channel
        else:
            self._leave_section()

    def _in_args(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._p.inner)
        if i > pos:
            self._gap.append(data[pos:i])
        if tag is None:
            return self._hold(data, i)
        if self._gap:  # text between two tags of the call, whitespace around it the format's
            gap = "".join(self._gap).strip()
            self._gap = []
            if gap:
                self._junk.append(gap)
        end = i + len(tag)
        m = self._m
        if tag.startswith(m.param_prefix):
            self._open_value(self._key_of(tag))
        elif tag == m.call_close:
            self._end_call()
        elif tag == m.section_close:  # the call's closer is missing
            self._end_call()
            self._leave_section()
        elif tag == m.section_open or tag.startswith(m.call_prefix):
            self._end_call()  # the call was never closed: the next one begins
            return i
        return end  # a stray </parameter>

    def _key_of(self, tag: str) -> str | None:
        key = name_in(tag, self._m.param_prefix)
        return key or self._schemas.single_property(self._name)

    # -- a value ---------------------------------------------------------------------------

    def _open_value(self, key: str | None) -> None:
        """A value begins, for ``key`` (None: it belongs to no parameter and is content)."""
        self._state = VALUE
        self._key = key
        self._lead = self._m.trim_newline
        self._nl = False
        args = self._start()
        if key is not None:
            self._seen.add(key)
            fragment = args.begin_value(key)
            if fragment:
                self._o.add(ToolCallArgs, fragment)

    def _in_value(self, data: str, pos: int) -> int:
        i, tag = scan(data, pos, self._p.value)
        if i > pos:
            self._value_text(data[pos:i])
        if tag is None:
            return self._hold(data, i)
        end = i + len(tag)
        if tag.startswith(self._m.param_prefix):
            key = name_in(tag, self._m.param_prefix)
            if self._ends_value(key):  # the value's </parameter> is missing
                self._finish_value()
                self._open_value(key)
            else:
                self._value_text(tag)
            return end
        self._closing, self._closing_len = [tag], len(tag)
        self._state = VALUE_END
        return end

    def _ends_value(self, key: str) -> bool:
        """Whether ``<parameter=key>`` read inside a value opens the next parameter."""
        if not key or key in self._seen:
            return False
        declared = self._schemas.declared_keys(self._name)
        return not declared or key in declared

    def _in_value_end(self, data: str, pos: int) -> int:
        first = _NON_SPACE.search(data, pos)
        at = len(data) if first is None else first.start()
        if at > pos:
            self._closing.append(data[pos:at])
            self._closing_len += at - pos
            if self._closing_len > self._cap:
                return self._reopen_value(at)
        if first is None:
            return self._hold(data, at)
        if data[at] == "<":
            i, tag = scan(data, at, self._p.inner)
            if i == at:
                if tag is None:  # a tag that may still be one that follows the closer
                    return self._hold(data, at)
                closer = self._closing[0]
                m = self._m
                if (
                    tag in self._p.follows[closer]
                    or tag.startswith(m.call_prefix)
                    or (closer == m.param_close and tag.startswith(m.param_prefix))
                ):
                    self._closing = []
                    self._end_value_at(closer)
                    return at
        return self._reopen_value(at)

    def _end_value_at(self, closer: str) -> None:
        """The closer read in the value is one: the value ends, and the call with it unless
        it was ``</parameter>``."""
        self._finish_value()
        self._state = ARGS
        m = self._m
        if closer != m.param_close:
            self._end_call()
            if closer == m.section_close and self._state == SECTION:
                self._leave_section()

    def _reopen_value(self, at: int) -> int:
        """The closer read was part of the value."""
        text = "".join(self._closing)
        self._closing = []
        self._state = VALUE
        self._value_text(text)
        return at

    def _value_text(self, piece: str) -> None:
        if self._lead:
            self._lead = False
            if piece[0] == "\n":
                piece = piece[1:]
                if not piece:
                    return
        if self._m.trim_newline:
            if self._nl:
                piece = "\n" + piece
                self._nl = False
            if piece[-1] == "\n":
                piece = piece[:-1]
                self._nl = True
                if not piece:
                    return
        if self._key is None:
            self._junk.append(piece)
            return
        assert self._args is not None
        fragment = self._args.value_text(piece)
        if fragment:
            self._o.add(ToolCallArgs, fragment)

    def _finish_value(self) -> None:
        self._nl = self._lead = False  # the template's line breaks
        if self._key is not None:
            assert self._args is not None
            fragment = self._args.end_value()
            if fragment:
                self._o.add(ToolCallArgs, fragment)
        self._key = None

    def _truncate(self, buf: str) -> None:
        """The output ended inside a call: it is not a call. An announced one stays unended
        (its arguments unclosed); its markup is returned as content."""
        raw = "".join(self._raw or ()) + buf
        started = self._args is not None
        self._raw = None
        self._args = None
        self._junk, self._gap, self._closing, self._parts = [], [], [], []
        self._state = TEXT
        self._in_section = False
        if not started:
            self._o.pending_ws, self._o.after_tag = self._saved_ws
            self._o.reasoning = self._origin_reasoning
            self._o.text(raw)
            return
        self._o.reasoning = self._channel
        self._o.add(Content, self._saved_ws[0] + raw)  # with the line break that led to it
        self._o.after_tag = False


# The reader of each state: it reads ``data`` from ``pos`` and returns where it stopped, or
# -1 when it has read it all (holding back what it could not decide yet).
_HANDLERS: Final[tuple[Callable[[Machine, str, int], int], ...]] = (
    Machine._in_text,
    Machine._in_section_state,
    Machine._in_args,
    Machine._in_value,
    Machine._in_value_end,
    Machine._in_json,
)
