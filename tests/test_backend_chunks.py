"""What every front reads from the backend's chunks and whole answers (backend.chunks)."""

from __future__ import annotations

from glm_proxy.backend.chunks import (
    ChoiceDelta,
    ChoiceMessage,
    backend_reasoning,
    choice_deltas,
    choice_messages,
    text_of,
    usage_of,
)
from glm_proxy.backend.sse import SSEDecoder, encode_named


def test_text_of_reads_strings_null_and_text_parts_only() -> None:
    assert text_of("hi") == "hi"
    assert text_of(None) == ""
    assert text_of([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "ab"
    assert text_of([{"type": "image_url", "image_url": {}}]) is None
    assert text_of(42) is None


def test_backend_reasoning_takes_either_field() -> None:
    assert backend_reasoning({"reasoning_content": "r"}) == "r"
    assert backend_reasoning({"reasoning": "r2"}) == "r2"
    assert backend_reasoning({"reasoning_content": "", "content": "x"}) is None


def test_choice_deltas_of_a_chunk() -> None:
    chunk = {
        "choices": [
            {"index": 0, "delta": {"content": "a", "reasoning_content": "r"}},
            {
                "index": 1,
                "delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]},
                "finish_reason": "tool_calls",
            },
            "junk",
            {"index": "x", "delta": "not an object"},
        ]
    }
    assert choice_deltas(chunk) == [
        ChoiceDelta(0, "a", "r", None, None),
        ChoiceDelta(1, None, None, [{"index": 0, "function": {"name": "f"}}], "tool_calls"),
        ChoiceDelta(0, None, None, None, None),
    ]
    assert choice_deltas({"choices": [], "usage": {"prompt_tokens": 1}}) == []
    assert choice_deltas({"object": "x"}) == []


def test_choice_messages_of_a_completion() -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"content": None, "reasoning": "think", "tool_calls": [{"id": "c"}]},
                "finish_reason": "tool_calls",
            },
            {"message": {"content": [{"type": "text", "text": "t"}]}},
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    assert choice_messages(completion) == [
        ChoiceMessage(0, "", "think", [{"id": "c"}], "tool_calls"),
        ChoiceMessage(1, "t", None, [], None),
    ]
    assert usage_of(completion) == {"prompt_tokens": 3, "completion_tokens": 4}
    assert usage_of({"usage": None}) is None


def test_encode_named_decodes_back() -> None:
    raw = encode_named("message_start", b'{"type":"message_start"}')
    assert raw == b'event: message_start\ndata: {"type":"message_start"}\n\n'
    (event,) = SSEDecoder().feed(raw)
    assert (event.event, event.data) == ("message_start", '{"type":"message_start"}')
