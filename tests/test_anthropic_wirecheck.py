"""The Anthropic stream checker catches each broken rule (a checker that passes everything
would make every stream test meaningless)."""

from __future__ import annotations

from typing import Any

import pytest

from support.anthropic_wirecheck import check_stream, parse_events

START = (
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 0},
        },
    },
)
TEXT_START = (
    "content_block_start",
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
)
TEXT = (
    "content_block_delta",
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
)
STOP = ("content_block_stop", {"type": "content_block_stop", "index": 0})
DELTA = (
    "message_delta",
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 1},
    },
)
END = ("message_stop", {"type": "message_stop"})
THINK_START = (
    "content_block_start",
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
)
THINK = (
    "content_block_delta",
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hm"},
    },
)
TOOL_START = (
    "content_block_start",
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    },
)

Events = list[tuple[str, dict[str, Any]]]


def test_a_good_stream_passes() -> None:
    check_stream([START, TEXT_START, TEXT, STOP, DELTA, END])


@pytest.mark.parametrize(
    ("events", "rule"),
    [
        ([TEXT_START, TEXT, STOP, DELTA, END], "first event must be message_start"),
        ([START, TEXT, STOP, DELTA, END], "before its content_block_start"),
        ([START, TEXT_START, TEXT, DELTA, END], "still open"),
        ([START, TEXT_START, TEXT, STOP, TEXT_START, TEXT, STOP, DELTA, END], "expected 1"),
        ([START, TEXT_START, STOP, DELTA, END], "empty text block"),
        ([START, THINK_START, THINK, STOP, DELTA, END], "without its signature_delta"),
        ([START, TEXT_START, TEXT, STOP, DELTA], "does not end with message_stop"),
        ([START, TOOL_START, STOP, DELTA, END], "tool_use blocks, but end_turn"),
        ([START, TEXT_START, TEXT, STOP, END], "message_stop before message_delta"),
    ],
)
def test_a_broken_rule_is_named(events: Events, rule: str) -> None:
    with pytest.raises(AssertionError, match=rule):
        check_stream(events)


def test_an_event_without_its_event_line_is_refused() -> None:
    with pytest.raises(AssertionError, match="not two lines"):
        parse_events(b'data: {"type": "ping"}\n\n')
    with pytest.raises(AssertionError, match="not the event name"):
        parse_events(b'event: ping\ndata: {"type": "message_stop"}\n\n')
