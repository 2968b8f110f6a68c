"""Recognise a stream's plain-text chunks from their bytes, without decoding their JSON.

Most chunks of a streamed answer differ from each other only in the text of
``choices[0].delta.content``: the id, model, created and every other byte stay the same. Once
one such chunk has been decoded, its bytes split into a prefix (up to the opening quote of the
content), the content, and a suffix (from the closing quote). A later event that starts with the
same prefix and ends with the same suffix, and whose middle holds no quote, no backslash and no
control character, is that same JSON document with another content string: its text is the
middle, as is. Anything else is decoded as JSON in the usual way.
"""

from __future__ import annotations

import re
from typing import Any

PlainText = tuple[int, str, dict[str, Any]]
"""A recognised chunk: (choice index, content text, the decoded chunk it has the shape of)."""

_UNSAFE = re.compile(rb'["\\\x00-\x1f]')
_PLAIN_CHOICE_FIELDS = frozenset(("index", "delta", "finish_reason", "logprobs"))
_CONTENT_KEY = b'"content"'


class PlainChunkTemplate:
    """The byte shape of the last plain-text chunk of one stream (see the module docstring)."""

    __slots__ = ("_chunk", "_index", "_prefix", "_size", "_suffix")

    def __init__(self) -> None:
        self._prefix = b""
        self._suffix = b""
        self._size = -1  # len(prefix) + len(suffix); -1: nothing learnt yet
        self._index = 0
        self._chunk: dict[str, Any] = {}

    def match(self, payload: bytes) -> PlainText | None:
        """The chunk's (index, text, shape) when ``payload`` has the learnt shape, else None."""
        size = self._size
        if (
            size < 0
            or len(payload) < size
            or not payload.startswith(self._prefix)
            or not payload.endswith(self._suffix)
        ):
            return None
        middle = payload[len(self._prefix) : len(payload) - len(self._suffix)]
        if _UNSAFE.search(middle) is not None:
            return None
        try:
            return self._index, middle.decode(), self._chunk
        except UnicodeDecodeError:
            return None

    def learn(self, payload: bytes, chunk: dict[str, Any]) -> None:
        """Take ``payload`` (decoded as ``chunk``) as the shape when it is a plain-text chunk."""
        found = plain_text(chunk)
        if found is None:
            return
        index, text = found
        encoded = text.encode()
        if _UNSAFE.search(encoded) is not None:
            return
        key = payload.find(_CONTENT_KEY)
        if key < 0 or payload.find(_CONTENT_KEY, key + 1) >= 0:
            return  # no key, or two: not a shape to rely on
        start = payload.find(b'"', key + len(_CONTENT_KEY)) + 1
        end = start + len(encoded)
        if start <= 0 or payload[start:end] != encoded or payload[end : end + 1] != b'"':
            return
        self._prefix, self._suffix = payload[:start], payload[end:]
        self._size = len(payload) - len(encoded)
        self._index, self._chunk = index, chunk


def plain_text(chunk: dict[str, Any]) -> tuple[int, str] | None:
    """(index, text) of a chunk that is one choice's content and nothing else of note."""
    if chunk.get("usage") is not None:
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if (
        type(choice) is not dict
        or not choice.keys() <= _PLAIN_CHOICE_FIELDS
        or choice.get("finish_reason") is not None
        or choice.get("logprobs") is not None
    ):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or delta.keys() != {"content"}:
        return None
    index = choice.get("index") or 0
    content = delta["content"]
    if type(content) is not str or type(index) is not int:
        return None
    return index, content
