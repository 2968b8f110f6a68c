"""Finding a dialect's tags in text without rescanning, and JSON-escaping argument pieces.

Shared by every dialect whose markup is made of tags that start with ``<`` and end with their
only ``>`` (GLM's ``<arg_key>``, Kimi-K2's ``<|tool_call_begin|>``): the text from a ``<`` to
the next ``>`` is the only tag that can start there, so finding the next tag is one ``find``
and one set lookup per ``<``.

Some tags carry a name: Qwen3-Coder's ``<function=NAME>`` and ``<parameter=NAME>``, MiniMax's
``<invoke name="NAME">``. ``Tags`` takes their fixed beginnings as ``named`` openers: the text
from a ``<`` to the next ``>`` is such a tag when it starts with one of them and its name holds
no ``<`` and no whitespace (the same one ``find`` per ``<``, over a longer window).
"""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects._typing import dump_json

_SPACE = re.compile(r"\s")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\u2028\u2029]')


def escape_piece(text: str) -> str:
    """JSON-escape a piece of a string value (without the quotes)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return dump_json(text)[1:-1]


def quote(text: str) -> str:
    """``text`` as a JSON string, as ``dump_json`` writes it."""
    return '"' + escape_piece(text) + '"'


NAME_LIMIT: Final = 256
"""Longest name a named opener may carry; a longer one is not a tag."""


class Tags:
    """The tags that can end one state of a parser, prepared for ``scan``.

    Every tag starts with ``<`` and ends with its only ``>``. ``prefixes`` are the unfinished
    tags that may still be completed by the next piece; ``window`` is the longest tag's length:
    how far ``scan`` looks from each ``<``. ``named`` are the beginnings of tags that carry a
    name (``<parameter=``): such a tag is the beginning, a name of at most ``NAME_LIMIT``
    characters without ``<`` or whitespace, and ``>``.
    """

    __slots__ = ("complete", "named", "prefixes", "window")

    def __init__(self, *tags: str, named: tuple[str, ...] = ()) -> None:
        for tag in (*tags, *named):  # what scan relies on
            assert tag.startswith("<")
            assert tag.find(">") == (len(tag) - 1 if tag in tags else -1)
        self.complete: Final = frozenset(tags)
        self.named: Final = named
        self.prefixes: Final = frozenset(
            tag[:n] for tag in (*tags, *named) for n in range(1, len(tag))
        )
        longest = max(map(len, tags), default=0)
        if named:
            longest = max(longest, max(map(len, named)) + NAME_LIMIT + 1)
        self.window: Final = longest

    def named_opener(self, text: str) -> str | None:
        """The named opener that ``text`` (a tag, or the start of one) begins with."""
        for opener in self.named:
            if text.startswith(opener):
                return opener
        return None


def scan(data: str, pos: int, tags: Tags) -> tuple[int, str | None]:
    """Next tag of ``tags`` at or after ``pos``: ``(index, tag)``.

    ``(index, None)`` when no tag is complete: ``index`` is where a possible unfinished tag
    starts (to be held back), or ``len(data)``.
    """
    window = tags.window
    named = tags.named
    i = data.find("<", pos)
    while i != -1:
        end = data.find(">", i, i + window)
        if end < 0:
            if len(data) - i < window:
                rest = data[i:]
                if rest in tags.prefixes or (named and _opens_named(rest, tags, len(rest))):
                    return i, None
        else:
            tag = data[i : end + 1]
            if tag in tags.complete or (named and _opens_named(tag, tags, len(tag) - 1)):
                return i, tag
        i = data.find("<", i + 1)
    return len(data), None


def _opens_named(text: str, tags: Tags, name_end: int) -> bool:
    """Whether ``text`` begins with a named opener followed by a plausible name, up to
    ``name_end`` (the ``>`` of a complete tag, or the end of an unfinished one)."""
    opener = tags.named_opener(text)
    if opener is None:
        return False
    start = len(opener)
    return (
        name_end - start <= NAME_LIMIT
        and text.find("<", start, name_end) < 0
        and _SPACE.search(text, start, name_end) is None
    )
