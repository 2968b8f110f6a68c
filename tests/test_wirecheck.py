"""The wire checker accepts a correct stream and rejects each kind of violation."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from support.wirecheck import accumulate, accumulate_choices, check_sse_bytes, check_stream

Chunk = dict[str, Any]


def chunk(choices: list[Chunk], **extra: Any) -> Chunk:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "glm-4.7",
        "choices": choices,
        **extra,
    }


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> Chunk:
    return {"index": index, "delta": fields, "finish_reason": finish}


def start(index: int, call_id: str, name: str, arguments: str = "") -> Chunk:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def more(index: int, arguments: str) -> Chunk:
    return {"index": index, "function": {"arguments": arguments}}


def good_stream() -> list[Chunk]:
    """Reasoning, text, a call with arguments in pieces, a zero-argument call, usage."""
    return [
        chunk([delta(role="assistant", reasoning_content="Think")]),
        chunk([delta(reasoning_content="ing.")]),
        chunk([delta(content="Let me ")]),
        chunk([delta(content="look.")]),
        chunk([delta(tool_calls=[start(0, "call_a", "get_weather")])]),
        chunk([delta(tool_calls=[more(0, '{"city": ')])]),
        chunk([delta(tool_calls=[more(0, '"Seoul"}')])]),
        chunk([delta(tool_calls=[start(1, "call_b", "get_time", "{}")])]),
        chunk([delta(finish="tool_calls")]),
        chunk([], usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
    ]


def test_good_stream_passes() -> None:
    check_stream(good_stream(), include_usage=True)


def test_accumulate_rebuilds_the_message() -> None:
    assert accumulate(good_stream()) == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "reasoning_content": "Thinking.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        }
    ]
    assert accumulate_choices(good_stream())[0]["finish_reason"] == "tool_calls"


def test_accumulate_keeps_choices_apart() -> None:
    stream = [
        chunk([delta(0, role="assistant", content="a"), delta(1, role="assistant", content="x")]),
        chunk([delta(1, content="y")]),
        chunk([delta(0, content="b")]),
        chunk([delta(1, finish="length"), delta(0, finish="stop")]),
    ]
    check_stream(stream)
    assert accumulate_choices(stream) == [
        {"index": 0, "message": {"role": "assistant", "content": "ab"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "xy"}, "finish_reason": "length"},
    ]


def set_in(path: tuple[Any, ...], value: Any) -> Callable[[list[Chunk]], None]:
    def mutate(stream: list[Chunk]) -> None:
        target: Any = stream
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def delete(path: tuple[Any, ...]) -> Callable[[list[Chunk]], None]:
    def mutate(stream: list[Chunk]) -> None:
        target: Any = stream
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def swap(a: int, b: int) -> Callable[[list[Chunk]], None]:
    def mutate(stream: list[Chunk]) -> None:
        stream[a], stream[b] = stream[b], stream[a]

    return mutate


def both(
    first: Callable[[list[Chunk]], None], second: Callable[[list[Chunk]], None]
) -> Callable[[list[Chunk]], None]:
    def mutate(stream: list[Chunk]) -> None:
        first(stream)
        second(stream)

    return mutate


TC = ("choices", 0, "delta", "tool_calls", 0)

VIOLATIONS: dict[str, tuple[Callable[[list[Chunk]], None], str]] = {
    "object missing": (delete((3, "object")), "object is None"),
    "wrong object": (set_in((3, "object"), "chat.completion"), "object is"),
    "id changes": (set_in((4, "id"), "chatcmpl-2"), "id 'chatcmpl-2' differs"),
    "created changes": (set_in((4, "created"), 1700000001), "created 1700000001 differs"),
    "model changes": (set_in((4, "model"), "other"), "model 'other' differs"),
    "first chunk lacks id": (delete((0, "id")), "'id' must be a str"),
    "role repeated": (set_in((2, "choices", 0, "delta", "role"), "assistant"), "role repeated"),
    "role not assistant": (set_in((0, "choices", 0, "delta", "role"), "user"), "role is 'user'"),
    "content not a string": (set_in((2, "choices", 0, "delta", "content"), 3), "content must"),
    "choice index not int": (set_in((2, "choices", 0, "index"), "0"), "not an integer"),
    "first call delta lacks id": (delete((4, *TC, "id")), "id missing"),
    "first call delta lacks name": (delete((4, *TC, "function", "name")), "name missing"),
    "first call delta lacks type": (delete((4, *TC, "type")), "type not 'function'"),
    "first call delta lacks arguments": (
        delete((4, *TC, "function", "arguments")),
        "first delta lacks arguments",
    ),
    "later delta repeats id": (set_in((5, *TC, "id"), "call_a"), "id repeated"),
    "later delta repeats type": (set_in((5, *TC, "type"), "function"), "type repeated"),
    "later delta repeats name": (set_in((5, *TC, "function", "name"), "get_weather"), "name"),
    "call delta without index": (delete((5, *TC, "index")), "without an integer index"),
    "call index is a string": (set_in((5, *TC, "index"), "0"), "without an integer index"),
    "call index is a bool": (set_in((4, *TC, "index"), False), "without an integer index"),
    "call delta without function": (delete((5, *TC, "function")), "without a function object"),
    "call indices skip one": (set_in((7, *TC, "index"), 2), "out of order"),
    "call ids repeat": (set_in((7, *TC, "id"), "call_a"), "used twice"),
    "arguments not JSON": (set_in((6, *TC, "function", "arguments"), '"Seoul"'), "not JSON"),
    "arguments not an object": (
        both(
            set_in((5, *TC, "function", "arguments"), '["x", '),
            set_in((6, *TC, "function", "arguments"), '"Seoul"]'),
        ),
        "not a JSON object",
    ),
    "zero-argument call with empty arguments": (
        set_in((7, *TC, "function", "arguments"), ""),
        "tool call 1: arguments '' are not JSON",
    ),
    "finish shares a chunk with a call delta": (
        set_in((8, "choices", 0, "delta"), {"tool_calls": [more(1, "")]}),
        "its own chunk with an empty delta",
    ),
    "finish before the last call delta": (swap(7, 8), "after this choice's finish_reason"),
    "finish stop although calls were made": (
        set_in((8, "choices", 0, "finish_reason"), "stop"),
        "produced tool calls but finish_reason is 'stop'",
    ),
    "no finish at all": (delete((8,)), "never sent finish_reason"),
    "two finishes": (
        lambda stream: stream.insert(9, copy.deepcopy(stream[8])),
        "after this choice's finish_reason",
    ),
    "usage chunk not last": (swap(8, 9), "must be the last chunk"),
    "usage chunk missing": (delete((9,)), "the last chunk must have choices []"),
    "usage chunk with choices": (
        set_in((9, "choices"), [delta(content="")]),
        "usage chunk must have choices []",
    ),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_violation_is_caught(name: str) -> None:
    mutate, message = VIOLATIONS[name]
    stream = copy.deepcopy(good_stream())
    mutate(stream)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_stream(stream, include_usage=True)


def test_a_proper_prefix_of_the_arguments_must_not_parse() -> None:
    stream = good_stream()
    stream[5]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = '{"city": 1}'
    stream[6]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = " "
    with pytest.raises(AssertionError, match="already parses as JSON"):
        check_stream(stream, include_usage=True)


def test_tool_calls_finish_without_calls_is_caught() -> None:
    stream = [chunk([delta(role="assistant", content="hi")]), chunk([delta(finish="tool_calls")])]
    with pytest.raises(AssertionError, match="without a tool call"):
        check_stream(stream)


def test_length_finish_may_follow_calls() -> None:
    stream = good_stream()
    stream[8]["choices"][0]["finish_reason"] = "length"
    check_stream(stream, include_usage=True)


def test_choices_are_checked_independently() -> None:
    stream = [
        chunk([delta(0, role="assistant", content="a"), delta(1, role="assistant")]),
        chunk([delta(1, tool_calls=[start(0, "call_x", "f", "{}")])]),
        chunk([delta(0, finish="stop")]),
        chunk([delta(1, finish="tool_calls")]),
    ]
    check_stream(stream)
    stream[2]["choices"][0]["finish_reason"] = "tool_calls"
    with pytest.raises(AssertionError, match="choice 0: finish_reason 'tool_calls' without"):
        check_stream(stream)


def test_unfinished_stream_is_allowed_when_asked() -> None:
    stream = good_stream()[:7]
    check_stream(stream, require_finish=False)
    with pytest.raises(AssertionError, match="never sent finish_reason"):
        check_stream(stream)


def sse(*payloads: Any) -> bytes:
    out = b""
    for payload in payloads:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        out += b"data: " + body + b"\n\n"
    return out


ERROR = {"error": {"message": "boom", "type": "upstream_error", "param": None, "code": None}}


def test_sse_bytes_good_stream_returns_chunks() -> None:
    raw = b": keep-alive\n\n" + sse(*good_stream(), b"[DONE]")
    assert check_sse_bytes(raw) == good_stream()


def test_sse_bytes_error_event_may_end_the_stream() -> None:
    assert check_sse_bytes(sse(good_stream()[0], ERROR)) == [good_stream()[0]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (sse(good_stream()[0]), "does not end with data: [DONE]"),
        (sse(good_stream()[0], b"[DONE]")[:-1], "does not end with a blank line"),
        (sse(b"[DONE]", good_stream()[0]), "event after data: [DONE]"),
        (sse(ERROR, b"[DONE]"), "event after the error event"),
        (sse(b"{not json", b"[DONE]"), "data is not JSON"),
        (sse(b"[1, 2]", b"[DONE]"), "not a JSON object"),
        (b"data:{}\n\n" + sse(b"[DONE]"), "not a data line"),
        (b"event: x\ndata: {}\n\n" + sse(b"[DONE]"), "expected one data line"),
        (b"data: {}\r\n\r\n" + sse(b"[DONE]"), "carriage returns"),
        (sse({"error": {"message": "boom"}}), "error.type must be a string"),
        (sse({"error": "boom"}), "error must be an object"),
    ],
)
def test_sse_bytes_violations(raw: bytes, message: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_sse_bytes(raw)
