"""Server-sent events: an incremental decoder for the upstream's stream and encoders for ours.

Strategy of the decoder (bytes in, events out, no I/O):

- Line ends (``\\n``, ``\\r\\n``, ``\\r``) are ASCII, so cutting the input at line ends never cuts
  a UTF-8 character: field values are decoded only once their line is complete.
- ``\\r\\n`` and lone ``\\r`` are rewritten to ``\\n`` on the way in (only when the feed contains a
  ``\\r``); a feed that ends in ``\\r`` remembers to drop a ``\\n`` that starts the next feed.
- The unterminated tail of the input waits in ``_pending``; each feed searches only its own bytes
  for line ends, so the work is linear in the input however it is split.
- Every line, and every event's accumulated data, is capped (``max_line``); past it the decoder
  raises ``SSEError`` instead of growing without bound.

Fields follow the WHATWG rules: ``:`` starts a comment, one space after the colon is dropped,
several ``data`` lines join with ``\\n``, a blank line dispatches the event, an event without
``data`` is not dispatched, the ``id`` persists until the next ``id`` field. One deliberate
difference: at the end of the input (``flush``) an event that lacks its closing blank line is
still dispatched, because an upstream that ends with ``data: [DONE]\\n`` means it.
"""

from __future__ import annotations

from dataclasses import dataclass

from glm_proxy.errors import error_body

DONE = b"data: [DONE]\n\n"
"""The last event of an OpenAI stream."""

DEFAULT_MAX_LINE = 16 << 20
_BOM = b"\xef\xbb\xbf"


class SSEError(ValueError):
    """The event stream cannot be decoded (a line or an event is over the size cap)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Incremental SSE decoder: ``feed(bytes)`` returns the events completed so far."""

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_id",
        "_max_line",
        "_pending",
        "_skip_lf",
        "_start",
    )

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._max_line = max_line
        self._pending = bytearray()  # start of a line whose end has not arrived
        self._skip_lf = (
            False  # the last feed ended with "\r": a "\n" opening the next one is its pair
        )
        self._start = True  # nothing decoded yet: a leading byte-order mark is dropped
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None
        self._id: str | None = None

    @property
    def max_line(self) -> int:
        """The cap on a line, and on an event's data, in bytes."""
        return self._max_line

    @property
    def at_boundary(self) -> bool:
        """Whether the input so far ends at an event's end: no line, data or field is pending.

        Then a whole ``data: ...\\n\\n`` event that comes next means its data and nothing
        else, so a caller may read such events itself without changing what follows.
        """
        return not (
            self._start or self._pending or self._data or self._event is not None or self._skip_lf
        )

    def feed(self, data: bytes) -> list[SSEEvent]:
        # Fast path: the feed is exactly one whole ``data: ...\n\n`` event, nothing pending.
        end = data.find(b"\n")
        if (
            end == len(data) - 2
            and data[-1] == 10  # 10 is "\n"
            and data.startswith(b"data: ")
            and not self._pending
            and not self._data
            and self._event is None
            and not self._skip_lf
            and end <= self._max_line
            and b"\r" not in data
        ):
            self._start = False
            return [SSEEvent(data[6:end].decode("utf-8", "replace"), None, self._id)]
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self._skip_lf = data[-1:] == b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        if end < 0:
            self._hold(data)
            return []
        if self._pending:
            complete = bytes(self._pending) + data[:end]
            self._pending.clear()
        else:
            complete = data[:end]
        events = self._read_lines(complete)
        if end + 1 < len(data):
            self._hold(data[end + 1 :])
        return events

    def feed_payloads(self, data: bytes) -> list[bytes]:
        """Like ``feed``, but only each event's data, as bytes: the hot path of a stream.

        Whole ``data: ...`` events separated by blank lines, the usual shape of a read, are cut
        out directly; anything else goes through ``feed``.
        """
        if self._start and len(data) >= len(_BOM):  # shorter: ``feed`` waits for more
            self._start = False
            if data.startswith(_BOM):
                data = data[3:]
        if (
            self._start
            or self._pending
            or self._data
            or self._event is not None
            or self._skip_lf
            or b"\r" in data
        ):
            return [event.data.encode() for event in self.feed(data)]
        blocks = data.split(b"\n\n")
        rest = blocks.pop()
        payloads: list[bytes] = []
        max_line = self._max_line
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block and len(block) <= max_line:
                payloads.append(block[6:])
            elif block:  # comments, other fields, several lines: read them as lines
                payloads += [event.data.encode() for event in self._read_lines(block + b"\n")]
        if rest:
            payloads += [event.data.encode() for event in self.feed(rest)]
        return payloads

    def flush(self) -> list[SSEEvent]:
        """End of input: read the unterminated last line and dispatch an unfinished event."""
        events: list[SSEEvent] = []
        self._skip_lf = False
        if self._pending:
            events = self._read_lines(bytes(self._pending))
            self._pending.clear()
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _hold(self, tail: bytes) -> None:
        self._pending += tail
        if len(self._pending) > self._max_line:
            size = len(self._pending)
            self._pending.clear()
            raise SSEError(f"event-stream line of more than {size} bytes (limit {self._max_line})")

    def _read_lines(self, complete: bytes) -> list[SSEEvent]:
        """Read ``complete``: lines separated by ``\\n``, the last one terminated too."""
        if self._start:
            self._start = False
            if complete.startswith(_BOM):
                complete = complete[3:]
        events: list[SSEEvent] = []
        max_line = self._max_line
        for line in complete.split(b"\n"):
            if not line:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
                continue
            if len(line) > max_line:
                raise SSEError(f"event-stream line of {len(line)} bytes (limit {max_line})")
            if line.startswith(b"data: "):
                self._add_data(line[6:])
            elif line[0] != 58:  # 58 is ":", a comment
                self._read_field(line)
        return events

    def _read_field(self, line: bytes) -> None:
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:  # an id with NUL is ignored
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields are ignored, as the specification says.

    def _add_data(self, value: bytes) -> None:
        self._data_size += len(value) + 1
        if self._data_size > self._max_line:
            size = self._data_size
            self._data.clear()
            self._data_size = 0
            raise SSEError(f"event-stream event of more than {size} bytes (limit {self._max_line})")
        self._data.append(value.decode("utf-8", "replace"))

    def _dispatch(self) -> SSEEvent | None:
        data = self._data
        event_type = self._event
        self._event = None
        if not data:
            return None
        text = data[0] if len(data) == 1 else "\n".join(data)
        data.clear()
        self._data_size = 0
        return SSEEvent(text, event_type, self._id)


def encode_event(payload: bytes) -> bytes:
    """One ``data:`` event around an already-serialised JSON payload."""
    return b"data: " + payload + b"\n\n"


def encode_named(event: str, payload: bytes) -> bytes:
    """One named event (``event:`` line, then ``data:``), as the Anthropic and Responses
    streams send them."""
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


def encode_error(
    message: str,
    type: str = "upstream_error",
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    """An error event in the OpenAI shape, sent when a stream fails after it started."""
    return b"data: " + error_body(message, type, param, code) + b"\n\n"
