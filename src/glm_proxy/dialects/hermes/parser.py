"""The Hermes dialect: an incremental parser of JSON calls in ``<tool_call>`` tags::

    <tool_call>
    {"name": "NAME", "arguments": {…}}
    </tool_call>

Written by Qwen2.5, Qwen3 (not Qwen3-Coder), NousResearch Hermes and many fine-tunes; the chat
templates put each call on its own line: ``\\n<tool_call>\\n{JSON}\\n</tool_call>``.

Strategy
--------
After ``<tool_call>`` and optional whitespace, a ``{`` opens the call's JSON object (the
envelope); anything else means the opener was text. ``JsonScanner`` follows the envelope's
brackets, skipping strings, so a ``</tool_call>`` written inside a string value is value text.

* Head: up to the first bracket that opens inside the envelope. If the head reads
  ``{"name": "NAME", "arguments": {`` (the templates' order; ``"parameters"`` too), the
  arguments object streams through ``ArgumentsText`` while it is read; otherwise (arguments
  first, a JSON string as arguments, no arguments) the envelope is held whole, up to the
  buffer cap, and read with ``json_call`` at its end.
* The call ends where its envelope closes and is followed by ``</tool_call>``, other text, or
  the end of the output: the closing tag that backends or stop words drop is not needed
  (vLLM reads a call "until EOS" the same way), since a closed envelope holds the whole call.
  It is a call if the envelope is valid JSON with a name and an object of arguments;
  otherwise its text is given back as it was (vLLM keeps invalid JSON as content too).
* A ``</tool_call>`` or ``<tool_call>`` outside the envelope's strings before it closes
  breaks the call: its text goes back out, and the tag is read again as text.
* An output that ends inside the envelope is cut off: not a call (glm-format.md 4.8).
"""

from __future__ import annotations

import json
import re
from typing import Final

from glm_proxy.dialects._json import (
    CLOSED,
    MORE,
    OPENED,
    TAG,
    ArgumentsText,
    JsonScanner,
    load_object,
)
from glm_proxy.dialects._tags import Tags, scan
from glm_proxy.dialects._text import NAME_LIMIT, NON_SPACE, JsonParser, TextMachine
from glm_proxy.dialects._typing import json_call

CALL_OPEN: Final = "<tool_call>"
CALL_CLOSE: Final = "</tool_call>"
# ChatML stop tokens that some backends leak as text; they are stripped.
STOP_TOKENS: Final = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")

