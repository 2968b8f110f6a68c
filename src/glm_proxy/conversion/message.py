"""Assemble parser events into an OpenAI assistant message (the non-streaming result).

Non-streaming responses are built from the same events as streams, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart


def assemble_message(
    events: Iterable[Event], reasoning_field: str = "reasoning_content"
) -> dict[str, Any]:
    """Build ``{"role", "content", reasoning_field?, "tool_calls"?}`` from a whole event list.

    A call that never ended (the output was cut off inside it) is not a call: the parser has
    returned its markup as content.
    """
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    arguments: dict[int, list[str]] = {}
    ended: list[int] = []
    for event in events:
        if isinstance(event, Content):
            content.append(event.text)
        elif isinstance(event, Reasoning):
            reasoning.append(event.text)
        elif isinstance(event, ToolCallStart):
            calls[event.index] = {
                "id": event.id,
                "type": "function",
                "function": {"name": event.name},
            }
            arguments[event.index] = []
        elif isinstance(event, ToolCallArgs):
            arguments[event.index].append(event.fragment)
        elif isinstance(event, ToolCallEnd):
            ended.append(event.index)
    finished = []
    for index in sorted(ended):
        call = calls[index]
        call["function"]["arguments"] = "".join(arguments[index]) or "{}"
        finished.append(call)
    text: str | None = "".join(content)
    if finished and not (text or "").strip():
        text = None
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message[reasoning_field] = "".join(reasoning)
    if finished:
        message["tool_calls"] = finished
    return message


def parse_events(
    text: str, options: ParserOptions, reasoning: str | None = None, dialect: str = "glm"
) -> list[Event]:
    """Run one parser over a whole output (and reasoning the backend split off, if any)."""
    parser = create_parser(options, dialect)
    events: list[Event] = []
    if reasoning:
        events += parser.feed_reasoning(reasoning)
    events += parser.finish(text)
    return events


def parse_message(
    text: str,
    options: ParserOptions,
    reasoning: str | None = None,
    dialect: str = "glm",
    reasoning_field: str = "reasoning_content",
) -> dict[str, Any]:
    """The assistant message the proxy returns for a whole raw model output."""
    return assemble_message(parse_events(text, options, reasoning, dialect), reasoning_field)
