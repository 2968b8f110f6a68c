"""Detection of an unnamed model's dialect from its first tool-call opener (issue 16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glm_proxy.dialects import AUTO, create_parser, known_dialects
from glm_proxy.dialects.detect import DetectingParser, decide
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import merged, options, random_cuts

ALL = frozenset(("glm", "qwen3_coder", "hermes", "minimax", "kimi_k2", "deepseek"))
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
GLM_CALL = (
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Seoul</arg_value>\n</tool_call>"
)
DEEPSEEK = "<\uff5ctool\u2581calls\u2581begin\uff5c>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<tool_call>get_weather", ("glm", True)),
        ("<tool_call>\n<function=get_weather>", ("qwen3_coder", True)),
        ("<tool_call>\n{", ("hermes", True)),
        ("<minimax:tool_call>", ("minimax", True)),
        ("<|tool_calls_section_begin|>", ("kimi_k2", True)),
        ("<|tool_call_begin|>functions.f:0", ("kimi_k2", True)),
        (DEEPSEEK, ("deepseek", True)),
        ("<\uff5ctool calls begin\uff5c>", ("deepseek", True)),  # an R1 distill's spelling
        ("<|tool_call_section_begin|>", ("kimi_k2", True)),  # the singular spelling
        # Too short to tell: held back.
        ("<", ("", False)),
        ("<tool_c", ("", False)),
        ("<tool_call>", ("", False)),
        ("<tool_call>\n  ", ("", False)),
        ("<tool_call><func", ("", False)),
        ("<minimax:to", ("", False)),
        ("<|tool_calls", ("", False)),
        (DEEPSEEK[:4], ("", False)),
        # Not an opener.
        ("<b>bold</b>", None),
        ("<tool_calls>", None),
        ("<tool_call><div>", None),
        ("< tool_call>", None),
    ],
)
def test_decide_reads_the_opener(text: str, expected: tuple[str, bool] | None) -> None:
    assert decide(text, ALL) == expected


def test_only_registered_dialects_are_detected() -> None:
    assert decide("<tool_call>{", frozenset({"glm"})) is None
    assert decide("<minimax:tool_call>", frozenset({"glm"})) is None
    assert decide("<tool_call>get_weather", frozenset({"glm"})) == ("glm", True)


def run(pieces: list[str], tools: list[dict[str, object]] | None = None) -> list[Event]:
    parser = create_parser(options(TOOLS if tools is None else tools), AUTO)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return merged(events + parser.close())


@given(st.text(alphabet=st.sampled_from(list("abc <>/_tool{}|\n")), max_size=60), st.integers())
def test_text_without_an_opener_comes_out_as_it_went_in(text: str, seed: int) -> None:
    if "<tool_call>" in text or "<|tool_call" in text:
        return
    events = run(random_cuts(text, seed))
    assert events == ([Content(text)] if text else [])


def test_a_glm_call_is_detected_and_converted_whatever_the_cuts() -> None:
    text = "Let me check. " + GLM_CALL + " Done."
    expected = [
        Content("Let me check. "),
        ToolCallStart(0, "call_0", "get_weather"),
        ToolCallArgs(0, '{"city": "Seoul"}'),
        ToolCallEnd(0),
        Content(" Done."),
    ]
    for seed in range(30):
        assert run(random_cuts(text, seed)) == expected
    assert run(list(text)) == expected


def test_only_what_may_be_an_opener_is_held_back() -> None:
    parser = create_parser(options(TOOLS), AUTO)
    assert parser.feed("Hi <b>there</b> <tool") == [Content("Hi <b>there</b> ")]
    assert parser.feed("s>") == [Content("<tools>")]
    assert parser.feed(" and <tool_call>") == [Content(" and ")]
    assert isinstance(parser, DetectingParser)
    assert parser.dialect is None
    events = parser.feed("get_weather\n<arg_key>city</arg_key><arg_value>Seoul</arg_value>")
    assert parser.dialect == "glm"
    assert isinstance(events[0], ToolCallStart)


def test_reasoning_split_by_the_backend_passes_before_detection() -> None:
    parser = create_parser(options(TOOLS), AUTO)
    assert parser.feed_reasoning("thinking") == [Reasoning("thinking")]
    assert parser.feed("answer") == [Content("answer")]


def test_auto_is_known_beside_the_registered_dialects() -> None:
    assert "glm" in known_dialects()
    with pytest.raises(ValueError, match="auto"):
        create_parser(options(), "no-such-dialect")
