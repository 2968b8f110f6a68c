"""Malformed XML-dialect output, made of the dialects' own tags in any order: the parsers never
fail, give the same events whatever the split, and never finish a call whose arguments are not
a JSON object (the same checks as ``test_glm_properties`` makes of GLM)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glm_proxy.dialects import create_parser
from glm_proxy.events import Event
from support.parsing import check_fragments, cut, merged, options

FRAGMENTS = {
    "qwen3_coder": [
        "<tool_call>",
        "</tool_call>",
        "<function=f>",
        "<function=g x>",
        "<function=",
        "</function>",
        "<parameter=a>",
        "<parameter=b>",
        "<parameter=",
        "</parameter>",
        "<|im_end|>",
        '{"name": "f", "arguments": {"a": 1}}',
        "{",
    ],
    "minimax": [
        "<minimax:tool_call>",
        "</minimax:tool_call>",
        '<invoke name="f">',
        "<invoke name='g'>",
        "<invoke name=",
        "</invoke>",
        '<parameter name="a">',
        '<parameter name="b">',
        "<parameter name=",
        "</parameter>",
    ],
}
COMMON = ["<think>", "</think>", "\n", " ", "x", "42", '{"k": 1}', "<", ">", '"', "é"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
        },
    }
]


def feed(dialect: str, pieces: list[str], **kwargs: bool) -> list[Event]:
    parser = create_parser(options(TOOLS, **kwargs), dialect)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


@pytest.mark.parametrize("dialect", sorted(FRAGMENTS))
def test_any_sequence_of_tags_is_read_the_same_whatever_the_split(dialect: str) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(st.sampled_from(FRAGMENTS[dialect] + COMMON), max_size=30).map("".join),
        st.lists(st.integers(0, 10_000), max_size=8),
        st.booleans(),
    )
    def check(text: str, points: list[int], in_reasoning: bool) -> None:
        whole = feed(dialect, [text], starts_in_reasoning=in_reasoning)
        check_fragments(whole, cut_off=True)
        assert merged(feed(dialect, list(text), starts_in_reasoning=in_reasoning)) == merged(whole)
        pieces = cut(text, [p % (len(text) + 1) for p in points])
        split = feed(dialect, pieces, starts_in_reasoning=in_reasoning)
        assert merged(split) == merged(whole)
        check_fragments(split, cut_off=True)

    check()
