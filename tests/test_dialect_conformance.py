"""The guarantees every dialect gives, checked the same way for each (issue 16).

A dialect is a parser (``glm_proxy.dialects.create_parser(options, NAME)``) and a renderer
(``glm_proxy.dialects.NAME.render``: ``render_output(content, calls, reasoning)`` and
``render_call(name, arguments)``, the inverse of the parser, as the model's own chat template
writes calls). Random calls are rendered, and the parser must:

- give them back exactly (names, arguments typed by the schema where the format writes values
  as text), with the text around them and the reasoning in ``<think>`` split off;
- give the same events fed whole, one character at a time and at random split points;
- give the same message through ``finish`` (the non-streamed path) as through ``feed``;
- never let markup reach the content, holding back only what may still be a tag;
- for an output cut at any point, announce no call whose arguments parse unless the call's end
  was read (glm-format.md 4.8);
- stream a long string argument in pieces as it arrives, where the format allows;
- do work linear in the output: counted as Python line events (deterministic, unlike a clock),
  10x the output costs about 10x, never 100x. Work inside C functions (a ``str.find`` over a
  growing buffer) is not counted that way: the bench (``python -m bench.parser``) times each
  dialect on outputs of 10 KB to 1 MB.

Each dialect's own quirks, with the sources they come from, are in its own test module.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.dialects.deepseek.markup import SECTION_OPEN_VARIANTS as DEEPSEEK_VARIANTS
from glm_proxy.dialects.deepseek.markup import STOP_TOKENS as DEEPSEEK_STOP_TOKENS
from glm_proxy.dialects.glm.markup import STOP_TOKENS as GLM_STOP_TOKENS
from glm_proxy.dialects.hermes.parser import STOP_TOKENS as HERMES_STOP_TOKENS
from glm_proxy.dialects.kimi_k2.markup import SECTION_VARIANTS as KIMI_VARIANTS
from glm_proxy.dialects.kimi_k2.markup import STOP_TOKENS as KIMI_STOP_TOKENS
from glm_proxy.events import Content, Event, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import check_fragments, cut, merged, message_of, options


@dataclass(frozen=True)
class Dialect:
    name: str
    markup: tuple[str, ...]
    """Text that must never reach the content when calls are read."""
    typed: bool = True
    """Values are written as text and typed by the schema (a string "42" vs the number 42)."""
    render: tuple[tuple[str, Any], ...] = ()
    """Keyword arguments of the renderer (a style)."""
    module: str = ""
    """The dialect's folder, when the name says more (a style); the name by default."""
    optional_closer: str = ""
    """The end of a rendered call that the call does not need: it is complete without it."""
    numbered: bool = False
    """``render_call`` takes the call's ``index`` (Kimi-K2 writes it in the call's id)."""

    @property
    def parser(self) -> str:
        return self.module or self.name


DEEPSEEK_MARKUP = (
    "<\uff5ctool\u2581calls\u2581begin\uff5c>",
    "<\uff5ctool\u2581calls\u2581end\uff5c>",
    "<\uff5ctool\u2581call\u2581begin\uff5c>",
    "<\uff5ctool\u2581sep\uff5c>",
    "<\uff5ctool\u2581call\u2581end\uff5c>",
    "<think>",
    "</think>",
    *DEEPSEEK_STOP_TOKENS,
    *DEEPSEEK_VARIANTS,
)
DIALECTS = [
    Dialect(
        "glm",
        (
            "<tool_call>",
            "</tool_call>",
            "<arg_key>",
            "</arg_key>",
            "<arg_value>",
            "</arg_value>",
            "<think>",
            "</think>",
            *GLM_STOP_TOKENS,
        ),
    ),
    Dialect(
        "qwen3_coder",
        (
            "<tool_call>",
            "</tool_call>",
            "<function=",
            "</function>",
            "<parameter=",
            "</parameter>",
            "<think>",
            "</think>",
        ),
    ),
    Dialect(
        "minimax",
        (
            "<minimax:tool_call>",
            "</minimax:tool_call>",
            "<invoke name=",
            "</invoke>",
            "<parameter name=",
            "</parameter>",
            "<think>",
            "</think>",
        ),
    ),
    Dialect(
        "hermes",
        ("<tool_call>", "</tool_call>", "<think>", "</think>", *HERMES_STOP_TOKENS),
        typed=False,
        optional_closer="\n</tool_call>",
    ),
    Dialect(
        "kimi_k2",
        (
            "<|tool_calls_section_begin|>",
            "<|tool_calls_section_end|>",
            "<|tool_call_begin|>",
            "<|tool_call_argument_begin|>",
            "<|tool_call_end|>",
            "<think>",
            "</think>",
            *KIMI_STOP_TOKENS,
            *KIMI_VARIANTS,
        ),
        typed=False,
        numbered=True,
    ),
    Dialect("deepseek", DEEPSEEK_MARKUP, typed=False),
    Dialect(
        "deepseek-v3", DEEPSEEK_MARKUP, typed=False, render=(("style", "v3"),), module="deepseek"
    ),
]
IDS = [dialect.name for dialect in DIALECTS]

