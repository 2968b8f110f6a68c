"""The GLM dialect: an incremental parser of GLM-4.5 / 4.6 / 4.7 / 5.x output.

Strategy
--------
One state machine reads the text once, left to right. Each state knows the few tags that can
end it (``_MARKERS``); ``scan`` finds the next ``<`` with ``str.find`` and checks it against
those tags only. What cannot be decided yet is held back, and only that:

* a suffix that is a proper prefix of one of the state's tags;
* in text, trailing whitespace from a line break on: dropped if a tag follows (the format puts
  it there), released otherwise; whitespace right after ``<think>`` or ``</think>`` is dropped;
* in text, when the request declares tools, a suffix that may be a tool name whose
  ``<tool_call>`` the backend left out (``get_weather<arg_key>...``, glm-format.md 4.4);
* the name of a call until the tag after it (names are emitted only when complete);
* after ``</arg_value>``, the closer and the whitespace after it, until the next character says
  whether it closes the value (``<arg_key>``, ``</tool_call>``, ``<tool_call>`` or the end of
  the output) or is part of it (glm-format.md 4.12);
* a call's arguments, as ``CallArguments`` decides (held while short, then streamed), and text
  inside a call that belongs to no argument (content once the call is complete).

So every character is looked at a bounded number of times, whatever the size of the pieces, and
feeding the text whole, a character at a time or in random pieces gives the same events once
adjacent text (and adjacent argument fragments) are merged. Every decision depends only on
the text seen so far, never on where the pieces were cut: the invariant the tests check.

A call is announced (``ToolCallStart``) when its first argument value begins or when it ends,
never earlier, so a call cut off before any value leaves nothing behind but content. It ends
(``ToolCallEnd``) only at its ``</tool_call>``, or at the next ``<tool_call>`` between two
arguments. A call the output cuts off is never ended: its arguments stay unclosed, and its
markup is returned as content, so no text is lost and no half call looks finished.

Tags outside a call (``<arg_key>``, stray closers) never reach content; inside a call, a tag
in the wrong place is read as the one the structure needs where that is unambiguous.

A whole output (a non-streamed answer) goes to ``finish``, which first tries
``whole.read_whole``: one regular-expression match per argument for the usual shape, the same
events as this machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._arguments import CallArguments
from glm_proxy.dialects._tags import Tags, scan
from glm_proxy.dialects._typing import ToolSchemas, json_call
from glm_proxy.dialects.glm.markup import (
    CALL_CLOSE,
    CALL_OPEN,
    KEY_CLOSE,
    KEY_OPEN,
    LINE_BREAK,
    NAME_LIMIT,
    STOP_TOKENS,
    THINK_CLOSE,
    THINK_OPEN,
    VALUE_CLOSE,
    VALUE_OPEN,
)
from glm_proxy.dialects.glm.whole import read_whole
from glm_proxy.events import (
    Content,
    Event,
    Reasoning,
    ToolCallArgs,
    ToolCallEnd,
    ToolCallStart,
)

TEXT, NAME, JSON_CALL, ARGS, KEY, AFTER_KEY, VALUE, VALUE_END = range(8)

_MARKERS: Final = {
    NAME: Tags(KEY_OPEN, KEY_CLOSE, VALUE_OPEN, CALL_CLOSE, CALL_OPEN),
    JSON_CALL: Tags(CALL_CLOSE),
    ARGS: Tags(KEY_OPEN, KEY_CLOSE, VALUE_OPEN, VALUE_CLOSE, CALL_CLOSE, CALL_OPEN),
    KEY: Tags(KEY_CLOSE, VALUE_OPEN, VALUE_CLOSE, CALL_CLOSE, KEY_OPEN),
    AFTER_KEY: Tags(VALUE_OPEN, KEY_CLOSE, VALUE_CLOSE, KEY_OPEN, CALL_CLOSE),
    VALUE: Tags(VALUE_CLOSE),
    VALUE_END: Tags(KEY_OPEN, CALL_CLOSE, CALL_OPEN),
}
# A value opened without its key: if its text ends in </arg_key>, it was the key.
_KEYLESS_VALUE: Final = Tags(VALUE_CLOSE, KEY_CLOSE)
_TEXT_MARKERS: Final = Tags(
    THINK_OPEN,
    THINK_CLOSE,
    CALL_OPEN,
    CALL_CLOSE,
    KEY_OPEN,
    KEY_CLOSE,
    VALUE_OPEN,
    VALUE_CLOSE,
    *STOP_TOKENS,
)
_TEXT_MARKERS_NO_CALLS: Final = Tags(THINK_OPEN, THINK_CLOSE, *STOP_TOKENS)

_NON_SPACE = re.compile(r"\S")
_SPACE_RUN = re.compile(r"\s+")


class _CallNumbers:
    """Call indices shared by the content and the reasoning channel of one output."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:
        self.next_index = 0


