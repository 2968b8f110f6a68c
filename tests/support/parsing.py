"""Helpers to drive a dialect parser the ways the tests need: whole, per character, in pieces."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from glm_proxy.conversion.message import assemble_message
from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.events import Event, ToolCallArgs, ToolCallEnd, ToolCallStart, merge_events


def counting_ids() -> Callable[[], str]:
    """Call ids ``call_0``, ``call_1``, ... so that runs can be compared with ``==``."""
    numbers = itertools.count()
    return lambda: f"call_{next(numbers)}"


def options(tools: Sequence[Mapping[str, Any]] = (), **kwargs: Any) -> ParserOptions:
    return ParserOptions(tools=tools, id_factory=counting_ids(), **kwargs)


def feed_pieces(
    pieces: Iterable[str], tools: Sequence[Mapping[str, Any]] = (), **kwargs: Any
) -> list[Event]:
    """Feed the pieces to a fresh parser and return every event, unmerged."""
    parser = create_parser(options(tools, **kwargs))
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return events


def cut(text: str, points: Iterable[int]) -> list[str]:
    bounds = [0, *sorted(set(points)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def random_cuts(text: str, seed: int, max_cuts: int = 12) -> list[str]:
    rng = random.Random(seed)
    if len(text) < 2:
        return [text]
    count = rng.randint(1, min(max_cuts, len(text) - 1))
    return cut(text, rng.sample(range(1, len(text)), count))


def message_of(events: list[Event]) -> dict[str, Any]:
    return assemble_message(events)


def merged(events: list[Event]) -> list[Event]:
    return merge_events(events)


def check_fragments(events: list[Event], *, cut_off: bool = False) -> None:
    """Per call: the fragments of a call that ended concatenate to a JSON object, and no proper
    prefix of them parses; a call that never ended (only when the output was ``cut_off``) has
    fragments that do not parse at all, as OpenAI leaves a call that ``max_tokens`` cut."""
    fragments: dict[int, list[str]] = {}
    ended: list[int] = []
    for event in events:
        if isinstance(event, ToolCallStart):
            assert event.index not in fragments, f"call {event.index} started twice"
            assert event.index == len(fragments), "calls are numbered 0, 1, 2, ..."
            fragments[event.index] = []
        elif isinstance(event, ToolCallArgs):
            assert event.index in fragments, "arguments before the call started"
            assert event.index not in ended, "arguments after the call ended"
            fragments[event.index].append(event.fragment)
        elif isinstance(event, ToolCallEnd):
            assert event.index in fragments, "an end before the call started"
            assert event.index not in ended, "a call ended twice"
            ended.append(event.index)
    unended = sorted(set(fragments) - set(ended))
    assert not unended or cut_off, f"calls {unended} never ended"
    for index, parts in fragments.items():
        for k in range(1, len(parts)):
            prefix = "".join(parts[:k])
            assert not _parses(prefix), f"call {index}: prefix {prefix!r} parses as JSON"
        text = "".join(parts)
        if index in ended:
            assert isinstance(json.loads(text), dict), f"call {index}: {text!r} is not an object"
        else:
            assert not _parses(text), f"call {index} was cut off, yet {text!r} parses"


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def read_output(
    dialect: str, raw: str, tools: Sequence[Mapping[str, Any]] = (), **kwargs: Any
) -> dict[str, Any]:
    """The message that ``dialect`` reads from ``raw``, after checking that feeding it whole,
    one character at a time, at random split points and through ``finish`` all agree."""

    def run(pieces: Iterable[str]) -> list[Event]:
        parser = create_parser(options(tools, **kwargs), dialect)
        events: list[Event] = []
        for piece in pieces:
            events += parser.feed(piece)
        return events + parser.close()

    whole = run([raw])
    check_fragments(whole, cut_off=True)
    assert merged(run(list(raw))) == merged(whole)
    for seed in range(5):
        assert merged(run(random_cuts(raw, seed))) == merged(whole)
    assert merged(create_parser(options(tools, **kwargs), dialect).finish(raw)) == merged(whole)
    return message_of(whole)


def calls_in(message: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(name, arguments decoded)`` of each call of a message."""
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or ()
    ]


def tool(name: str, **properties: str) -> dict[str, Any]:
    """A tool of the request, its properties given as ``key="type"``."""
    schema = {key: {"type": kind} for key, kind in properties.items()}
    return {"type": "function", "function": {"name": name, "parameters": {"properties": schema}}}
