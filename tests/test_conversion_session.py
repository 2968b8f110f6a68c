"""``ChoiceSession``: one choice converted, its calls numbered, its finish_reason decided."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from glm_proxy.conversion.plan import plan_for, thinking_disabled
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.events import Content, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import counting_ids, merged

TOOLS = [
    {"type": "function", "function": {"name": "a", "parameters": {"properties": {}}}},
    {"type": "function", "function": {"name": "b", "parameters": {"properties": {}}}},
]
TWO_CALLS = "Text.<tool_call>a</tool_call><tool_call>b</tool_call>After."


def session(**extra: Any) -> ChoiceSession:
    plan = plan_for({"tools": TOOLS, **extra}, starts_in_reasoning=False)
    return ChoiceSession(replace(plan, parser=replace(plan.parser, id_factory=counting_ids())))


def test_text_passes_and_calls_are_counted() -> None:
    s = session()
    events = s.read(TWO_CALLS) + s.close()
    assert merged(events) == [
        Content("Text."),
        ToolCallStart(0, "call_0", "a"),
        ToolCallArgs(0, "{}"),
        ToolCallEnd(0),
        ToolCallStart(1, "call_1", "b"),
        ToolCallArgs(1, "{}"),
        ToolCallEnd(1),
        Content("After."),
    ]
    assert (s.started, s.ended, s.cut_off) == (2, 2, False)
    assert s.finish_reason("stop") == "tool_calls"
    assert s.finish_reason("length") == "length"


def test_reasoning_comes_before_the_content_of_the_same_piece() -> None:
    s = session()
    assert s.read("answer", reasoning="thought") == [Reasoning("thought"), Content("answer")]


def test_a_cut_off_call_keeps_the_backends_finish_reason() -> None:
    s = session()
    s.read("<tool_call>a</tool_call><tool_call>b<arg_key>k</arg_key><arg_value>v")
    s.close()
    assert (s.started, s.ended, s.cut_off) == (2, 1, True)
    assert s.finish_reason("stop") == "stop"


def test_no_calls_keep_the_backends_finish_reason() -> None:
    s = session()
    s.read("Just text.")
    s.close()
    assert s.finish_reason("stop") == "stop"
    assert s.finish_reason(None) is None


def test_first_call_only_drops_the_rest_but_keeps_reasoning() -> None:
    s = session(parallel_tool_calls=False)
    events = s.read(TWO_CALLS) + s.read("more", reasoning="still thinking") + s.close()
    assert merged(events) == [
        Content("Text."),
        ToolCallStart(0, "call_0", "a"),
        ToolCallArgs(0, "{}"),
        ToolCallEnd(0),
        Reasoning("still thinking"),
    ]
    assert s.ended == 1


@pytest.mark.parametrize("backend_first", [True, False])
def test_backend_calls_and_parser_calls_share_one_numbering(backend_first: bool) -> None:
    s = session()
    first = {"index": 0, "id": "call_b", "type": "function", "function": {"name": "gf"}}
    if backend_first:
        backend = s.backend_events([first, {"index": 0, "function": {"arguments": "{}"}}])
        parsed = s.read("<tool_call>a</tool_call>")
    else:
        parsed = s.read("<tool_call>a</tool_call>")
        backend = s.backend_events([first, {"index": 0, "function": {"arguments": "{}"}}])
    closing = s.close()
    backend_index, parser_index = (0, 1) if backend_first else (1, 0)
    assert backend == [
        ToolCallStart(backend_index, "call_b", "gf"),
        ToolCallArgs(backend_index, "{}"),
    ]
    assert [e.index for e in parsed if not isinstance(e, (Content, Reasoning))] == [
        parser_index
    ] * 3
    assert closing == [ToolCallEnd(backend_index)]
    assert s.ended == 1  # the backend's own call is not counted as converted


def test_backend_call_renumbers_a_passed_on_delta() -> None:
    s = session()
    s.read("<tool_call>a</tool_call>")
    assert s.backend_call(0) == 1
    assert s.backend_call(0) == 1
    assert s.backend_call(1) == 2
    assert [e.index for e in s.read("<tool_call>b</tool_call>") if hasattr(e, "index")] == [3] * 3


def test_read_whole_puts_the_backends_calls_first() -> None:
    s = session()
    backend = [{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    events = s.read_whole("See <tool_call>a</tool_call>", "hm", backend)
    assert merged(events) == [
        ToolCallStart(0, "call_x", "f"),
        ToolCallArgs(0, "{}"),
        ToolCallEnd(0),
        Reasoning("hm"),
        Content("See "),
        ToolCallStart(1, "call_0", "a"),
        ToolCallArgs(1, "{}"),
        ToolCallEnd(1),
    ]
    assert s.ended == 1


@pytest.mark.parametrize(
    ("body", "disabled"),
    [
        ({}, False),
        ({"chat_template_kwargs": {"enable_thinking": False}}, True),
        ({"chat_template_kwargs": {"enable_thinking": True}}, False),
        ({"chat_template_kwargs": "no"}, False),
        ({"thinking": {"type": "disabled"}}, True),
        ({"thinking": {"type": "enabled"}}, False),
        ({"reasoning_effort": "none"}, True),
        ({"reasoning_effort": "low"}, False),
    ],
)
def test_thinking_turned_off(body: dict[str, Any], disabled: bool) -> None:
    assert thinking_disabled(body) is disabled
    assert plan_for(body, starts_in_reasoning=True).parser.starts_in_reasoning is not disabled


def test_a_backend_call_is_announced_when_its_name_comes() -> None:
    s = session()
    events = s.backend_events([{"index": 0, "id": "call_x", "function": {"arguments": ""}}])
    assert events == []  # no name yet: nothing to announce
    events += s.backend_events([{"index": 0, "function": {"name": "a", "arguments": '{"k"'}}])
    events += s.backend_events([{"index": 0, "function": {"arguments": ": 1}"}}])
    events += s.close()
    assert events == [
        ToolCallStart(0, "call_x", "a"),
        ToolCallArgs(0, '{"k"'),
        ToolCallArgs(0, ": 1}"),
        ToolCallEnd(0),
    ]


def test_a_backend_call_cut_off_is_not_ended() -> None:
    s = session()
    events = s.backend_events(
        [{"index": 0, "id": "call_x", "function": {"name": "a", "arguments": '{"path": "/tm'}}]
    )
    events += s.close()
    assert events == [ToolCallStart(0, "call_x", "a"), ToolCallArgs(0, '{"path": "/tm')]


def test_a_backend_call_never_named_is_not_lost() -> None:
    s = session()
    events = s.backend_events([{"index": 0, "id": "call_x", "function": {"arguments": "{}"}}])
    events += s.close()
    assert events == [ToolCallStart(0, "call_x", ""), ToolCallArgs(0, "{}"), ToolCallEnd(0)]
