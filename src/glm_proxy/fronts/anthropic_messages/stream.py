"""The streamed answer as Anthropic Messages events. Pure: no I/O.

``MessageStream`` implements ``streaming.FrontStream``: fed decoded backend chunks, it returns
the event bytes to send. The event order is the one the clients enforce (anthropic-format.md):
``message_start`` first (sent with the first event of any kind, pings included), then the
blocks one at a time (``content_block_start``, deltas, ``content_block_stop``, a thinking
block's ``signature_delta`` just before its stop), then ``message_delta`` (stop reason, and the
usage the backend gave with its last chunk) and ``message_stop``. A failure after the start
ends with the open block closed and one ``error`` event.

Only the backend's first choice is read (a Messages answer has one). The block rules are
``blocks.Blocks``'s, shared with the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from glm_proxy.backend.chunk_template import PlainText, first_choice_runs
from glm_proxy.backend.chunks import choice_deltas, usage_of
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.errors import ProxyError
from glm_proxy.fronts.anthropic_messages.blocks import (
    TEXT,
    THINKING_SIGNATURE,
    Blocks,
    stop_reason,
    usage_fields,
)
from glm_proxy.fronts.anthropic_messages.errors import error_event

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
QUIET_CHUNKS = 64
"""Backend chunks read without an event to send (a call being held) before a ``ping`` goes
out, so that the client sees the stream alive while a long call is written."""
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%b}}\n\n'
)
_THINKING_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"thinking_delta","thinking":%b}}\n\n'
)
_TEXT_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_THINKING_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
    b'"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n'
)
_SIGNATURE = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"signature_delta","signature":' + orjson.dumps(THINKING_SIGNATURE) + b"}}\n\n"
)
_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def event(name: str, payload: dict[str, Any]) -> bytes:
    """One named event; its ``data`` carries ``type`` = ``name``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class _Events:
    """A ``blocks.Sink`` that writes the stream's events into ``out``."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out: list[bytes] = []

    def open(self, index: int, kind: str) -> None:
        self.out.append((_TEXT_START if kind == TEXT else _THINKING_START) % index)

    def extend(self, index: int, kind: str, text: str) -> None:
        template = _TEXT_DELTA if kind == TEXT else _THINKING_DELTA
        self.out.append(template % (index, orjson.dumps(text)))

    def close(self, index: int, kind: str) -> None:
        if kind != TEXT:
            self.out.append(_SIGNATURE % index)
        self.out.append(_STOP % index)

    def tool_use(self, index: int, call_id: str, name: str, arguments: str, value: Any) -> None:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": arguments}
        self.out += (
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            ),
            event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            _STOP % index,
        )


class MessageStream:
    """One streamed Messages answer (see the module docstring)."""

    def __init__(
        self, plan: Plan, *, model: str, message_id: str, stop_sequences: Iterable[str] = ()
    ) -> None:
        self._session = ChoiceSession(plan)
        self._events = _Events()
        self._blocks = Blocks(self._events, plan.parser.id_factory)
        self._model = model
        self._id = message_id
        self._stop_sequences = tuple(stop_sequences)
        self._started = False
        self._finish: str | None = None
        self._seen_finish = False
        self._matched_stop: str | None = None
        self._usage: dict[str, Any] | None = None
        self._quiet = 0
        self.over = False
        self.tool_calls = 0
        """Calls converted so far (the access log's count)."""
        """Whether the last event (``message_stop`` or ``error``) has gone out."""

    @property
    def dialect(self) -> str | None:
        """The dialect whose calls were converted (detected, for a model no setting names)."""
        return self._session.converted_dialect

    @property
    def finished(self) -> bool:
        return self._seen_finish

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        self._read(chunk)
        return self._sent_or_ping()

    def feed_many(self, chunks: Sequence[dict[str, Any] | PlainText]) -> list[bytes]:
        """The events for the chunks of one read of the backend (decoded, or plain-text runs
        recognised from their bytes, ``chunk_template``): the same blocks as ``feed`` on each,
        but a run of text of one kind goes through the parser at once (fewer, larger deltas).
        A read counts as one chunk towards ``QUIET_CHUNKS``: its chunks came at one moment."""
        session, blocks = self._session, self._blocks
        for item in first_choice_runs(chunks):
            if type(item) is tuple:
                field, text = item
                blocks.read(session.read_text(text, field != "content"))
            else:
                assert type(item) is dict
                self._read(item)
        return self._sent_or_ping()

    def _read(self, chunk: dict[str, Any]) -> None:
        usage = usage_of(chunk)
        if usage is not None:
            self._usage = usage
        session, blocks = self._session, self._blocks
        for delta in choice_deltas(chunk):
            if delta.index != 0:
                continue
            if delta.content or delta.reasoning:
                blocks.read(session.read(delta.content, delta.reasoning))
            if delta.tool_calls:
                blocks.read(session.backend_events(delta.tool_calls))
            if delta.finish_reason is not None:
                self._seen_finish = True
                self._finish = delta.finish_reason
                self._matched_stop = delta.matched_stop

    def _sent_or_ping(self) -> list[bytes]:
        """The events read so far; a ``ping`` after ``QUIET_CHUNKS`` reads of a held call
        without any."""
        out = self._taken()
        if out:
            self._quiet = 0
        elif self._blocks.holding_calls:
            self._quiet += 1
            if self._quiet >= QUIET_CHUNKS:
                self._quiet = 0
                return self._with_start([PING])
        return out

    def end(self) -> list[bytes]:
        self._blocks.read(self._session.close())
        self._blocks.end()
        out = self._taken()
        reason, sequence = stop_reason(
            self._session.finish_reason(self._finish),
            self._blocks.tool_uses,
            self._matched_stop,
            self._stop_sequences,
        )
        usage = usage_fields(self._usage)
        out.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": usage,
                },
            )
        )
        out.append(MESSAGE_STOP)
        self.over = True
        return self._with_start(out)

    def fail(self, error: ProxyError) -> list[bytes]:
        # What the parser held is sent before the error: no text is lost.
        self._blocks.read(self._session.close())
        self._blocks.end()
        out = self._taken()
        out.append(error_event(error))
        self.over = True
        return self._with_start(out) if out[:-1] else out

    def ping(self) -> bytes | None:
        return b"".join(self._with_start([PING]))

    def _taken(self) -> list[bytes]:
        self.tool_calls = self._session.ended
        out = self._events.out
        if not out:
            return out
        self._events.out = []
        return self._with_start(out)

    def _with_start(self, out: list[bytes]) -> list[bytes]:
        if self._started:
            return out
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Backends give the usage with their last chunk, as a rule: the final message_delta
            # carries it then.
            "usage": {**usage_fields(self._usage), "output_tokens": 0},
        }
        return [event("message_start", {"type": "message_start", "message": message}), *out]
