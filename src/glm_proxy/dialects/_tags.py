"""Finding a dialect's tags in text without rescanning, and JSON-escaping argument pieces.

Shared by every dialect whose markup is made of tags that start with ``<`` and end with their
only ``>`` (GLM's ``<arg_key>``, Kimi-K2's ``<|tool_call_begin|>``): the text from a ``<`` to
the next ``>`` is the only tag that can start there, so finding the next tag is one ``find``
and one set lookup per ``<``.
"""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects._typing import dump_json

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\u2028\u2029]')


def escape_piece(text: str) -> str:
    """JSON-escape a piece of a string value (without the quotes)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return dump_json(text)[1:-1]


def quote(text: str) -> str:
    """``text`` as a JSON string, as ``dump_json`` writes it."""
    return '"' + escape_piece(text) + '"'


class Tags:
    """The tags that can end one state of a parser, prepared for ``scan``.

    Every tag starts with ``<`` and ends with its only ``>``. ``prefixes`` are the unfinished
    tags that may still be completed by the next piece; ``window`` is the longest tag's length:
    how far ``scan`` looks from each ``<``.
    """

    __slots__ = ("complete", "prefixes", "window")

    def __init__(self, *tags: str) -> None:
        for tag in tags:  # what scan relies on
            assert tag.startswith("<")
            assert tag.find(">") == len(tag) - 1
        self.complete: Final = frozenset(tags)
        self.prefixes: Final = frozenset(tag[:n] for tag in tags for n in range(1, len(tag)))
        self.window: Final = max(map(len, tags))


def scan(data: str, pos: int, tags: Tags) -> tuple[int, str | None]:
    """Next tag of ``tags`` at or after ``pos``: ``(index, tag)``.

    ``(index, None)`` when no tag is complete: ``index`` is where a possible unfinished tag
    starts (to be held back), or ``len(data)``.
    """
    window = tags.window
    i = data.find("<", pos)
    while i != -1:
        end = data.find(">", i, i + window)
        if end < 0:
            if len(data) - i < window and data[i:] in tags.prefixes:
                return i, None
        else:
            tag = data[i : end + 1]
            if tag in tags.complete:
                return i, tag
        i = data.find("<", i + 1)
    return len(data), None