class _Machine:
    """The state machine over one channel of text (see the module docstring)."""

    def __init__(
        self,
        options: ParserOptions,
        schemas: ToolSchemas,
        numbers: _CallNumbers,
        reasoning_channel: bool,
    ) -> None:
        self._options = options
        self._schemas = schemas
        self._numbers = numbers
        self._channel = reasoning_channel
        self._cap = max(options.max_buffer, NAME_LIMIT)
        self._text_markers = _TEXT_MARKERS if options.parse_tool_calls else _TEXT_MARKERS_NO_CALLS
        # The characters of the declared names, when a call without its opener can be read.
        self._name_chars: frozenset[str] | None = None
        if options.parse_tool_calls and schemas.names:
            self._name_chars = frozenset("".join(schemas.names))
        self._state = TEXT
        self._reasoning = reasoning_channel or options.starts_in_reasoning
        # The output began inside the reasoning and has not left it yet (no tag read so far).
        self._initial = self._reasoning and not reasoning_channel
        self._buf = ""
        self._out: list[Event] = []
        # Text, or fragments of the call's arguments, not yet in ``_out``: adjacent pieces of
        # one kind become one event (what ``merge_events`` would make of them).
        self._run: list[str] = []
        self._run_kind: type[Content | Reasoning | ToolCallArgs] = Content
        # whitespace handling in text
        self._pending_ws = ""
        self._after_tag = False
        self._ws_passthrough = False
        self._saved_ws: tuple[str, bool, bool] = ("", False, False)
        self._tail = ""  # text that may be a tool name written without <tool_call>
        # the call being read
        self._origin_reasoning = False
        self._acc = ""
        self._parts: list[str] = []  # the text of a JSON call
        self._parts_len = 0
        self._raw: list[str] | None = None  # the call's markup as read, for a call cut off
        self._name = ""
        self._index = -1
        self._started = False
        self._args: CallArguments | None = None
        self._junk: list[str] = []  # text in the call that belongs to no argument
        self._junk_run = False  # inside such text, too long to be a key
        self._key: str | None = None
        self._keyless = False  # the value was opened without its key
        self._junk_mark = 0  # where the junk of a value without any key begins
        self._closing: list[str] = []  # a </arg_value> and whitespace, not decided yet
        self._closing_len = 0

    # -- driving ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        if not text:
            return []
        if self._buf:
            text, self._buf = self._buf + text, ""
        elif self._state == TEXT and "<" not in text and not self._tail:
            last = text[-1]
            if (
                self._name_chars is not None
                and (last in self._name_chars or last.isspace())
                and self._schemas.name_at_end(text, partial=True) >= 0
            ):  # it may end in a tool name written without its <tool_call>: the slow way
                self._process(text)
                return self._take()
            if self._pending_ws or self._after_tag or last.isspace():
                self._text(text)
                return self._take()
            self._ws_passthrough = False  # the common case, plain text: nothing to hold
            return [Reasoning(text) if self._reasoning else Content(text)]
        elif self._state == VALUE and "<" not in text:
            return self._quick_value(text)
        self._process(text)
        return self._take()

    def backend_split(self) -> None:
        """The backend sends the reasoning apart: this channel's text is not reasoning, even
        if the output would otherwise begin inside it (glm-format.md section 1)."""
        if self._initial:
            self._initial = False
            self._reasoning = False

    @property
    def reasoning(self) -> bool:
        """Whether text read now is reasoning."""
        return self._reasoning

    def is_fresh(self) -> bool:
        """Whether the machine reads text with nothing held or pending, as it began."""
        return self._state == TEXT and not (
            self._buf or self._pending_ws or self._after_tag or self._ws_passthrough or self._tail
        )

    def close(self) -> list[Event]:
        buf, self._buf = self._buf, ""
        state = self._state
        if state in (NAME, JSON_CALL):
            self._abandon_call(buf)
            return self.close()
        if state != TEXT:
            self._truncate_call(buf)
        else:
            text, self._tail = self._tail + buf, ""
            if text:
                self._text(text)
        if self._pending_ws:
            self._emit_text(self._pending_ws)
            self._pending_ws = ""
        return self._take()

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
                self._out.append(ToolCallArgs(self._index, text))
            else:
                self._out.append(kind(text))
            self._run = []

    def _process(self, data: str) -> None:
        pos = 0
        while True:
            raw = self._raw
            new_pos = _HANDLERS[self._state](self, data, pos)
            done = new_pos < 0
            if done:
                new_pos = len(data) - len(self._buf)
            if raw is not None and raw is self._raw:
                raw.append(data[pos:new_pos])  # no copy when a whole piece is consumed
            if done:
                return
            if self._buf:  # text read again after an abandoned call ended in a partial tag
                data, self._buf = self._buf + data[new_pos:], ""
                new_pos = 0
            pos = new_pos

    def _hold(self, data: str, i: int) -> int:
        self._buf = data[i:]
        return -1

    # -- text ------------------------------------------------------------------------------

    def _in_text(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, self._text_markers)
        text = data[pos:i]
        if self._tail:
            text, self._tail = self._tail + text, ""
        if self._name_chars is not None and text and (marker is None or marker == KEY_OPEN):
            start = self._schemas.name_at_end(text, partial=marker is None)
            if start >= 0 and (marker is not None or len(text) - start <= self._cap):
                # A tool name, or what may become one, written without its <tool_call>.
                if start:
                    self._text(text[:start])
                if marker is None:
                    self._tail = text[start:]
                    return self._hold(data, i)
                self._begin_call()
                self._raw = [text[start:], marker]
                self._name = text[start:].rstrip()
                self._state = KEY
                self._pending_ws, self._after_tag, self._ws_passthrough = "", False, False
                return i + len(marker)
        if text:
            self._text(text)
        if marker is None:
            return self._hold(data, i)
        if marker == CALL_OPEN:
            self._begin_call()
        # Whitespace before a tag is the format's; after one, only where the reasoning
        # opens or closes (the format writes "<think>R</think>\n"); a stray tag is just removed.
        switches = marker == THINK_OPEN or (marker == THINK_CLOSE and not self._channel)
        self._after_tag = switches and self._reasoning != (marker == THINK_OPEN)
        if marker == THINK_OPEN:
            self._reasoning = True
            self._initial = False
        elif marker == THINK_CLOSE:
            self._reasoning = self._channel
            self._initial = False
        self._pending_ws = ""
        self._ws_passthrough = False
        return i + len(marker)

    def _text(self, text: str) -> None:
        """Literal text: emit it, holding back a trailing line break (see the strategy)."""
        if self._after_tag:
            text = text.lstrip()
            if not text:
                return
            self._after_tag = False
        body = text.rstrip()
        if not body:
            if self._ws_passthrough:
                self._emit_text(text)
                return
            pending = self._pending_ws + text
        else:
            self._ws_passthrough = False
            self._emit_text(self._pending_ws + body if self._pending_ws else body)
            pending = text[len(body) :]
        # Only whitespace from a line break on is held: spaces after a word go out at once.
        held = LINE_BREAK.search(pending) if pending else None
        if held is None:
            self._emit_text(pending)
            self._pending_ws = ""
            return
        if held.start():
            self._emit_text(pending[: held.start()])
        self._pending_ws = pending[held.start() :]
        if len(self._pending_ws) > self._cap:
            self._emit_text(self._pending_ws)
            self._pending_ws = ""
            self._ws_passthrough = True

    def _emit_text(self, text: str) -> None:
        if text:
            self._add(Reasoning if self._reasoning else Content, text)

    # -- a call's name, or JSON inside <tool_call> -----------------------------------------

    def _begin_call(self) -> None:
        self._saved_ws = (self._pending_ws, self._after_tag, self._ws_passthrough)
        self._origin_reasoning = self._reasoning
        self._state = NAME
        self._acc = ""
        self._raw = [CALL_OPEN]
        self._name = ""
        self._started = False
        self._args = None
        self._junk = []
        self._junk_run = False
        self._key = None
        self._keyless = False

    def _in_name(self, data: str, pos: int) -> int:
        if not self._acc or self._acc.isspace():
            first = _NON_SPACE.search(data, pos)
            if first is not None and data[first.start()] == "{":
                self._parts = [self._acc, data[pos : first.start()]]
                self._parts_len = sum(map(len, self._parts))
                self._state = JSON_CALL
                return first.start()
        i, marker = scan(data, pos, _MARKERS[NAME])
        self._acc += data[pos:i]
        if self._name_is_invalid():
            self._abandon_call("")
            return i
        if marker is None:
            return self._hold(data, i)
        end = i + len(marker)
        name = self._acc.strip()
        self._acc = ""
        if marker == CALL_OPEN:  # the first <tool_call> was a stray one in prose
            self._acc = name
            self._abandon_call("", keep_opener=False)
            self._begin_call()
            return end
        if marker == KEY_CLOSE and name:  # the <arg_key> opener is missing: key glued to name
            split = self._split_name_and_key(name)
            if split is None:
                self._name, self._state = name, ARGS  # a stray closer after the name
            else:
                self._name, self._key = split
                self._state = AFTER_KEY
            return end
        if not name or _SPACE_RUN.search(name):
            if marker == CALL_CLOSE and not name:  # <tool_call></tool_call> is not a call
                self._raw = None
                self._restore_ws()
                self._state = TEXT
                self._reasoning = self._origin_reasoning
                return end
            self._acc = name
            self._abandon_call("")
            return i
        self._name = name
        if marker == KEY_OPEN:
            self._state = KEY
        elif marker == VALUE_OPEN:  # a value without its key
            self._open_value(self._schemas.single_property(name), keyless=True)
        else:  # CALL_CLOSE: a call without arguments
            self._end_call()
        return end

    def _name_is_invalid(self) -> bool:
        name = self._acc.strip()
        return len(self._acc) > NAME_LIMIT or "<" in name or len(_SPACE_RUN.findall(name)) > 1

    def _split_name_and_key(self, text: str) -> tuple[str, str] | None:
        words = text.split(None, 1)
        if len(words) == 2:
            return words[0], words[1].strip()
        return self._schemas.split_name_and_key(text)

    def _abandon_call(self, rest: str, keep_opener: bool = True) -> None:
        """What followed ``<tool_call>`` is not a call: read it again as text."""
        text = self._acc if self._state == NAME else "".join(self._parts)
        self._parts, self._parts_len, self._acc = [], 0, ""
        self._raw = None
        self._state = TEXT
        self._reasoning = self._origin_reasoning
        self._restore_ws()
        if keep_opener:
            self._text(CALL_OPEN)
        if text or rest:
            self._process(text + rest)

    def _restore_ws(self) -> None:
        self._pending_ws, self._after_tag, self._ws_passthrough = self._saved_ws

    def _in_json(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, _MARKERS[JSON_CALL])
        piece = data[pos:i]
        self._parts.append(piece)
        self._parts_len += len(piece)
        if self._parts_len > self._cap:
            self._abandon_call("")
            return i
        if marker is None:
            return self._hold(data, i)
        text = "".join(self._parts)
        self._parts, self._parts_len = [], 0
        call = json_call(text)
        if call is None:
            self._raw = None
            self._restore_ws()
            self._state = TEXT
            self._reasoning = self._origin_reasoning
            self._text(CALL_OPEN + text + CALL_CLOSE)
        else:
            self._name, arguments = call
            self._start()
            self._add(ToolCallArgs, arguments)
            self._after_call()
        return i + len(CALL_CLOSE)

    # -- a call's arguments ----------------------------------------------------------------

    def _start(self) -> CallArguments:
        args = self._args
        if args is None:
            self._started = True
            index = self._numbers.next_index
            self._numbers.next_index += 1
            self._emit(ToolCallStart(index, self._options.id_factory(), self._name))
            self._index = index  # after _emit: text held in _run may not take it
            args = self._args = CallArguments(self._schemas, self._name, self._cap)
        return args

    def _end_call(self) -> None:
        self._add(ToolCallArgs, self._start().finish())
        self._after_call()

    def _after_call(self) -> None:
        """The call is complete: its end, then the text in it that was no argument."""
        self._emit(ToolCallEnd(self._index))
        if self._junk:
            self._add(Content, "".join(self._junk))
            self._junk = []
        self._args = None
        self._raw = None
        self._state = TEXT
        self._reasoning = self._channel
        self._pending_ws, self._after_tag, self._ws_passthrough = "", False, False

    def _in_args(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, _MARKERS[ARGS])
        piece = data[pos:i]
        if self._junk_run:
            self._junk.append(piece)
        else:
            self._acc += piece
            if len(self._acc) > NAME_LIMIT:
                self._junk.append(self._acc)
                self._acc, self._junk_run = "", True
        if marker is None:
            return self._hold(data, i)
        end = i + len(marker)
        text, junk_run = self._acc.strip(), self._junk_run
        self._acc, self._junk_run = "", False
        if marker == KEY_CLOSE:
            if text and not junk_run:  # a key whose <arg_key> opener is missing
                self._key = text
                self._state = AFTER_KEY
            return end
        if marker == VALUE_OPEN:
            if text and not junk_run:  # a key written without any tags
                self._open_value(text, keyless=False)
            else:
                self._open_value(self._schemas.single_property(self._name), keyless=True)
            return end
        if text:
            self._junk.append(text)
        if marker == KEY_OPEN:
            self._state = KEY
        elif marker == CALL_CLOSE:
            self._end_call()
        elif marker == CALL_OPEN:  # the previous call was never closed
            self._end_call()
            self._begin_call()
        return end  # VALUE_CLOSE: a stray closer

    def _in_key(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, _MARKERS[KEY])
        self._acc += data[pos:i]
        if len(self._acc) > self._cap:
            self._junk.append(self._acc)
            self._acc, self._junk_run, self._state = "", True, ARGS
            return i
        if marker is None:
            return self._hold(data, i)
        end = i + len(marker)
        if marker == KEY_OPEN:  # a doubled opener
            return end
        key = self._acc.strip() or self._schemas.single_property(self._name)
        self._acc = ""
        if marker == VALUE_OPEN:
            self._open_value(key, keyless=False)
        elif marker == CALL_CLOSE:  # a key without a value
            self._empty_value(key)
            self._end_call()
        else:  # KEY_CLOSE, or </arg_value> where </arg_key> belongs
            self._key = key
            self._state = AFTER_KEY
        return end

    def _in_after_key(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, _MARKERS[AFTER_KEY])
        first = _NON_SPACE.search(data, pos, i)
        if first is not None:  # the <arg_value> opener is missing: the value starts here
            self._open_value(self._key, keyless=False)
            return first.start()
        if marker is None:
            return self._hold(data, i)
        end = i + len(marker)
        if marker == VALUE_OPEN:
            self._open_value(self._key, keyless=False)
        elif marker == KEY_OPEN:  # the previous key had no value
            self._empty_value(self._key)
            self._state = KEY
        elif marker == CALL_CLOSE:
            self._empty_value(self._key)
            self._end_call()
        return end  # KEY_CLOSE, VALUE_CLOSE: doubled or stray closers

    def _empty_value(self, key: str | None) -> None:
        self._open_value(key, keyless=False)
        self._finish_value()

    def _open_value(self, key: str | None, keyless: bool) -> None:
        """A value begins, for ``key`` (None: it belongs to no argument and is content)."""
        self._state = VALUE
        self._keyless = keyless
        self._key = key
        args = self._start()
        if key is None:
            self._junk_mark = len(self._junk)
        else:
            fragment = args.begin_value(key)
            if fragment:
                self._add(ToolCallArgs, fragment)

    def _in_value(self, data: str, pos: int) -> int:
        i, marker = scan(data, pos, _KEYLESS_VALUE if self._keyless else _MARKERS[VALUE])
        if i > pos:
            self._value_text(data[pos:i])
        if marker is None:
            return self._hold(data, i)
        end = i + len(marker)
        if marker == KEY_CLOSE:  # the text of a value opened without a key was the key
            text = self._take_value()
            if text is None:  # too late: some of it went out as the value
                self._value_text(marker)
            else:
                self._key = text.strip() or self._schemas.single_property(self._name)
                self._keyless = False
                self._state = AFTER_KEY
            return end
        # </arg_value> ends the value only if what follows says so (glm-format.md 4.12).
        self._closing, self._closing_len = [marker], len(marker)
        self._state = VALUE_END
        return end

    def _quick_value(self, text: str) -> list[Event]:
        """The fast path of ``_in_value`` for a whole piece with no ``<``: no marker can
        start in it, so it is all value text (a long string argument, fed delta by delta)."""
        if self._raw is not None:
            self._raw.append(text)
        args = self._args
        if self._key is None or args is None or self._run or self._out:
            self._value_text(text)
            return self._take()
        fragment = args.value_text(text)  # what _value_text then _take would give
        return [ToolCallArgs(self._index, fragment)] if fragment else []

    def _in_value_end(self, data: str, pos: int) -> int:
        first = _NON_SPACE.search(data, pos)
        at = len(data) if first is None else first.start()
        if at > pos:
            self._closing.append(data[pos:at])
            self._closing_len += at - pos
            if self._closing_len > self._cap:
                self._reopen_value()
                return at
        if first is None:
            return self._hold(data, at)
        if data[at] == "<":
            i, marker = scan(data, at, _MARKERS[VALUE_END])
            if i == at:
                if marker is None:  # a tag that may still be one of those
                    return self._hold(data, at)
                self._closing = []
                self._finish_value()
                self._state = ARGS
                return at
        self._reopen_value()
        return at

    def _reopen_value(self) -> None:
        """The ``</arg_value>`` read was part of the value."""
        text = "".join(self._closing)
        self._closing = []
        self._state = VALUE
        self._value_text(text)

    def _value_text(self, piece: str) -> None:
        if self._key is None:
            self._junk.append(piece)
            return
        assert self._args is not None
        fragment = self._args.value_text(piece)
        if fragment:
            self._add(ToolCallArgs, fragment)

    def _take_value(self) -> str | None:
        """The text of the value being read, taken back (None: some of it went out)."""
        if self._key is None:
            text = "".join(self._junk[self._junk_mark :])
            del self._junk[self._junk_mark :]
            return text
        assert self._args is not None
        return self._args.take_value()

    def _finish_value(self) -> None:
        if self._key is not None:
            assert self._args is not None
            fragment = self._args.end_value()
            if fragment:
                self._add(ToolCallArgs, fragment)

    def _truncate_call(self, buf: str) -> None:
        """The output ended inside a call: it is not a call. An announced one stays unended
        (its arguments unclosed); its markup is returned as content."""
        raw = "".join(self._raw or ()) + buf
        self._raw = None
        self._args = None
        self._junk, self._closing = [], []
        self._state = TEXT
        if not self._started:
            self._restore_ws()
            self._reasoning = self._origin_reasoning
            self._text(raw)
            return
        self._reasoning = self._channel
        self._add(Content, raw)
        self._after_tag = False