_CALL_TAGS: Final = Tags(CALL_OPEN, CALL_CLOSE)
_CLOSER: Final = Tags(CALL_CLOSE)
# The envelope's head when the name comes first, up to the arguments object's "{".
_HEAD: Final = re.compile(
    r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"(?:arguments|parameters)"\s*:\s*\{\Z', re.S
)
_HEAD_LIMIT: Final = 2 * NAME_LIMIT

HEAD, ARGS, REST = range(3)


class HermesMachine(TextMachine):
    openers = (CALL_OPEN,)
    dropped = STOP_TOKENS
    strays = (CALL_CLOSE,)

    _scanner: JsonScanner
    _envelope: list[str]
    _size: int
    _phase: int
    _args: ArgumentsText | None
    _name: str

    def open_call(self, marker: str) -> None:
        self._reader = self._in_opener

    def _in_opener(self, data: str, pos: int) -> int:
        """After ``<tool_call>``: whitespace, then the envelope's ``{``."""
        first = NON_SPACE.search(data, pos)
        if first is None:
            return self.hold(data, len(data))
        at = first.start()
        if data[at] == "{":
            self._scanner = JsonScanner()
            self._envelope = []
            self._size = 0
            self._phase = HEAD
            self._args = None
            self._name = ""
            self._reader = self._in_envelope
            return at
        if data[at] == "<":
            i, tag = scan(data, at, _CALL_TAGS)
            if i == at:
                if tag is None:
                    return self.hold(data, at)
                if tag == CALL_OPEN:  # a stray opener right before the real one
                    self._raw = [CALL_OPEN]
                else:  # <tool_call></tool_call>: nothing
                    self.call_as_text("")
                return at + len(tag)
        self.call_as_text(self.raw_text(data[pos:at]))  # not a JSON call: the opener was text
        return at

    def _in_envelope(self, data: str, pos: int) -> int:
        phase = self._phase
        if phase == HEAD:
            i, event = self._scanner.advance(data, pos, 2, 0)
        else:
            i, event = self._scanner.advance(data, pos, -1, 1 if phase == ARGS else 0)
        if event == TAG:
            j, tag = scan(data, i, _CALL_TAGS)
            if j == i:
                if tag is None:
                    self._read(data[pos:i])
                    return self.hold(data, i)
                self.call_as_text(self.raw_text(data[pos:i]))  # the JSON never closed
                return i
            i += 1  # a "<" that is no tag
        self._read(data[pos:i])
        if self._size > (_HEAD_LIMIT if self._phase == HEAD else self._cap):
            if self._phase == HEAD:
                self._phase = REST
            elif self._args is None:  # too big to hold whole: not a call we can read
                self.call_as_text(self.raw_text(data[pos:i]))
                return i
        if event == MORE:
            return self.hold(data, len(data))
        if event == OPENED:  # the first bracket inside the envelope
            name = _head_name("".join(self._envelope))
            if name:
                self._name = name
                self._args = ArgumentsText(self._cap)
                self._args.read("{")
                self._phase = ARGS
            else:
                self._phase = REST
        elif event == CLOSED:
            if self._phase == ARGS:
                self._phase = REST
            else:
                self._reader = self._in_after
        return i

    def quick_args(self, text: str) -> str | None:
        """The fast path of ``_in_envelope``: inside a string of the arguments, a piece that
        neither ends it nor escapes (no quote, no backslash) goes straight to them
        (``TextMachine.quick_args``)."""
        if (
            self._reader == self._in_envelope
            and self._phase == ARGS
            and self._scanner.in_string
            and not self._scanner.escape
            and '"' not in text
            and "\\" not in text
        ):
            assert self._args is not None
            self._envelope.append(text)
            self._size += len(text)
            return self._args.read(text)
        return None

    def _read(self, piece: str) -> None:
        if piece:
            self._envelope.append(piece)
            self._size += len(piece)
            if self._phase == ARGS:
                assert self._args is not None
                self.send(self._name, self._args.read(piece))

    def _in_after(self, data: str, pos: int) -> int:
        """After the envelope: whitespace, then ``</tool_call>`` (or not: the call is done)."""
        first = NON_SPACE.search(data, pos)
        if first is None:
            return self.hold(data, len(data))
        at = first.start()
        if data[at] == "<":
            i, tag = scan(data, at, _CLOSER)
            if i == at:
                if tag is None:
                    return self.hold(data, at)
                self._complete(self.raw_text(data[pos : at + len(tag)]))
                return at + len(tag)
        self._complete(self.raw_text(data[pos:at]))
        return at

    def _complete(self, raw: str) -> None:
        envelope = "".join(self._envelope)
        if self._args is not None:
            rest = self._args.finish()
            if rest is not None and load_object(envelope) is not None:
                self.end_call(self._name, rest)
                return
        else:
            call = json_call(envelope)
            if call is not None:
                self.end_call(*call)
                return
        self.call_as_text(raw)

    def close_call(self, buf: str) -> None:
        if self._reader == self._in_after:  # the closing tag is missing, or cut
            self._complete(self.raw_text(buf))
        else:
            self.cut_off(self.raw_text(buf))


def _head_name(head: str) -> str:
    """The name in an envelope's head written name first, or ""."""
    match = _HEAD.match(head)
    if match is None:
        return ""
    try:
        name = json.loads(match[1])
    except ValueError:
        return ""
    name = name.strip()
    return name if len(name) <= NAME_LIMIT else ""


class HermesParser(JsonParser):
    """Parser for one Hermes output (one choice): see ``glm_proxy.dialects.Parser``."""

    machine = HermesMachine
