"""The mock's replies encoded as OpenAI chat completions: JSON body and SSE ticks."""

from __future__ import annotations

import orjson

from glm_proxy.mock.completions import (
    Envelope,
    completion_body,
    encode_pieces,
    error_body,
    split_text,
    stream_ticks,
)
from glm_proxy.mock.replies import Reply
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

REPLY = Reply(
    text='<think>a "b"</think>\nünï', finish_reason="stop", prompt_tokens=7, completion_tokens=6
)
ENVELOPE = Envelope(id="chatcmpl-x1", created=1700000000, model="glm-4.5-air", n=2)


def test_the_body_is_a_chat_completion_with_usage_for_every_choice() -> None:
    body = orjson.loads(completion_body(REPLY, ENVELOPE))
    assert body == {
        "id": "chatcmpl-x1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "glm-4.5-air",
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": REPLY.text},
                "finish_reason": "stop",
            }
            for index in (0, 1)
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19},
    }


def test_split_text_cuts_fixed_size_pieces() -> None:
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_text("", 4) == []


def test_stream_ticks_follow_the_wire_rules_and_rebuild_the_text() -> None:
    ticks = stream_ticks(REPLY, ENVELOPE, encode_pieces(REPLY.text, 3), include_usage=True)
    assert len(ticks) == 2 + len(split_text(REPLY.text, 3))
    chunks = check_sse_bytes(b"".join(ticks))
    check_stream(chunks, include_usage=True)
    assert accumulate_choices(chunks) == [
        {
            "index": index,
            "message": {"role": "assistant", "content": REPLY.text},
            "finish_reason": "stop",
        }
        for index in (0, 1)
    ]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[2:-3:2]]
    assert contents == split_text(REPLY.text, 3)
    assert chunks[-1] == {
        "id": "chatcmpl-x1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "glm-4.5-air",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19},
    }


def test_without_include_usage_no_chunk_carries_usage() -> None:
    single = Envelope(id="c", created=1, model="m")
    chunks = check_sse_bytes(b"".join(stream_ticks(REPLY, single, [], include_usage=False)))
    check_stream(chunks)
    assert all("usage" not in c for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "stop"]


def test_error_body_has_every_openai_field() -> None:
    assert orjson.loads(error_body("bad", "invalid_request_error", "messages")) == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "messages",
            "code": None,
        }
    }
