"""Recognise a stream's plain-text chunks from their bytes, without decoding their JSON.

Most chunks of a streamed answer differ from each other only in the text of
``choices[0].delta.content`` (or, from a backend that splits reasoning off, of
``delta.reasoning_content`` or ``delta.reasoning`` while the model reasons): the id, model,
created and every other byte stay the same. Once one such chunk has been decoded, its bytes
split into a prefix (up to the opening quote of the text), the text, and a suffix (from the
closing quote). A later event whose data starts with the same prefix and ends with the same
suffix, and whose middle is a JSON string's body, is that same JSON document with another text.
Anything else is decoded as JSON in the usual way.

Strategy for a whole read from the backend (``PlainChunkTemplate.read``): the read is cut at
every ``suffix + "\\n\\ndata: " + prefix``, the end of one such event and the start of the next.
That separator holds raw line ends, which cannot occur inside a JSON string nor inside one SSE
line, so every piece between two separators that holds no line end is the middle of one whole
``data:`` event. One regex over the joined middles finds whether any holds a quote, a backslash
or a control character; usually none does, and the run of middles is one text, decoded once.
A middle with escapes is decoded as a JSON string on its own; anything else (line ends, invalid
JSON or UTF-8) is given back as the event's data for the usual path. The bytes before the first
separator and after the last go through the SSE decoder unless they are plainly one such event
too, so the decoder's state (a line cut across reads, a multi-line event, a ``\\r``) is never
bypassed: a read with a ``\\r`` anywhere is left to the decoder whole.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Sequence
from typing import Any

import orjson

from glm_proxy.backend.sse import SSEDecoder

PlainText = tuple[int, str, dict[str, Any]]
"""A recognised chunk (or a run of them, its text joined): (choice index, text, the decoded
chunk it has the shape of, whose delta names the field of the text)."""
TEXT_FIELDS = frozenset(("content", "reasoning_content", "reasoning"))
"""The delta fields of a plain-text chunk: the answer's text, or its reasoning."""

_UNSAFE = re.compile(rb'["\\\x00-\x1f]')
_PLAIN_CHOICE_FIELDS = frozenset(("index", "delta", "finish_reason", "logprobs"))
_LONG_READ = 16_384
"""Reads from this size on are split in two steps (``_split``): faster from here, measured."""


