"""Plain-text chunks recognised from their bytes give exactly what decoding them gives."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from glm_proxy.chunk_template import PlainChunkTemplate, plain_text


def chunk(content: Any, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None, **extra}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "glm-4.5",
        "choices": [choice],
    }


def learnt(content: str = "Hello") -> PlainChunkTemplate:
    template = PlainChunkTemplate()
    first = chunk(content)
    template.learn(orjson.dumps(first), first)
    return template


def test_a_chunk_of_the_same_shape_is_recognised() -> None:
    template = learnt()
    index, text, shape = template.match(orjson.dumps(chunk(" world, 한국")))  # type: ignore[misc]
    assert (index, text) == (0, " world, 한국")
    assert shape == chunk("Hello")


def test_nothing_is_recognised_before_learning() -> None:
    assert PlainChunkTemplate().match(orjson.dumps(chunk("x"))) is None


def test_escapes_and_quotes_are_left_to_the_json_decoder() -> None:
    template = learnt()
    for text in ('say "hi"', "a\\b", "line\nbreak", "tab\t"):
        assert template.match(orjson.dumps(chunk(text))) is None


def test_other_fields_changing_means_no_match() -> None:
    template = learnt()
    other = chunk("x")
    other["created"] = 2
    assert template.match(orjson.dumps(other)) is None
    assert template.match(orjson.dumps(chunk("x", logprobs={"a": 1}))) is None
    assert template.match(b"[DONE]") is None


def test_only_plain_text_chunks_are_learnt() -> None:
    template = PlainChunkTemplate()
    for shape in (
        chunk("x", finish_reason="stop"),
        {**chunk("x"), "usage": {"total_tokens": 1}},
        {**chunk("x"), "choices": []},
        chunk(None),
    ):
        template.learn(orjson.dumps(shape), shape)
        assert template.match(orjson.dumps(shape)) is None
    assert plain_text(chunk("x")) == (0, "x")


def test_invalid_utf8_is_left_to_the_json_decoder() -> None:
    template = learnt("ab")
    payload = orjson.dumps(chunk("ab")).replace(b"ab", b"a\xff")
    assert template.match(payload) is None


@given(st.text(), st.text(), st.sampled_from([b"", b" ", b"\n  "]))
def test_recognised_text_equals_decoded_text(first: str, second: str, space: bytes) -> None:
    template = PlainChunkTemplate()
    # Backends differ in spacing and escaping: the shape is learnt from the bytes as sent.
    separators = (",", ":" + space.decode())
    payload = json.dumps(chunk(first), separators=separators, ensure_ascii=False).encode()
    template.learn(payload, orjson.loads(payload))
    other = json.dumps(chunk(second), separators=separators).encode()
    found = template.match(other)
    if found is not None:
        assert found[:2] == (0, orjson.loads(other)["choices"][0]["delta"]["content"])
