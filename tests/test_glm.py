"""The GLM dialect: a table of outputs with the exact message the proxy returns for each.

Every case is also fed one character at a time and at 100 seeded random split points: the merged
events must be identical to feeding it whole, and the argument fragments must be valid JSON
only at the end of each call.
"""

from __future__ import annotations

import json

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.events import Content, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.glm_cases import CASES, TOOLS, WEATHER_45, Case, call, msg
from support.parsing import (
    check_fragments,
    feed_pieces,
    merged,
    message_of,
    options,
    random_cuts,
)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_whole_output_gives_exact_message(case: Case) -> None:
    events = feed_pieces([case.text], TOOLS, **case.kwargs)
    assert message_of(events) == case.expected
    check_fragments(events, cut_off=case.cut_off)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_whole_output_read_at_once_gives_exact_message(case: Case) -> None:
    """``finish``, the non-streamed path (``whole.read_whole`` where the shape allows)."""
    parser = create_parser(options(TOOLS, **case.kwargs))
    assert message_of(parser.finish(case.text)) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_any_split_gives_the_same_events(case: Case) -> None:
    whole = merged(feed_pieces([case.text], TOOLS, **case.kwargs))
    per_char = feed_pieces(list(case.text), TOOLS, **case.kwargs)
    assert merged(per_char) == whole
    check_fragments(per_char, cut_off=case.cut_off)
    for seed in range(100):
        pieces = random_cuts(case.text, seed)
        events = feed_pieces(pieces, TOOLS, **case.kwargs)
        assert merged(events) == whole, f"seed {seed}: {pieces!r}"
        check_fragments(events, cut_off=case.cut_off)


def test_short_arguments_go_out_whole_when_the_call_ends() -> None:
    parser = create_parser(options(TOOLS))
    assert parser.feed("<tool_call>search<arg_key>query</arg_key><arg_value>how ") == [
        ToolCallStart(0, "call_0", "search"),
    ]
    assert parser.feed('many "days"</arg_value>') == []
    assert parser.feed("</tool_call>") == [
        ToolCallArgs(0, '{"query": "how many \\"days\\""}'),
        ToolCallEnd(0),
    ]


def test_long_string_values_stream_as_they_arrive() -> None:
    parser = create_parser(options(TOOLS))
    head = "<tool_call>typed<arg_key>n</arg_key><arg_value>7</arg_value><arg_key>s</arg_key>"
    a = "a" * (HOLD_LIMIT - 1)  # with the "7": as much as is held
    assert parser.feed(head + "<arg_value>" + a) == [ToolCallStart(0, "call_0", "typed")]
    assert parser.feed('b"') == [ToolCallArgs(0, '{"n": 7, "s": "' + a + 'b\\"')]
    assert parser.feed("c") == [ToolCallArgs(0, "c")]
    assert parser.feed("</arg_value>") == []  # is it the closer? the next tag will tell
    assert parser.feed("<arg_key>s</arg_key><arg_value>d") == [
        ToolCallArgs(0, '", "s": "d'),
    ]
    assert parser.feed("</arg_value></tool_call>") == [ToolCallArgs(0, '"}'), ToolCallEnd(0)]


def test_a_key_repeated_after_the_arguments_streamed_is_written_again() -> None:
    text = (
        "<tool_call>typed<arg_key>s</arg_key><arg_value>" + "a" * (HOLD_LIMIT + 1)
        + "</arg_value><arg_key>s</arg_key><arg_value>b</arg_value></tool_call>"
    )  # fmt: skip
    events = feed_pieces([text], TOOLS)
    check_fragments(events)
    arguments = message_of(events)["tool_calls"][0]["function"]["arguments"]
    assert arguments == '{"s": "' + "a" * (HOLD_LIMIT + 1) + '", "s": "b"}'
    assert json.loads(arguments) == {"s": "b"}  # what JSON readers make of it


def test_non_string_values_wait_for_the_end_of_the_call() -> None:
    parser = create_parser(options(TOOLS))
    assert parser.feed("<tool_call>get_weather<arg_key>days</arg_key><arg_value>1") == [
        ToolCallStart(0, "call_0", "get_weather")
    ]
    assert parser.feed("0</arg_value>") == []
    assert parser.feed("</tool_call>") == [ToolCallArgs(0, '{"days": 10}'), ToolCallEnd(0)]


