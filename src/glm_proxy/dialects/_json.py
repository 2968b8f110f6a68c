"""Tool-call arguments written as JSON (Hermes, Kimi-K2, DeepSeek), read as they arrive.

Shared by the dialects whose model writes a call's arguments as one JSON object rather than
as tagged values: the model's own JSON text is passed on, never retyped by the tool schemas.

Strategy
--------
* ``JsonScanner`` follows the brackets of JSON text read piece by piece: it stops where a
  bracket opens or closes to a given depth, or at a ``<`` outside strings (where a dialect's
  tag may start), and skips strings with one regular-expression search per quote or
  backslash. So a long string value (a file being written) costs one C-level search, and
  no character is looked at twice.
* ``ArgumentsText`` holds the text of one arguments object. While it totals at most
  ``HOLD_LIMIT`` characters nothing goes out (most calls are short, and a short call that
  turns out not to be JSON is given back as text, whole). Past it, an object (text that
  starts with ``{``) streams as it arrives, always holding back its trailing run of closing
  brackets, whitespace and backticks: text whose last significant character is not ``}``
  cannot parse as an object, so no prefix of the fragments parses before ``finish``, which
  checks the whole text once (``json.loads``) and sends the rest. A call the output cuts
  off never reaches ``finish``: its fragments stay unclosed (glm-format.md 4.8).
* Where the pieces were cut changes only when fragments go out, never their concatenation:
  the switch to streaming happens when the held text passes the limit, whatever the pieces.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.dialects._typing import convert_value, dump_json

# Outside strings: brackets, a quote, or the "<" where a tag may start.
_OUTSIDE: Final = re.compile(r'[{}\[\]"<]')
# Inside a string: its closing quote or an escape.
_INSIDE: Final = re.compile(r'["\\]')

OPENED, CLOSED, TAG, MORE = range(4)
"""What ``JsonScanner.advance`` stopped at."""

_TRAILING: Final = frozenset("}` \t\r\n")
_FENCE: Final = "```"


class JsonScanner:
    """The bracket depth of JSON text read piece by piece (strings skipped)."""

    __slots__ = ("depth", "escape", "in_string")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False  # the last piece ended in the backslash of an escape

    def advance(self, data: str, pos: int, open_at: int, close_at: int) -> tuple[int, int]:
        """Read ``data`` from ``pos`` until a bracket opens to depth ``open_at`` (``OPENED``,
        the index after it), one closes to depth ``close_at`` (``CLOSED``, the index after
        it), a ``<`` outside strings (``TAG``, its index; the caller reads it) or the end
        (``MORE``, ``len(data)``)."""
        end = len(data)
        while True:
            if self.escape:
                if pos >= end:
                    return end, MORE
                pos += 1
                self.escape = False
            if self.in_string:
                found = _INSIDE.search(data, pos)
                if found is None:
                    return end, MORE
                pos = found.end()
                if found.group() == "\\":
                    self.escape = True
                else:
                    self.in_string = False
                continue
            found = _OUTSIDE.search(data, pos)
            if found is None:
                return end, MORE
            char = found.group()
            pos = found.end()
            if char == '"':
                self.in_string = True
            elif char == "<":
                return pos - 1, TAG
            elif char in "{[":
                self.depth += 1
                if self.depth == open_at:
                    return pos, OPENED
            else:
                self.depth -= 1
                if self.depth == close_at:
                    return pos, CLOSED


class ArgumentsText:
    """The text of one call's arguments as the model writes it (see the module docstring).

    ``read`` returns the fragment to send now (maybe empty); ``finish`` checks the whole and
    returns the last fragment, or None when the text is not a JSON object.
    """

    __slots__ = ("_cap", "_lead", "_object", "_parts", "_sent", "_size", "_streaming", "_tail")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[str] = []  # every piece read, from the first significant character
        self._size = 0
        self._lead = ""  # text before the first significant character (whitespace, a fence)
        self._object: bool | None = None  # whether the text starts with "{"; None: not yet
        self._streaming = False
        self._tail = ""  # while streaming: the trailing run held back
        self._sent = 0  # characters sent

    @property
    def sent(self) -> bool:
        """Whether any fragment has gone out."""
        return self._sent > 0

    @property
    def overflow(self) -> bool:
        """Whether more than ``cap`` characters are held (a call too big to be read)."""
        return not self._streaming and self._size > self._cap

    def read(self, piece: str) -> str:
        if not piece:
            return ""
        if self._object is None:
            piece = self._skip_lead(piece)
            if not piece:
                return ""
        self._parts.append(piece)
        self._size += len(piece)
        if self._streaming:
            return self._stream(piece)
        if self._object and self._size > HOLD_LIMIT:
            self._streaming = True
            return self._stream("".join(self._parts))
        return ""

    def finish(self) -> str | None:
        """The rest of the arguments if the whole text is a JSON object (or a JSON string
        holding one, or, when nothing has gone out, a Python literal of one), else None."""
        body = "".join(self._parts).rstrip()
        if body.endswith(_FENCE):  # DeepSeek V3 closes the arguments' code fence
            body = body[: -len(_FENCE)].rstrip()
        value = _load(body)
        if self._sent:
            return body[self._sent :] if isinstance(value, dict) else None
        if isinstance(value, dict):
            return body
        if isinstance(value, str):  # arguments serialised twice (Granite, some fine-tunes)
            value = _load(value)
            return dump_json(value) if isinstance(value, dict) else None
        if self._object:  # a Python literal ({'a': True}): written again as JSON
            converted = convert_value(body)
            if isinstance(converted, dict):
                return dump_json(converted)
        return None

    def _skip_lead(self, piece: str) -> str:
        """Whitespace and an opening code fence (```json) before the value are not its text."""
        lead = self._lead + piece
        stripped = lead.lstrip()
        if not stripped:
            self._lead = lead
            return ""
        if stripped.startswith("`"):
            if len(stripped) < len(_FENCE) and _FENCE.startswith(stripped):
                self._lead = lead
                return ""
            if stripped.startswith(_FENCE):
                newline = stripped.find("\n")
                if newline < 0 and len(stripped) <= 64:  # the fence's language tag, maybe
                    self._lead = lead
                    return ""
                if newline >= 0:
                    rest = stripped[newline + 1 :].lstrip()
                    if not rest:
                        self._lead = ""
                        return ""
                    stripped = rest
        self._lead = ""
        self._object = stripped.startswith("{")
        return stripped

    def _stream(self, text: str) -> str:
        """Send ``text`` after what is held, holding back the new trailing run."""
        end = len(text)
        while end and text[end - 1] in _TRAILING:
            end -= 1
        if not end:
            self._tail += text
            return ""
        out = self._tail + text[:end]
        self._tail = text[end:]
        self._sent += len(out)
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _load(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None


def load_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object (NaN and Infinity refused), or None."""
    value = _load(text)
    return value if isinstance(value, dict) else None
