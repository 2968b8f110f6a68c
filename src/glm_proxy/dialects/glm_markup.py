"""The tags of GLM output, and the scan that finds them without rescanning."""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects.glm_values import dump_json

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"
CALL_OPEN: Final = "<tool_call>"
CALL_CLOSE: Final = "</tool_call>"
KEY_OPEN: Final = "<arg_key>"
KEY_CLOSE: Final = "</arg_key>"
VALUE_OPEN: Final = "<arg_value>"
VALUE_CLOSE: Final = "</arg_value>"
# Stop tokens that some backends leak as text; they are stripped.
STOP_TOKENS: Final = ("<|observation|>", "<|user|>", "<|endoftext|>", "<|assistant|>", "<|system|>")

# Longest plausible tool name; a longer "name" is prose that happened to follow <tool_call>.
NAME_LIMIT: Final = 256
# Where whitespace that a tag may follow starts to be held back (str.splitlines' line breaks).
LINE_BREAK: Final = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\u2028\u2029]')


def escape_piece(text: str) -> str:
    """JSON-escape a piece of a string value (without the quotes)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return dump_json(text)[1:-1]


def quote(text: str) -> str:
    """``text`` as a JSON string, as ``dump_json`` writes it."""
    return '"' + escape_piece(text) + '"'


# Longer than any tag: how far scan looks from each ``<``.
_WINDOW: Final = 16


class Tags:
    """The tags that can end one state, prepared for ``scan``.

    Every tag starts with ``<`` and ends with its only ``>``, so the text from a ``<`` to the
    next ``>`` is the only tag that can start there: one set lookup instead of a test per tag.
    ``prefixes`` are the unfinished tags that may still be completed by the next piece.
    """

    __slots__ = ("complete", "prefixes")

    def __init__(self, *tags: str) -> None:
        for tag in tags:  # what scan relies on
            assert tag.startswith("<")
            assert tag.find(">") == len(tag) - 1
            assert len(tag) <= _WINDOW
        self.complete: Final = frozenset(tags)
        self.prefixes: Final = frozenset(tag[:n] for tag in tags for n in range(1, len(tag)))


def scan(data: str, pos: int, tags: Tags) -> tuple[int, str | None]:
    """Next tag of ``tags`` at or after ``pos``: ``(index, tag)``.

    ``(index, None)`` when no tag is complete: ``index`` is where a possible unfinished tag
    starts (to be held back), or ``len(data)``.
    """
    i = data.find("<", pos)
    while i != -1:
        end = data.find(">", i, i + _WINDOW)
        if end < 0:
            if len(data) - i < _WINDOW and data[i:] in tags.prefixes:
                return i, None
        else:
            tag = data[i : end + 1]
            if tag in tags.complete:
                return i, tag
        i = data.find("<", i + 1)
    return len(data), None
