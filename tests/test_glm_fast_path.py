"""The GLM machine's fast path for a piece inside a value (``_quick_value``, next to
``_in_value``) against the slow path (every piece through the state handlers): the same events,
piece by piece, however the output is cut; and proof that the fast path runs on a long value."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.dialects.glm import parser as glm_parser
from glm_proxy.dialects.glm.render import render_call
from glm_proxy.events import Event

Machine: Any = glm_parser._Machine
# Every character that matters in a value: markup-like text, quotes, escapes, control chars.
WORDS = 'plain words, a "quoted" bit, a back\\slash, <b>tags</b>, 1 < 2, </arg_value> x\n\ttab '
LONG = WORDS * (3 * HOLD_LIMIT // len(WORDS))
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "parameters": {
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"},
                    "n": {"type": "integer"},
                }
            },
        },
    }
]


def outputs() -> list[str]:
    call = render_call("write_file", {"path": "a.txt", "content": LONG, "n": 3}, "4.5")
    tight = render_call("write_file", {"content": LONG[:-9], "path": "b.txt"}, "4.7")
    untyped = call.replace("write_file", "other_tool")  # no schema: values held, then typed
    return [
        "Writing.\n" + call,
        "Two calls.\n" + call + tight + "\ndone",
        call[: len(call) // 2],  # cut off inside the long value
        untyped,
        "<think>plan</think>" + tight,
    ]


def pieces(text: str, seed: int) -> list[str]:
    if seed < 8:
        return [text[i : i + seed + 1] for i in range(0, len(text), seed + 1)]
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        step = rng.randint(1, 40)
        out.append(text[i : i + step])
        i += step
    return out


def run(text: str, seed: int) -> list[list[Event]]:
    ids = iter(f"call_{n}" for n in range(100))
    parser = create_parser(ParserOptions(tools=TOOLS, id_factory=lambda: next(ids)), "glm")
    return [parser.feed(piece) for piece in pieces(text, seed)] + [parser.close()]


def test_the_fast_path_gives_the_events_of_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = [0, 1, 2, 3, 6, 11, 12, 13]
    fast = [run(text, seed) for text in outputs() for seed in seeds]

    def slow_way(self: Any, text: str) -> list[Event]:
        self._process(text)
        events: list[Event] = self._take()
        return events

    monkeypatch.setattr(Machine, "_quick_value", slow_way)
    slow = [run(text, seed) for text in outputs() for seed in seeds]
    assert fast == slow
    assert any(event for feeds in fast for event in feeds)


def test_the_fast_path_runs_inside_a_long_value(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Machine._quick_value
    taken: list[str] = []

    def counted(self: Any, text: str) -> list[Event]:
        taken.append(text)
        events: list[Event] = original(self, text)
        return events

    monkeypatch.setattr(Machine, "_quick_value", counted)
    feeds = run(outputs()[0], 3)
    assert sum(len(piece) for piece in taken) > HOLD_LIMIT
    args = "".join(getattr(event, "fragment", "") for feed in feeds for event in feed)
    assert json.loads(args) == {"path": "a.txt", "content": LONG, "n": 3}
