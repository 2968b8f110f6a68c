"""What a front reads from the backend's chat-completion answers: pure functions, no I/O.

One owner for the backend's field names: where split-off reasoning is (``reasoning_content``,
``reasoning``), content given as text parts, the backend's own ``tool_calls``. The OpenAI chat
front keeps its byte-level fast path (``chunk_template``); the other fronts read every chunk
through ``choice_deltas`` and every whole answer through ``choice_messages``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

BACKEND_REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where backends that split reasoning off put it in a message or a delta."""


@dataclass(frozen=True, slots=True)
class ChoiceDelta:
    """One choice of a streamed chunk, as a front reads it."""

    index: int
    content: str | None
    reasoning: str | None
    tool_calls: list[Any] | None
    """The backend's own ``tool_calls`` deltas (it parsed them itself), as sent."""
    finish_reason: str | None
    matched_stop: str | None = None
    """The stop string that ended the choice, when the backend says (vLLM's ``stop_reason``)."""


@dataclass(frozen=True, slots=True)
class ChoiceMessage:
    """One choice of a whole answer, as a front reads it."""

    index: int
    content: str
    reasoning: str | None
    tool_calls: list[Any]
    finish_reason: str | None
    matched_stop: str | None = None
    """The stop string that ended the choice, when the backend says (vLLM's ``stop_reason``)."""


def text_of(content: Any) -> str | None:
    """The text of a content value: the string, ``""`` for null, the joined text of a list of
    text parts; ``None`` for any other shape."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    return None


def backend_reasoning(message: Mapping[str, Any]) -> str | None:
    """The reasoning the backend split off in a message or a delta, if any."""
    for key in BACKEND_REASONING_FIELDS:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def choice_deltas(chunk: Mapping[str, Any]) -> list[ChoiceDelta]:
    """The choices of a streamed chunk (none for a usage-only chunk). Choices or deltas that
    are not objects, and fields of other types, are read as absent."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return []
    out: list[ChoiceDelta] = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        index = choice.get("index")
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        content = delta.get("content")
        calls = delta.get("tool_calls")
        finish = choice.get("finish_reason")
        out.append(
            ChoiceDelta(
                index=index if type(index) is int else 0,
                content=(content or None) if isinstance(content, str) else text_of(content) or None,
                reasoning=backend_reasoning(delta),
                tool_calls=calls if isinstance(calls, list) and calls else None,
                finish_reason=finish if isinstance(finish, str) else None,
                matched_stop=_matched_stop(choice),
            )
        )
    return out


def choice_messages(completion: Mapping[str, Any]) -> list[ChoiceMessage]:
    """The choices of a whole completion (checked by the caller to be a list of objects with a
    ``message`` object)."""
    out: list[ChoiceMessage] = []
    choices = completion.get("choices")
    for position, choice in enumerate(choices if isinstance(choices, list) else []):
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            continue
        message = choice["message"]
        index = choice.get("index")
        calls = message.get("tool_calls")
        finish = choice.get("finish_reason")
        out.append(
            ChoiceMessage(
                index=index if type(index) is int else position,
                content=text_of(message.get("content")) or "",
                reasoning=backend_reasoning(message),
                tool_calls=calls if isinstance(calls, list) else [],
                finish_reason=finish if isinstance(finish, str) else None,
                matched_stop=_matched_stop(choice),
            )
        )
    return out


def _matched_stop(choice: Mapping[str, Any]) -> str | None:
    value = choice.get("stop_reason")
    return value if isinstance(value, str) and value else None


def usage_of(chunk: Mapping[str, Any]) -> dict[str, Any] | None:
    """The backend's ``usage`` object, when a chunk or a completion carries one."""
    usage = chunk.get("usage")
    return usage if isinstance(usage, dict) else None


def chunk_problem(chunk: dict[str, Any]) -> str | None:
    """What makes a chunk unreadable (its choices or deltas are not objects), if anything."""
    choices = chunk.get("choices")
    if choices is None:
        return None
    if not isinstance(choices, list):
        return "choices is not a list"
    for choice in choices:
        if not isinstance(choice, dict):
            return "choices hold something else than objects"
        delta = choice.get("delta")
        if delta is not None and not isinstance(delta, dict):
            return "delta is not an object"
    return None


def load_chunk(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        if payload.isascii():
            raise
        # Invalid UTF-8 from the backend is replaced, as everywhere else, not a reason to fail.
        return orjson.loads(payload.decode("utf-8", "replace"))


def show_payload(payload: bytes) -> str:
    return repr(payload[:200].decode("utf-8", "replace"))
