"""The JSON dialects' fast path for a piece inside streaming arguments (``quick_args``: Hermes'
``_in_envelope``, Kimi-K2's and DeepSeek's ``_in_args``) against the slow path (every piece
through the state readers): the same events, piece by piece, however the output is cut; and
proof that the fast path runs on a long argument."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.dialects._sections import SectionMachine
from glm_proxy.dialects._text import TextMachine
from glm_proxy.dialects.deepseek import render as deepseek
from glm_proxy.dialects.hermes import render as hermes
from glm_proxy.dialects.hermes.parser import HermesMachine
from glm_proxy.dialects.kimi_k2 import render as kimi_k2
from glm_proxy.events import Event

RENDER: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "hermes": hermes.render_call,
    "kimi_k2": kimi_k2.render_call,
    "deepseek": deepseek.render_call,
}
MACHINE: dict[str, type[TextMachine]] = {
    "hermes": HermesMachine,
    "kimi_k2": SectionMachine,
    "deepseek": SectionMachine,
}
# Every character that stops the fast path: quotes, escapes, tags, brackets, a line break.
WORDS = 'plain words, a "quoted" bit, a back\\slash, <b>tags</b>, 1 < 2, {braces} [x]\n\ttab '
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "parameters": {"properties": {"path": {"type": "string"}, "content": {}}},
        },
    }
]


def outputs(dialect: str) -> list[str]:
    render = RENDER[dialect]
    long = WORDS * (3 * HOLD_LIMIT // len(WORDS))
    call = render("write_file", {"path": "a.txt", "content": long})
    two = render("write_file", {"path": "b.txt", "content": long[:-7]})
    return [
        "Writing.\n" + call,
        "Two calls.\n" + call + "\n" + two + "\ndone",
        call[: len(call) // 2],  # cut off inside the long argument
        call.replace('"content"', '"content" oops', 1) if dialect == "hermes" else call[:-40],
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


def run(dialect: str, text: str, seed: int) -> list[list[Event]]:
    ids = iter(f"call_{n}" for n in range(100))
    parser = create_parser(ParserOptions(tools=TOOLS, id_factory=lambda: next(ids)), dialect)
    return [parser.feed(piece) for piece in pieces(text, seed)] + [parser.close()]


@pytest.mark.parametrize("dialect", sorted(RENDER))
def test_the_fast_path_gives_the_events_of_the_slow_path(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = outputs(dialect)
    seeds = [0, 1, 2, 3, 6, 11, 12, 13]
    fast = [run(dialect, text, seed) for text in texts for seed in seeds]
    monkeypatch.setattr(MACHINE[dialect], "quick_args", lambda self, text: None)
    slow = [run(dialect, text, seed) for text in texts for seed in seeds]
    assert fast == slow
    assert any(event for feeds in fast for event in feeds)


@pytest.mark.parametrize("dialect", sorted(RENDER))
def test_the_fast_path_runs_inside_a_long_argument(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = MACHINE[dialect]
    original = machine.quick_args
    taken: list[str] = []

    def counted(self: Any, text: str) -> str | None:
        fragment = original(self, text)
        if fragment is not None:
            taken.append(text)
        return fragment

    monkeypatch.setattr(machine, "quick_args", counted)
    text = outputs(dialect)[0]
    feeds = run(dialect, text, 3)
    assert sum(len(piece) for piece in taken) > HOLD_LIMIT
    args = "".join(getattr(event, "fragment", "") for feed in feeds for event in feed)
    assert json.loads(args)["content"] == WORDS * (3 * HOLD_LIMIT // len(WORDS))
