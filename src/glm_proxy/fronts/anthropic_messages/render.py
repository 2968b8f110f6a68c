"""The whole (non-streamed) answer as an Anthropic message. Pure: no I/O.

The backend's completion is read through ``backend.chunks``; its first choice goes through a
``ChoiceSession`` (the same conversion as a stream) and ``blocks.Blocks`` (the same block rules
as a stream), so the message equals what a client accumulates from the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from glm_proxy.backend.chunks import ChoiceMessage, choice_messages, usage_of
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.events import merge_events
from glm_proxy.fronts.anthropic_messages.blocks import (
    TEXT,
    THINKING_SIGNATURE,
    Blocks,
    stop_reason,
    usage_fields,
)


class _BlockList:
    """A ``blocks.Sink`` that builds the content list."""

    __slots__ = ("blocks", "texts")

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self.texts: list[str] = []

    def open(self, index: int, kind: str) -> None:
        self.texts = []

    def extend(self, index: int, kind: str, text: str) -> None:
        self.texts.append(text)

    def close(self, index: int, kind: str) -> None:
        text = "".join(self.texts)
        if kind == TEXT:
            self.blocks.append({"type": "text", "text": text})
        else:
            self.blocks.append(
                {"type": "thinking", "thinking": text, "signature": THINKING_SIGNATURE}
            )

    def tool_use(self, index: int, call_id: str, name: str, arguments: str, value: Any) -> None:
        self.blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": value})


def render_message(
    completion: Mapping[str, Any],
    plan: Plan,
    *,
    model: str,
    message_id: str,
    stop_sequences: Iterable[str] = (),
    dialects: set[str] | None = None,
) -> tuple[dict[str, Any], int]:
    """The message for a backend completion (checked by the caller to hold a choices list),
    and the number of calls converted. ``dialects``: if given, gets the name of the dialect
    whose calls were converted."""
    choices = choice_messages(completion)
    choice = next((c for c in choices if c.index == 0), None) or (
        choices[0] if choices else ChoiceMessage(0, "", None, [], None)
    )
    session = ChoiceSession(plan)
    events = session.read_whole(choice.content, choice.reasoning, choice.tool_calls)
    # ``read_whole`` gives the backend's own calls first (three events each); a backend streams
    # them after its text, and the blocks follow that order.
    own = 3 * sum(
        1
        for call in choice.tool_calls
        if isinstance(call, dict) and isinstance(call.get("function"), dict)
    )
    if own:
        events = events[own:] + events[:own]
    sink = _BlockList()
    blocks = Blocks(sink, plan.parser.id_factory)
    blocks.read(merge_events(events))
    blocks.end()
    reason, sequence = stop_reason(
        session.finish_reason(choice.finish_reason),
        blocks.tool_uses,
        choice.matched_stop,
        stop_sequences,
    )
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": sink.blocks,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_fields(usage_of(completion)),
    }
    if dialects is not None and session.converted_dialect:
        dialects.add(session.converted_dialect)
    return message, session.ended