class PlainChunkTemplate:
    """The byte shape of the last plain-text chunk of one stream (see the module docstring)."""

    __slots__ = (
        "_chunk",
        "_end",
        "_event_break",
        "_index",
        "_line",
        "_prefix",
        "_separator",
        "_size",
        "_suffix",
    )

    def __init__(self) -> None:
        self._prefix = b""
        self._suffix = b""
        self._size = -1  # len(prefix) + len(suffix); -1: nothing learnt yet
        self._index = 0
        self._chunk: dict[str, Any] = {}
        self._line = b""  # b"data: " + prefix: how such an event starts
        self._end = b""  # suffix + b"\n\n": how it ends
        self._separator = b""  # the end of one such event and the start of the next
        self._event_break = b""  # the end of one such event and the start of any next one

    @property
    def learnt(self) -> bool:
        """Whether a shape has been learnt (``read`` recognises nothing before)."""
        return self._size >= 0

    def read(self, data: bytes, decoder: SSEDecoder) -> list[bytes | PlainText]:
        """The events of one read from the backend, in order: runs of chunks of the learnt shape
        recognised (one ``PlainText`` per run), the data of every other event as bytes.

        The same as ``decoder.feed_payloads(data)`` with ``match`` on each payload, but in one
        pass over the read (see the module docstring); ``decoder`` reads what is not recognised.
        """
        line = self._line
        if self._size < 0 or b"\r" in data or len(data) > decoder.max_line:
            return list(decoder.feed_payloads(data))  # (no line of ``data`` is over the cap)
        end = self._end
        out: list[bytes | PlainText] = []
        pieces = self._split(data)
        if len(pieces) == 1:  # no two such events in a row: one (a paced stream), or none
            if (
                decoder.at_boundary
                and len(data) >= len(line) + len(end)
                and data.startswith(line)
                and data.endswith(end)
                and data.find(b"\n") == len(data) - 2
            ):
                self._texts([data[len(line) : -len(end)]], decoder, out)
                return out
            return list(decoder.feed_payloads(data))
        first = pieces[0]
        if decoder.at_boundary and first.startswith(line) and b"\n" not in first:
            pieces[0] = first[len(line) :]
        else:  # what comes before the first separator is the decoder's to read
            out += decoder.feed_payloads(data[: len(first) + len(end)])
            del pieces[0]
        last = pieces[-1]
        if last.endswith(end) and last.find(b"\n") == len(last) - 2:
            pieces[-1] = last[: -len(end)]
            self._texts(pieces, decoder, out)
        else:  # the last event is cut by the end of the read, or other events follow it
            del pieces[-1]
            self._texts(pieces, decoder, out)
            out += decoder.feed_payloads(line + last)
        return out

    def _split(self, data: bytes) -> list[bytes]:
        """``data.split(separator)``: cut at the end of every event of the shape that another
        one follows, up to that one's content.

        A long read is split at the end of each event and ``data: `` only, keeping the pieces
        that go on with the prefix: the same pieces. (In data of 2,500 bytes or more, CPython's
        ``bytes.split`` prepares a separator of 100 bytes or more again at every occurrence,
        and the prefix alone is often longer: 2x slower for a 32 KB read, measured.)
        """
        if len(data) < _LONG_READ:
            return data.split(self._separator)
        event_break = self._event_break
        parts = data.split(event_break)
        prefix = self._prefix
        # C loops (map) rather than a comprehension: a third less time, measured.
        fits = list(map(bytes.startswith, parts, itertools.repeat(prefix)))
        pieces = list(map(operator.itemgetter(slice(len(prefix), None)), parts))
        pieces[0] = parts[0]
        at = _index(fits, False, 1)
        if at < 0:
            return pieces
        # Another kind of event follows where a part does not fit (few: the first and last
        # events of a stream): the piece before it goes on through that event.
        joined = pieces[:at]
        while at >= 0:
            joined[-1] += event_break + parts[at]
            after = _index(fits, False, at + 1)
            joined += pieces[at + 1 : after if after >= 0 else None]
            at = after
        return joined

    def _texts(
        self, middles: list[bytes], decoder: SSEDecoder, out: list[bytes | PlainText]
    ) -> None:
        """The events whose data is prefix + middle + suffix, for each of ``middles``."""
        if not middles:
            return
        joined = b"".join(middles)
        unsafe = _UNSAFE.search(joined)
        if unsafe is None:
            if joined.isascii():
                out.append((self._index, joined.decode("ascii"), self._chunk))
                return
            try:  # each on its own: a character cut between two chunks is not one
                text = "".join([middle.decode() for middle in middles])
            except UnicodeDecodeError:
                pass
            else:
                out.append((self._index, text, self._chunk))
                return
        elif joined.isascii():
            self._ascii_texts(middles, joined, unsafe, decoder, out)
            return
        texts: list[str] = []
        for middle in middles:
            found = self._text(middle)
            if found is not None:
                texts.append(found)
            else:
                texts = self._not_text(middle, texts, decoder, out)
        if texts:
            out.append((self._index, "".join(texts), self._chunk))

    def _ascii_texts(
        self,
        middles: list[bytes],
        joined: bytes,
        unsafe: re.Match[bytes] | None,
        decoder: SSEDecoder,
        out: list[bytes | PlainText],
    ) -> None:
        """``_texts`` of ASCII middles, ``unsafe`` the first escape or quote in them: each
        middle that holds one is decoded on its own, the runs between them at once."""
        ends = list(itertools.accumulate(map(len, middles)))
        texts: list[str] = []
        start = 0  # the first middle not read yet
        while unsafe is not None:
            at = bisect.bisect_right(ends, unsafe.start())  # the middle it is in
            if at > start:
                texts.append(joined[ends[start - 1] if start else 0 : ends[at - 1]].decode())
            middle = middles[at]
            found = self._text(middle)
            if found is not None:
                texts.append(found)
            else:
                texts = self._not_text(middle, texts, decoder, out)
            start = at + 1
            unsafe = _UNSAFE.search(joined, ends[at])
        if start < len(middles):
            texts.append(joined[ends[start - 1] if start else 0 :].decode())
        if texts:
            out.append((self._index, "".join(texts), self._chunk))

    def _not_text(
        self, middle: bytes, texts: list[str], decoder: SSEDecoder, out: list[bytes | PlainText]
    ) -> list[str]:
        """A middle that is not a JSON string's body: the text before it goes out, then the
        event as data for the usual path. Returns the (new, empty) list of texts."""
        if texts:
            out.append((self._index, "".join(texts), self._chunk))
        if b"\n" in middle:  # several lines: the decoder reads them (it is at an event's end)
            out += decoder.feed_payloads(self._line + middle + self._end)
        else:
            out.append(self._prefix + middle + self._suffix)
        return []

    def _text(self, middle: bytes) -> str | None:
        """The content a middle stands for, or None when it is not a JSON string's body."""
        if _UNSAFE.search(middle) is None:
            try:
                return middle.decode()
            except UnicodeDecodeError:
                return None
        if b"\n" in middle:
            return None
        try:  # escapes: a quote that is not escaped makes the document invalid
            text = orjson.loads(b'"' + middle + b'"')
        except orjson.JSONDecodeError:
            return None
        return text if type(text) is str else None

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
        index, field, text = found
        encoded = text.encode()
        if _UNSAFE.search(encoded) is not None:
            return
        name = b'"' + field.encode() + b'"'
        key = payload.find(name)
        if key < 0 or payload.find(name, key + 1) >= 0:
            return  # no key, or two: not a shape to rely on
        start = payload.find(b'"', key + len(name)) + 1
        end = start + len(encoded)
        if start <= 0 or payload[start:end] != encoded or payload[end : end + 1] != b'"':
            return
        self._prefix, self._suffix = payload[:start], payload[end:]
        self._size = len(payload) - len(encoded)
        self._index, self._chunk = index, chunk
        self._line = b"data: " + self._prefix
        self._end = self._suffix + b"\n\n"
        self._separator = self._end + self._line
        self._event_break = self._end + b"data: "


