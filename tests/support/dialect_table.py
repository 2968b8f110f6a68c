"""A dialect's table of real outputs, each with the message the proxy must make of it.

Each case is checked four ways: fed whole, one character at a time, at random split points and
through ``finish`` (the non-streamed path); all must give the expected message, and the streamed
ways the same events. Then once more through the conversion core every front runs
(``ChoiceSession``): streamed pieces and the whole answer give the same events and the same
finish_reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from glm_proxy.conversion.plan import plan_for
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.dialects import create_parser
from glm_proxy.events import Event
from support.parsing import (
    check_fragments,
    counting_ids,
    merged,
    message_of,
    options,
    random_cuts,
)


def tool(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": properties}},
    }


STRING: Mapping[str, Any] = {"type": "string"}


@dataclass(frozen=True)
class Case:
    id: str
    output: str
    calls: list[tuple[str, dict[str, Any]]]
    """The calls the message must hold: name and decoded arguments."""
    content: str | None
    reasoning: str | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    cut_off: bool = False
    """The output ends inside a call (one may be announced and never ended)."""


def feed(dialect: str, case: Case, pieces: list[str]) -> list[Event]:
    parser = create_parser(options(case.tools, **case.options), dialect)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def summary(message: dict[str, Any]) -> tuple[Any, ...]:
    calls = [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or ()
    ]
    return calls, message["content"], message.get("reasoning_content")


def check_case(dialect: str, case: Case) -> None:
    whole = feed(dialect, case, [case.output])
    expected = (case.calls, case.content, case.reasoning)
    assert summary(message_of(whole)) == expected
    check_fragments(whole, cut_off=case.cut_off)
    parser = create_parser(options(case.tools, **case.options), dialect)
    assert message_of(parser.finish(case.output)) == message_of(whole)
    per_char = feed(dialect, case, list(case.output))
    assert merged(per_char) == merged(whole)
    for seed in range(40):
        pieces = random_cuts(case.output, seed)
        events = feed(dialect, case, pieces)
        assert merged(events) == merged(whole), f"seed {seed}: {pieces!r}"
        check_fragments(events, cut_off=case.cut_off)
    check_session(dialect, case)


def check_session(dialect: str, case: Case) -> None:
    def session() -> ChoiceSession:
        plan = plan_for(
            {"tools": list(case.tools)},
            starts_in_reasoning=bool(case.options.get("starts_in_reasoning")),
            dialect=dialect,
            id_factory=counting_ids(),
        )
        return ChoiceSession(plan)

    streamed = session()
    events: list[Event] = []
    for piece in random_cuts(case.output, 7):
        events += streamed.read(piece)
    events += streamed.close()
    whole = session()
    assert merged(events) == merged(whole.read_whole(case.output))
    reason = "length" if case.cut_off else "stop"
    assert streamed.finish_reason(reason) == whole.finish_reason(reason)
    if case.calls and not case.cut_off:
        assert streamed.finish_reason("stop") == "tool_calls"