Render = Callable[..., str]


def renderer(dialect: Dialect) -> Render:
    module = importlib.import_module(f"glm_proxy.dialects.{dialect.parser}.render")
    return functools.partial(module.render_output, **dict(dialect.render))


def call_writer(dialect: Dialect) -> Render:
    """``render_call(name, arguments)``: one call as the output writes it."""
    module = importlib.import_module(f"glm_proxy.dialects.{dialect.parser}.render")
    return functools.partial(module.render_call, **dict(dialect.render))


ALPHABET = st.sampled_from(list("ab z<>/\"'\\\n\t{}[]:,.é한🌧_=&")) | st.characters(
    exclude_categories=["Cs"]
)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
prose = st.text(ALPHABET, max_size=30).map(str.strip)
values = st.one_of(
    st.text(ALPHABET, max_size=40),
    st.integers(-1000, 10**9),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 9), max_size=3),
    st.sampled_from(["42", "true", "001", "null", "[1, 2]", '{"a": 1}']),
)
SCHEMA_TYPES = {bool: "boolean", int: "integer", list: "array", type(None): "null", str: "string"}


def clean(dialect: Dialect, text: str) -> bool:
    return not any(token in text for token in dialect.markup)


def schema_for(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    properties = {key: {"type": SCHEMA_TYPES[type(v)]} for key, v in arguments.items()}
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"properties": properties}},
    }


@st.composite
def outputs(
    draw: st.DrawFn, dialect: Dialect
) -> tuple[str, list[tuple[str, dict[str, Any]]], str, list[dict[str, Any]]]:
    """(raw output, its calls, its content, the request's tools) for ``dialect``."""
    count = draw(st.integers(0, 3))
    calls: list[tuple[str, dict[str, Any]]] = []
    tools: dict[str, dict[str, Any]] = {}
    for _ in range(count):
        name = draw(names)
        arguments = draw(st.dictionaries(keys, values, max_size=3))
        arguments = {
            k: v for k, v in arguments.items() if clean(dialect, json.dumps(v, ensure_ascii=False))
        }
        known = tools.setdefault(name, {})
        for key, value in list(arguments.items()):  # one schema per name
            if key in known and type(known[key]) is not type(value):
                arguments[key] = known[key]
            known.setdefault(key, arguments[key])
        calls.append((name, arguments))
    content = draw(prose.filter(lambda text: clean(dialect, text)))
    raw = renderer(dialect)(content, calls)
    return raw, calls, content, [schema_for(n, a) for n, a in tools.items()]


def feed(
    dialect: Dialect, pieces: list[str], tools: list[dict[str, Any]], **kwargs: Any
) -> list[Event]:
    parser = create_parser(options(tools, **kwargs), dialect.parser)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def calls_of(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or ()
    ]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_calls_come_back_exactly_whatever_the_split(dialect: Dialect) -> None:
    @SETTINGS
    @given(outputs(dialect), st.lists(st.integers(0, 10_000), max_size=12))
    def check(case: Any, points: list[int]) -> None:
        raw, calls, content, tools = case
        whole = feed(dialect, [raw], tools)
        message = message_of(whole)
        assert calls_of(message) == [(name, arguments) for name, arguments in calls]
        assert (message["content"] or "").strip() == content.strip()
        check_fragments(whole)
        per_char = feed(dialect, list(raw), tools)
        assert merged(per_char) == merged(whole)
        split = feed(dialect, cut(raw, [p % (len(raw) + 1) for p in points]), tools)
        assert merged(split) == merged(whole)
        check_fragments(split)
        parser = create_parser(options(tools), dialect.parser)
        assert message_of(parser.finish(raw)) == message

    check()