def test_a_cut_off_call_stays_announced_and_unended() -> None:
    parser = create_parser(options(TOOLS))
    events = parser.feed("<tool_call>search<arg_key>query</arg_key><arg_value>ca")
    assert events == [ToolCallStart(0, "call_0", "search")]
    assert parser.close() == [
        Content("<tool_call>search<arg_key>query</arg_key><arg_value>ca"),
    ]


def test_names_only_when_complete() -> None:
    parser = create_parser(options(TOOLS))
    assert parser.feed("<tool_call>get_wea") == []
    assert parser.feed("ther</tool_call>") == [
        ToolCallStart(0, "call_0", "get_weather"),
        ToolCallArgs(0, "{}"),
        ToolCallEnd(0),
    ]


def test_only_a_possible_tag_prefix_is_held_back() -> None:
    parser = create_parser(options())
    assert parser.feed("Hello <b") == [Content("Hello <b")]
    assert parser.feed("> and <tool_") == [Content("> and ")]
    assert parser.feed("x>") == [Content("<tool_x>")]
    assert parser.feed("line\n") == [Content("line")]  # a line break waits: a call may follow
    assert parser.feed("next") == [Content("\nnext")]
    assert parser.feed("<thi") == []
    assert parser.feed("nk>deep") == [Reasoning("deep")]


def test_the_beginning_of_a_tool_name_waits_for_what_follows() -> None:
    parser = create_parser(options(TOOLS))
    assert parser.feed("Let me get_wea") == [Content("Let me ")]
    assert parser.feed("ther") == []
    assert parser.feed(" now") == [Content("get_weather now")]
    assert parser.feed("search\n") == []
    assert parser.feed("<arg_key>query</arg_key><arg_value>x</arg_value></tool_call>") == [
        ToolCallStart(0, "call_0", "search"),
        ToolCallArgs(0, '{"query": "x"}'),
        ToolCallEnd(0),
    ]


def test_without_tools_text_goes_out_at_once() -> None:
    parser = create_parser(options())
    assert parser.feed("get_wea") == [Content("get_wea")]


def test_text_without_markup_goes_out_at_once() -> None:
    parser = create_parser(options(TOOLS))
    assert parser.feed("The answer is 42.") == [Content("The answer is 42.")]


def test_content_after_backend_reasoning_is_not_reasoning() -> None:
    """GLM-4.7 output starts inside the reasoning, unless the backend split it off."""
    parser = create_parser(options(TOOLS, starts_in_reasoning=True))
    events = parser.feed_reasoning("I should check.")
    events += parser.feed("Sure, checking now.<tool_call>get_time</tool_call>")
    events += parser.close()
    assert message_of(events) == msg(
        "Sure, checking now.", [call("get_time", "{}")], "I should check."
    )


def test_content_after_backend_reasoning_read_whole() -> None:
    parser = create_parser(options(starts_in_reasoning=True))
    events = parser.feed_reasoning("Easy.") + parser.finish("The answer is 4.")
    assert message_of(events) == msg("The answer is 4.", None, "Easy.")


def test_reasoning_split_off_by_the_backend_keeps_calls() -> None:
    parser = create_parser(options(TOOLS))
    events = parser.feed_reasoning("I need the time.\n<tool_call>get_time</tool_call> then answer")
    events += parser.feed("It is noon.")
    events += parser.close()
    assert message_of(events) == msg(
        "It is noon.", [call("get_time", "{}")], "I need the time. then answer"
    )


def test_calls_in_reasoning_and_content_are_numbered_together() -> None:
    parser = create_parser(options(TOOLS))
    events = parser.feed_reasoning("<tool_call>a</tool_call>")
    events += parser.feed("<tool_call>b</tool_call>")
    events += parser.close()
    assert [e.index for e in events if isinstance(e, ToolCallStart)] == [0, 1]


def test_arguments_are_json_of_the_declared_types() -> None:
    events = feed_pieces([WEATHER_45], TOOLS)
    arguments = message_of(events)["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"location": "Seoul", "days": 3}


def test_unknown_dialect_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'nope'"):
        create_parser(options(), dialect="nope")
