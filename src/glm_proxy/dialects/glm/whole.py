"""A whole GLM output of the usual shape, read with a few regular-expression matches.

Non-streamed answers are read whole, and nearly all of them have the shape GLM writes when
nothing goes wrong: reasoning in ``<think>…</think>`` (or, for a prompt that opened it, only
closed), text, then calls with every tag in place::

    <tool_call>NAME<arg_key>KEY</arg_key><arg_value>VALUE</arg_value>…</tool_call>

with any whitespace between the tags. ``read_whole`` reads such an output with one match per
argument instead of the state machine's step per tag, and gives what the machine gives for it
(``feed`` of the whole text, then ``close``). Anything else: a ``<`` in text, a missing or
doubled tag, text between a call's tags, a JSON call, stop tokens, a key written twice in a
call, a call that the output cuts off, an output longer than the buffer cap, and the answer is
``None``: the machine reads it, quirks and all. Tests compare the
two on random outputs, event for event.
"""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects._tags import quote
from glm_proxy.dialects._typing import ToolSchemas, convert_value, dump_json
from glm_proxy.dialects.glm.markup import (
    CALL_OPEN,
    LINE_BREAK,
    NAME_LIMIT,
    THINK_CLOSE,
    THINK_OPEN,
)
from glm_proxy.events import Content, Reasoning

# The opener, the name (which cannot start with "{": that is a JSON call), then the tag after it.
_CALL_HEAD: Final = re.compile(r"<tool_call>(\s*)([^\s<{][^\s<]*)(\s*)<(arg_key>|/tool_call>)")
# After an <arg_key>: the key, its value, and what follows the value's closer. A </arg_value>
# closes the value only when <arg_key>, </tool_call>, <tool_call> or the end follows it
# (glm-format.md 4.12); the last two are left to the machine.
_ARGUMENT: Final = re.compile(
    r"([^<]*)</arg_key>\s*<arg_value>(.*?)</arg_value>(\s*)(?:<(arg_key>|/tool_call>|tool_call>)|\Z)",
    re.DOTALL,
)
_CALL_END: Final = "/tool_call>"
_KEY_NEXT: Final = "arg_key>"

Call = tuple[str, str]
"""A call read whole: its name and its arguments as JSON text."""
Item = Content | Reasoning | Call


def read_whole(
    text: str, *, in_reasoning: bool, read_calls: bool, schemas: ToolSchemas, cap: int
) -> tuple[list[Item], str] | None:
    """The text and calls of an output of the usual shape, or ``None`` (see the module).

    Returns what ``feed`` gives, in order, with each call as ``(name, arguments)`` (its start,
    arguments and end events), and the text that ``close`` then releases.
    """
    if len(text) > cap:
        return None
    items: list[Item] = []
    after_tag = False  # right after <think> or </think>, where leading whitespace is dropped
    pos = 0
    i = text.find("<")
    if not in_reasoning and i >= 0 and text.startswith(THINK_OPEN, i):
        _add(items, Content, _before_tag(text[:i], after_tag))
        pos, in_reasoning, after_tag = i + len(THINK_OPEN), True, True
        i = text.find("<", pos)
    if in_reasoning:
        if i < 0 or not text.startswith(THINK_CLOSE, i):
            return None
        _add(items, Reasoning, _before_tag(text[pos:i], after_tag))
        pos, after_tag = i + len(THINK_CLOSE), True
        i = text.find("<", pos)
    while i >= 0:
        if not read_calls or not text.startswith(CALL_OPEN, i):
            return None
        _add(items, Content, _before_tag(text[pos:i], after_tag))
        read = _read_call(text, i, schemas)
        if read is None:
            return None
        call, pos = read
        items.append(call)
        after_tag = False
        i = text.find("<", pos)
    last = text[pos:].lstrip() if after_tag else text[pos:]
    body = last.rstrip()
    held = LINE_BREAK.search(last, len(body))
    if held is None:
        _add(items, Content, last)
        return items, ""
    _add(items, Content, last[: held.start()])
    return items, last[held.start() :]


def _before_tag(text: str, after_tag: bool) -> str:
    """What the machine releases of text that a tag follows: trailing whitespace from the
    first line break on is the format's and dropped (after <think> or </think>, leading
    whitespace too)."""
    if after_tag:
        text = text.lstrip()
    body = text.rstrip()
    if len(body) == len(text):
        return text
    held = LINE_BREAK.search(text, len(body))
    return text if held is None else text[: held.start()]


def _add(items: list[Item], kind: type[Content | Reasoning], text: str) -> None:
    """Text, merged with the text of the same kind before it (as the machine's runs are)."""
    if text:
        if items and type(items[-1]) is kind:
            text = items.pop().text + text  # type: ignore[union-attr]
        items.append(kind(text))


def _read_call(text: str, start: int, schemas: ToolSchemas) -> tuple[Call, int] | None:
    """The call whose ``<tool_call>`` is at ``start``, and where it ends."""
    head = _CALL_HEAD.match(text, start)
    if head is None or head.end(3) - head.start(1) > NAME_LIMIT:
        return None
    name = head[2]
    pos = head.end()
    if head[4] == _CALL_END:
        return (name, "{}"), pos
    parts: list[str] = []
    keys: set[str] = set()
    while True:
        argument = _ARGUMENT.match(text, pos)
        if argument is None or len(argument[3]) > NAME_LIMIT:
            return None  # past NAME_LIMIT, whitespace between arguments is the call's text
        key = argument[1].strip()
        after = argument[4]
        if not key or key in keys or after not in (_KEY_NEXT, _CALL_END):
            return None
        keys.add(key)
        value = argument[2]
        parts += (", " if parts else "{", quote(key), ": ")
        if schemas.is_string(name, key):
            parts.append(quote(value))
        else:
            parts.append(dump_json(convert_value(value)))
        pos = argument.end()
        if after == _CALL_END:
            parts.append("}")
            return (name, "".join(parts)), pos
