"""Events that a dialect parser emits while it reads a model's output.

A parser is fed text and returns a list of these; an empty list means "need more".
Adjacent ``Content`` (or ``Reasoning``) events may be merged without changing meaning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Content:
    """Plain assistant text."""

    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Reasoning text (what the model wrote inside ``<think>``)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A tool call begins; its name is complete."""

    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArgs:
    """A fragment of the call's arguments as JSON text.

    The fragments of one call concatenate to a JSON object; no prefix of them parses as JSON
    before the call's ``ToolCallEnd``.
    """

    index: int
    fragment: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """The call ``index`` is complete."""

    index: int


Event = Content | Reasoning | ToolCallStart | ToolCallArgs | ToolCallEnd


def merge_events(events: list[Event]) -> list[Event]:
    """Merge adjacent text of one kind and adjacent fragments of one call."""
    merged: list[Event] = []
    run: list[str] = []
    previous: Event | None = None
    for event in events:
        if previous is not None and type(event) is type(previous):
            if isinstance(event, (Content, Reasoning)):
                run.append(event.text)
                continue
            if isinstance(event, ToolCallArgs) and event.index == previous.index:  # type: ignore[union-attr]
                run.append(event.fragment)
                continue
        if previous is not None:
            merged.append(_extended(previous, run))
        previous, run = event, []
    if previous is not None:
        merged.append(_extended(previous, run))
    return merged


def _extended(event: Event, more: list[str]) -> Event:
    if not more:
        return event
    if isinstance(event, Content):
        return Content(event.text + "".join(more))
    if isinstance(event, Reasoning):
        return Reasoning(event.text + "".join(more))
    assert isinstance(event, ToolCallArgs)
    return ToolCallArgs(event.index, event.fragment + "".join(more))
