"""The whole-output reader against the state machine: the same events, event for event.

Outputs are drawn in GLM's usual shape with random whitespace between and around the tags,
then some are damaged (a tag or stray text inserted, a span deleted) so that both sides of
every check in ``read_whole`` are reached. The machine (``feed`` then ``close``) is the
reference; ``finish`` must give its events (adjacent text merged), whether it read the output
itself or not.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._typing import ToolSchemas
from glm_proxy.dialects.glm.markup import (
    CALL_CLOSE,
    CALL_OPEN,
    KEY_CLOSE,
    KEY_OPEN,
    STOP_TOKENS,
    THINK_CLOSE,
    THINK_OPEN,
    VALUE_CLOSE,
    VALUE_OPEN,
)
from glm_proxy.dialects.glm.render import render_value
from glm_proxy.dialects.glm.whole import read_whole
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import merged, options

TAGS = (
    CALL_OPEN,
    CALL_CLOSE,
    KEY_OPEN,
    KEY_CLOSE,
    VALUE_OPEN,
    VALUE_CLOSE,
    THINK_OPEN,
    THINK_CLOSE,
)
SPACES = st.sampled_from(["", "", "\n", " ", "\n\n", " \n", "\t", "\r\n", "\u2028", "\u3000\n"])
TEXT = st.text(
    st.sampled_from(list("ab z.\n\t\"'\\{}é한🌧")) | st.characters(exclude_categories=["Cs"]),
    max_size=30,
)
PLAIN = TEXT.filter(lambda text: "<" not in text)
NAMES = st.sampled_from(["get_weather", "run", "a.b-c", "x" * 257]) | st.from_regex(
    r"[A-Za-z_{][A-Za-z0-9_]{0,8}", fullmatch=True
)
KEYS = st.sampled_from(["city", "unit", "count", "", " "]) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_ ]{0,8}", fullmatch=True
)
VALUES = st.one_of(
    TEXT.filter(lambda text: VALUE_CLOSE not in text),
    st.sampled_from(["Seoul", "42", " 7 ", "true", "null", "[1, 2]", '{"a": 1}', "(1, 2)", "NaN"]),
    st.integers().map(str),
    st.lists(st.integers(), max_size=3).map(render_value),
    st.just(render_value(list(range(100)))),  # longer than the smallest cap
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}
            },
        },
    },
    {"type": "function", "function": {"name": "run", "parameters": {"properties": {}}}},
]
DAMAGE = st.sampled_from([*TAGS, *STOP_TOKENS, "<", ">", "{", "x", " ", "\n", "<tool_call>{}"])


@st.composite
def calls(draw: st.DrawFn) -> str:
    out = [CALL_OPEN, draw(SPACES), draw(NAMES), draw(SPACES)]
    for _ in range(draw(st.integers(0, 3))):
        out += [KEY_OPEN, draw(SPACES), draw(KEYS), draw(SPACES), KEY_CLOSE, draw(SPACES)]
        out += [VALUE_OPEN, draw(VALUES), VALUE_CLOSE, draw(st.sampled_from(["", "\n", " " * 300]))]
    out.append(CALL_CLOSE)
    return "".join(out)


@st.composite
def shaped(draw: st.DrawFn) -> tuple[str, bool]:
    """An output in the usual shape, and whether the prompt opened the reasoning."""
    opened = draw(st.booleans())
    out = [draw(SPACES)]
    if opened:
        out += [draw(PLAIN), draw(SPACES), THINK_CLOSE, draw(SPACES)]
    elif draw(st.booleans()):
        out += [THINK_OPEN, draw(SPACES), draw(PLAIN), draw(SPACES), THINK_CLOSE, draw(SPACES)]
    out += [draw(PLAIN), draw(SPACES)]
    for _ in range(draw(st.integers(0, 3))):
        out += [draw(calls()), draw(SPACES), draw(st.sampled_from(["", "", "ok", " done."]))]
    out.append(draw(SPACES | st.just("\n" + " " * 300)))
    return "".join(out), opened


@st.composite
def damaged(draw: st.DrawFn) -> str:
    text, _ = draw(shaped())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(DAMAGE) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
    return text


def machine(text: str, backend_reasoning: str, cut: int = 0, **kwargs: Any) -> list[Event]:
    parser = create_parser(options(**kwargs))
    events = parser.feed_reasoning(backend_reasoning) if backend_reasoning else []
    return events + parser.feed(text[:cut]) + parser.feed(text[cut:]) + parser.close()


def finished(text: str, backend_reasoning: str, cut: int = 0, **kwargs: Any) -> list[Event]:
    """``finish`` of the text from ``cut`` on, after ``feed`` of the text before it."""
    parser = create_parser(options(**kwargs))
    events = parser.feed_reasoning(backend_reasoning) if backend_reasoning else []
    return events + parser.feed(text[:cut]) + parser.finish(text[cut:])


def read(text: str, opened: bool = False, tools: list[dict[str, Any]] = TOOLS) -> Any:
    return read_whole(
        text, in_reasoning=opened, read_calls=bool(tools), schemas=ToolSchemas(tools), cap=1 << 20
    )


SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.one_of(shaped().map(lambda case: case[0]), damaged(), TEXT),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", "", "I think.", "<tool_call>run</tool_call>"]),
    st.sampled_from([1 << 20, 0, 40, 300]),
    st.sampled_from([0, 0, 1, 5, 9, 30]),
)
def test_finish_gives_the_machines_events(
    text: str, opened: bool, with_tools: bool, backend_reasoning: str, cap: int, cut: int
) -> None:
    kwargs: dict[str, Any] = {
        "tools": TOOLS if with_tools else [],
        "parse_tool_calls": with_tools,
        "starts_in_reasoning": opened,
        "max_buffer": cap,
    }
    # Merged: the machine may release at close text it held (the start of a tool name).
    assert merged(finished(text, backend_reasoning, cut, **kwargs)) == merged(
        machine(text, backend_reasoning, cut, **kwargs)
    )


@SETTINGS
@given(shaped())
def test_outputs_of_the_usual_shape_are_read_whole(case: tuple[str, bool]) -> None:
    text, opened = case
    if any(len(name) > 256 or name.startswith("{") for name in _names(text)):
        return  # not a call: the machine reads it as text
    if any(not key.strip() for key in _keys(text)) or " " * 300 in text:
        return  # a key left out or text between arguments: the machine decides
    for call in text.split(CALL_OPEN)[1:]:
        keys = [key.strip() for key in _keys(call)]
        if len(set(keys)) < len(keys):
            return  # a key written twice: the machine decides
    assert read(text, opened) is not None


def _names(text: str) -> list[str]:
    return [
        part.split(KEY_OPEN)[0].split(CALL_CLOSE)[0].strip() for part in text.split(CALL_OPEN)[1:]
    ]


def _keys(text: str) -> list[str]:
    return [part.split(KEY_CLOSE)[0] for part in text.split(KEY_OPEN)[1:]]


def test_a_usual_output_gives_reasoning_then_one_call() -> None:
    text = (
        "\n<think>Weather, then.</think>\n\nLet me check.\n<tool_call>get_weather\n"
        "<arg_key>city</arg_key>\n<arg_value>Seoul</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>\n"
    )
    assert read(text) == (
        [
            Reasoning("Weather, then."),
            Content("Let me check."),
            ("get_weather", '{"city": "Seoul", "days": 3}'),
        ],
        "\n",
    )
    assert finished(text, "", tools=TOOLS) == [
        Reasoning("Weather, then."),
        Content("Let me check."),
        ToolCallStart(0, "call_0", "get_weather"),
        ToolCallArgs(0, '{"city": "Seoul", "days": 3}'),
        ToolCallEnd(0),
        Content("\n"),
    ]


def test_text_around_empty_reasoning_is_one_event() -> None:
    assert finished(" <think> </think>\nok", "") == [Content(" ok")]


def test_other_shapes_are_left_to_the_machine() -> None:
    for text in (
        "a < b",  # a "<" in text
        "<tool_call>get_weather<arg_key>city</arg_key>Seoul</arg_value></tool_call>",
        '<tool_call>{"name": "run", "arguments": {}}</tool_call>',
        "<tool_call>get_weather\nstray<arg_key>city</arg_key><arg_value>x</arg_value></tool_call>",
        "done<|user|>",
        "<think>unfinished",
        "<tool_call>run<arg_key>a</arg_key><arg_value>1</arg_value><arg_key>a</arg_key>"
        "<arg_value>2</arg_value></tool_call>",  # a key written twice
        "<tool_call>run<arg_key>a</arg_key><arg_value>1</arg_value>",  # cut off
        "<tool_call>run<arg_key>a</arg_key><arg_value>1</arg_value><tool_call>run</tool_call>",
        "get_weather<arg_key>city</arg_key><arg_value>x</arg_value></tool_call>",  # no opener
    ):
        assert read(text) is None, text
    assert read("<tool_call>run</tool_call>", tools=[]) is None  # no tools: calls are text
