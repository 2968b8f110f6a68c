"""The arguments of one tool call, written as JSON text fragments while the values arrive.

Shared by the dialects that write arguments as key/value text (GLM, Qwen3-Coder, MiniMax): the
parser says where a value begins, hands over its text piece by piece, and says where it ends;
``CallArguments`` types each value by the tool's schema (``_typing``) and decides what goes out.

Strategy
--------
* Held first. While the values read so far total at most ``HOLD_LIMIT`` characters, nothing
  goes out: each finished value waits in a map from key to JSON text. A key written twice keeps
  its first place and takes its last value (the template's own reading of a repeated key), so
  it appears once in the arguments text. ``finish`` writes the whole object at once.
* Then streamed. Once the values pass ``HOLD_LIMIT`` (a file being written, say), the held
  members go out, the value being read streams on as escaped pieces if it is a string, and
  every later string value streams as it arrives: a client sees a long argument grow, and is
  not left waiting minutes for its first byte. A key repeated after that point is written
  again (JSON readers keep the last value): what has gone out cannot be taken back.
* A value of a non-string type is held until its end (it is typed as a whole), up to ``cap``
  characters; longer, it becomes a string. (Nothing is held past ``cap`` in all: the hold
  limit is the smaller of the two.)
* The closing ``}`` goes out only with ``finish``, so no prefix of the fragments is valid JSON
  before the call is complete; a parser that never calls ``finish`` (the output was cut off)
  leaves the fragments sent so far unclosed, as OpenAI leaves a call that ``max_tokens`` cut.

Where the pieces were cut changes only when fragments go out, never their concatenation: the
switch to streaming happens inside the value whose text passes the limit, whatever the pieces.
"""

from __future__ import annotations

from typing import Final

from glm_proxy.dialects._tags import escape_piece, quote
from glm_proxy.dialects._typing import ToolSchemas, convert_value, dump_json

HOLD_LIMIT: Final = 1024
"""Characters of values held before a call's arguments start to stream."""


class CallArguments:
    """The arguments of one call (see the module docstring)."""

    __slots__ = (
        "_cap",
        "_held",
        "_hold_limit",
        "_key",
        "_members",
        "_opened",
        "_out",
        "_parts",
        "_parts_len",
        "_schemas",
        "_streaming",
        "_string",
        "_tool",
    )

    def __init__(self, schemas: ToolSchemas, tool: str, cap: int) -> None:
        self._schemas = schemas
        self._tool = tool
        self._cap = cap
        self._hold_limit = min(HOLD_LIMIT, cap)
        self._members: dict[str, str] = {}  # held: key -> the value's JSON text
        self._held = 0  # characters of value text read while holding
        self._streaming = False  # past HOLD_LIMIT: members go out as they are read
        self._opened = False  # "{" has gone out
        self._key = ""  # the key of the value being read
        self._string = False  # whether that value is typed as a string
        self._out = False  # whether that value streams (its opening quote has gone out)
        self._parts: list[str] = []  # its text, while it is held
        self._parts_len = 0

    @property
    def sent(self) -> bool:
        """Whether any fragment has gone out."""
        return self._opened

    def begin_value(self, key: str) -> str:
        """A value for ``key`` begins; returns the fragment to send now (maybe empty)."""
        self._key = key
        self._string = self._schemas.is_string(self._tool, key)
        self._parts, self._parts_len = [], 0
        self._out = self._streaming and self._string
        return self._member_start() + '"' if self._out else ""

    def value_text(self, piece: str) -> str:
        """More text of the value; returns the fragment to send now (maybe empty)."""
        if self._out:
            return escape_piece(piece)
        self._parts.append(piece)
        self._parts_len += len(piece)
        out = ""
        if not self._streaming:
            self._held += len(piece)
            if self._held > self._hold_limit:
                out = self._start_streaming()
                if self._out:
                    return out
        if self._parts_len > self._cap:  # too long to hold whole: it becomes a string
            self._string = self._out = True
            out += self._member_start() + '"' + escape_piece(self._take_parts())
        return out

    def take_value(self) -> str | None:
        """The text of the value being read, taken back as if it had never begun; None when
        some of it has gone out already."""
        if self._out:
            return None
        if not self._streaming:
            self._held -= self._parts_len
        return self._take_parts()

    def end_value(self) -> str:
        """The value is complete; returns the fragment to send now (maybe empty)."""
        if self._out:
            self._out = False
            return '"'
        raw = self._take_parts()
        text = quote(raw) if self._string else dump_json(convert_value(raw))
        if self._streaming:
            return self._member_start() + text
        self._members[self._key] = text  # a repeated key keeps its place, takes the last value
        return ""

    def finish(self) -> str:
        """The call is complete: the last fragment, which closes the object."""
        if self._streaming:
            return "}"
        if not self._members:
            return "{}"
        return "{" + ", ".join(quote(k) + ": " + v for k, v in self._members.items()) + "}"

    def _start_streaming(self) -> str:
        """Past the hold limit: what was held goes out, and the value being read streams if
        it is a string."""
        self._streaming = True
        out = ""
        if self._members:
            out = "{" + ", ".join(quote(k) + ": " + v for k, v in self._members.items())
            self._opened = True
            self._members = {}
        if self._string:
            self._out = True
            out += self._member_start() + '"' + escape_piece(self._take_parts())
        return out

    def _member_start(self) -> str:
        """``{`` or ``, `` and the key of the value being read."""
        prefix = ", " if self._opened else "{"
        self._opened = True
        return prefix + quote(self._key) + ": "

    def _take_parts(self) -> str:
        parts = self._parts
        text = parts[0] if len(parts) == 1 else "".join(parts)
        self._parts, self._parts_len = [], 0
        return text
