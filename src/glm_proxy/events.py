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