# Pieces that malformed outputs are made of, besides each dialect's own markup.
JUNK = ['{"name": "f", "arguments": ', "{", "}", '"', "\\", '"a"', ": ", ", ", "[", "]", "\n", " "]
JUNK += ["x", "<", "f", "functions.f:0", "function", "```json\n", "```", "'", "<arg_key>", "a"]


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_any_output_gives_the_same_events_whatever_the_split(dialect: Dialect) -> None:
    """Malformed outputs too: no crash, and the same events whole, per character, at random
    splits and through ``finish``; a call that never ended has arguments that do not parse."""
    tools = [schema_for("f", {"a": 1})]

    @SETTINGS
    @given(
        st.lists(st.sampled_from([*dialect.markup, *JUNK]), max_size=30),
        st.lists(st.integers(0, 10_000), max_size=8),
        st.booleans(),
    )
    def check(parts: list[str], points: list[int], in_reasoning: bool) -> None:
        raw = "".join(parts)
        whole = feed(dialect, [raw], tools, starts_in_reasoning=in_reasoning)
        check_fragments(whole, cut_off=True)
        per_char = feed(dialect, list(raw), tools, starts_in_reasoning=in_reasoning)
        assert merged(per_char) == merged(whole)
        pieces = cut(raw, [p % (len(raw) + 1) for p in points])
        split = feed(dialect, pieces, tools, starts_in_reasoning=in_reasoning)
        assert merged(split) == merged(whole)
        parser = create_parser(options(tools, starts_in_reasoning=in_reasoning), dialect.parser)
        assert merged(parser.finish(raw)) == merged(whole)

    check()


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_markup_never_reaches_the_content(dialect: Dialect) -> None:
    @SETTINGS
    @given(outputs(dialect), st.lists(st.integers(0, 10_000), max_size=12))
    def check(case: Any, points: list[int]) -> None:
        raw, _, _, tools = case
        events = feed(dialect, cut(raw, [p % (len(raw) + 1) for p in points]), tools)
        text = "".join(event.text for event in events if isinstance(event, Content))
        assert clean(dialect, text), text

    check()


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_a_cut_off_call_is_never_a_finished_call(dialect: Dialect) -> None:
    @SETTINGS
    @given(outputs(dialect), st.integers(0, 10_000))
    def check(case: Any, at: int) -> None:
        raw, calls, _, tools = case
        at %= len(raw) + 1
        events = feed(dialect, [raw[:at]], tools)
        check_fragments(events, cut_off=True)  # a call never ended has arguments that do not parse
        found = calls_of(message_of(events))
        # The calls found are the output's first ones, each read to its end.
        assert found == [(name, arguments) for name, arguments in calls[: len(found)]]
        ends, start = [], 0
        for index, (name, arguments) in enumerate(calls):
            numbered = {"index": index} if dialect.numbered else {}
            written = call_writer(dialect)(name, arguments, **numbered)
            start = raw.index(written, start) + len(written)
            ends.append(start - len(dialect.optional_closer))
        assert len(found) == sum(end <= at for end in ends)

    check()


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_reasoning_in_think_is_split_off(dialect: Dialect) -> None:
    raw = renderer(dialect)("The answer.", [], reasoning="Let me think.")
    message = message_of(feed(dialect, list(raw), []))
    assert message["reasoning_content"].strip() == "Let me think."
    assert message["content"].strip() == "The answer."


@pytest.mark.parametrize(
    "dialect", [d for d in DIALECTS if d.typed], ids=[d.name for d in DIALECTS if d.typed]
)
def test_values_are_typed_by_the_schema(dialect: Dialect) -> None:
    schema = {"properties": {"s": {"type": "string"}, "n": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    raw = renderer(dialect)("", [("f", {"s": "42", "n": 42})])
    assert calls_of(message_of(feed(dialect, [raw], tools))) == [("f", {"s": "42", "n": 42})]
    untyped = calls_of(message_of(feed(dialect, [raw], [])))
    assert untyped == [("f", {"s": 42, "n": 42})]  # no schema: JSON first


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_a_long_string_argument_streams_as_it_arrives(dialect: Dialect) -> None:
    schema = {"properties": {"content": {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "write", "parameters": schema}}]
    text = "line of a file\n" * (3 * HOLD_LIMIT // 15)
    raw = renderer(dialect)("", [("write", {"content": text})])
    parser = create_parser(options(tools), dialect.parser)
    before_end: list[str] = []
    ended = False
    for start in range(0, len(raw), 16):
        for event in parser.feed(raw[start : start + 16]):
            ended = ended or isinstance(event, ToolCallEnd)
            if isinstance(event, ToolCallArgs) and not ended:
                before_end.append(event.fragment)
    parser.close()
    assert len(before_end) > 10, "the argument did not stream"
    assert len("".join(before_end)) > len(text) // 2


def line_events(run: Callable[[], object]) -> int:
    """Python line events while ``run`` runs: a deterministic count of the work done."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_work_is_linear_in_the_output(dialect: Dialect) -> None:
    schema = {"properties": {"path": {"type": "string"}, "content": {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "write", "parameters": schema}}]
    render = renderer(dialect)

    def output(size: int) -> str:
        body = "the quick brown fox <b>jumps</b> 1 < 2\n" * (size // 40)
        calls = [("write", {"path": f"f{n}", "content": body[: size // 10]}) for n in range(5)]
        return render(body[: size // 2], calls)

    def work(size: int) -> int:
        raw = output(size)
        pieces = [raw[i : i + 4] for i in range(0, len(raw), 4)]

        def run() -> None:
            parser = create_parser(options(tools), dialect.parser)
            for piece in pieces:
                parser.feed(piece)
            parser.close()

        return line_events(run)

    small, large = work(10_000), work(100_000)
    assert large < 15 * small, f"10x the output took {large / small:.1f}x the work"


@pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)
def test_a_plain_text_output_is_passed_through(dialect: Dialect) -> None:
    text = "Just text, with <b>tags</b> and 1 < 2."
    for pieces in ([text], list(text)):
        events = feed(dialect, pieces, [])
        assert merged(events) == [Content(text)]
    assert not any(isinstance(e, ToolCallStart) for e in feed(dialect, [text], []))