def _index(items: list[Any], value: object, start: int) -> int:
    """``items.index(value, start)``, or -1."""
    try:
        return items.index(value, start)
    except ValueError:
        return -1


def chunk_of(item: dict[str, Any] | PlainText) -> dict[str, Any]:
    """A recognised plain-text chunk (or run) as the chunk it stands for; a chunk as it is."""
    if isinstance(item, dict):
        return item
    _index, text, shape = item
    choice: dict[str, Any] = shape["choices"][0]
    (field,) = choice["delta"]  # the shape's one text field
    return {**shape, "choices": [{**choice, "delta": {field: text}}]}


def first_choice_runs(
    items: Sequence[dict[str, Any] | PlainText],
) -> list[tuple[str, str] | dict[str, Any]]:
    """The chunks of one read (decoded, or recognised by ``PlainChunkTemplate``) for a front
    that reads the first choice only: each run of plain-text chunks of choice 0 with one text
    field as (field, its text joined), every other chunk as it is, in order."""
    out: list[tuple[str, str] | dict[str, Any]] = []
    run: list[str] = []
    run_field = ""
    for item in items:
        if type(item) is tuple:
            index, text, shape = item
            found = plain_text(shape)
            if found is None or index != 0:
                item = chunk_of(item)
            else:
                field = found[1]
        if type(item) is dict:
            found = plain_text(item)
            if found is None or found[0] != 0:
                if run:
                    out.append((run_field, "".join(run)))
                    run = []
                out.append(item)
                continue
            _, field, text = found
        if run and field != run_field:
            out.append((run_field, "".join(run)))
            run = []
        run_field = field
        run.append(text)
    if run:
        out.append((run_field, "".join(run)))
    return out


def plain_text(chunk: dict[str, Any]) -> tuple[int, str, str] | None:
    """(index, field, text) of a chunk that is one choice's text in one of ``TEXT_FIELDS`` of
    its delta, and nothing else of note."""
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
    if type(delta) is not dict or len(delta) != 1:
        return None
    ((field, text),) = delta.items()
    index = choice.get("index") or 0
    if field not in TEXT_FIELDS or type(text) is not str or type(index) is not int:
        return None
    return index, field, text