# The reader of each state, indexed by state: it reads ``data`` from ``pos`` and returns where
# it stopped, or -1 when it has read it all (holding back what it could not decide yet).
_HANDLERS: Final = (
    _Machine._in_text,
    _Machine._in_name,
    _Machine._in_json,
    _Machine._in_args,
    _Machine._in_key,
    _Machine._in_after_key,
    _Machine._in_value,
    _Machine._in_value_end,
)


class GlmParser:
    """Parser for one GLM output (one choice): see ``glm_proxy.dialects.Parser``."""

    def __init__(self, options: ParserOptions) -> None:
        self._options = options
        self._schemas = ToolSchemas(options.tools if options.parse_tool_calls else ())
        self._numbers = _CallNumbers()
        self._content = _Machine(options, self._schemas, self._numbers, reasoning_channel=False)
        self._reasoning: _Machine | None = None
        # The content's machine reads what is fed, called directly: one call less per piece.
        self.feed: Callable[[str], list[Event]] = self._content.feed

    def feed_reasoning(self, text: str) -> list[Event]:
        if self._reasoning is None:
            self._reasoning = _Machine(
                self._options, self._schemas, self._numbers, reasoning_channel=True
            )
            self._content.backend_split()
        return self._reasoning.feed(text)

    def close(self) -> list[Event]:
        events = self._reasoning.close() if self._reasoning is not None else []
        return events + self._content.close()

    def finish(self, text: str) -> list[Event]:
        """``feed(text)`` then ``close()``. An output of the usual shape is read whole with a
        few matches (``whole.read_whole``) when the content's machine holds nothing."""
        options = self._options
        read = None
        content = self._content
        if content.is_fresh():
            read = read_whole(
                text,
                in_reasoning=content.reasoning,
                read_calls=options.parse_tool_calls,
                schemas=self._schemas,
                cap=max(options.max_buffer, NAME_LIMIT),
            )
        if read is None:
            return self.feed(text) + self.close()
        items, held = read
        events: list[Event] = []
        numbers = self._numbers
        for item in items:
            if type(item) is tuple:
                name, arguments = item
                index = numbers.next_index
                numbers.next_index += 1
                events += (
                    ToolCallStart(index, options.id_factory(), name),
                    ToolCallArgs(index, arguments),
                    ToolCallEnd(index),
                )
            else:
                events.append(item)  # type: ignore[arg-type]
        if self._reasoning is not None:
            events += self._reasoning.close()
        if held:
            events.append(Content(held))
        return events
