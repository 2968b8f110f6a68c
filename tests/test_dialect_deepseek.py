# ruff: noqa: RUF001  (DeepSeek's tokens are written with U+FF5C, not ASCII bars)
"""DeepSeek dialect (V3, R1, V3.1): outputs gathered from the peers' test suites and from public
issues, each with its source. Every case is also fed per character, at random splits and
through ``finish`` (``read_output``), which must agree.

Where we differ from a peer on purpose, the case says so: text after the calls is kept, and
what is not a call leaves its text without the special tokens (vLLM keeps the tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.events import Reasoning, ToolCallStart
from support.parsing import calls_in, message_of, options, read_output

DIALECT = "deepseek"
SB = "<｜tool▁calls▁begin｜>"
SE = "<｜tool▁calls▁end｜>"
CB = "<｜tool▁call▁begin｜>"
SEP = "<｜tool▁sep｜>"
CE = "<｜tool▁call▁end｜>"
EOS = "<｜end▁of▁sentence｜>"


def v31(name: str, arguments: str) -> str:
    return f"{CB}{name}{SEP}{arguments}{CE}"


def v3(name: str, arguments: str) -> str:
    return f"{CB}function{SEP}{name}\n```json\n{arguments}\n```{CE}"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    raw: str
    calls: list[tuple[str, Any]]
    content: str | None
    reasoning: str | None = None
    arguments: tuple[str, ...] = ()
    """The arguments text of each call, exactly, where the case pins it."""


V31 = "vLLM tests/tool_parsers/test_deepseekv31_tool_parser.py"
V3 = "vLLM tests/tool_parsers/test_deepseekv3_tool_parser.py"

CASES = [
    Case(
        "V3.1: one call after text, arguments passed on as written",
        f"{V31} (test_extract_tool_calls_with_tool)",
        "normal text" + SB + v31("foo", '{"x":1}') + SE,
        [("foo", {"x": 1})],
        "normal text",
        arguments=('{"x":1}',),
    ),
    Case(
        "V3.1: two calls, text after them kept (vLLM keeps only the prefix)",
        f"{V31} (test_extract_tool_calls_with_multiple_tools)",
        "some prefix text" + SB + v31("foo", '{"x":1}') + v31("bar", '{"y":2}') + SE + " suffix",
        [("foo", {"x": 1}), ("bar", {"y": 2})],
        "some prefix text suffix",
    ),
    Case(
        "V3.1: cut off after the section's opener: no call, text kept",
        f"{V31} (test_extract_tool_calls_unparsable_block, cut off)",
        "Let me look that up." + SB + "get_weather",
        [],
        "Let me look that up.get_weather",
    ),
    Case(
        "V3.1: the call's own tokens missing: no call",
        f"{V31} (test_extract_tool_calls_unparsable_block, markers missing)",
        SB + "foo" + SEP + '{"x":1}' + SE,
        [],
        'foo{"x":1}',
    ),
    Case(
        "V3: one call, the arguments in a json fence",
        f"{V3} (single_tool_call_output)",
        SB + v3("get_weather", '{"city": "Tokyo", "unit": "celsius"}') + SE,
        [("get_weather", {"city": "Tokyo", "unit": "celsius"})],
        None,
        arguments=('{"city": "Tokyo", "unit": "celsius"}',),
    ),
    Case(
        "V3: parallel calls",
        f"{V3} (parallel_tool_calls_output)",
        SB
        + v3("get_weather", '{"city": "Tokyo", "unit": "celsius"}')
        + v3("search_hotels", '{"location": "Tokyo", "check_in": "2025-01-15"}')
        + SE,
        [
            ("get_weather", {"city": "Tokyo", "unit": "celsius"}),
            ("search_hotels", {"location": "Tokyo", "check_in": "2025-01-15"}),
        ],
        None,
    ),
    Case(
        "V3: every JSON type",
        f"{V3} (various_data_types_output)",
        SB
        + v3(
            "test_function",
            '{"string_field": "hello", "int_field": 42, "float_field": 3.14, '
            '"bool_field": true, "null_field": null, "array_field": ["a", "b", "c"], '
            '"object_field": {"nested": "value"}, "empty_array": [], "empty_object": {}}',
        )
        + SE,
        [
            (
                "test_function",
                {
                    "string_field": "hello",
                    "int_field": 42,
                    "float_field": 3.14,
                    "bool_field": True,
                    "null_field": None,
                    "array_field": ["a", "b", "c"],
                    "object_field": {"nested": "value"},
                    "empty_array": [],
                    "empty_object": {},
                },
            )
        ],
        None,
    ),
    Case(
        "V3: empty arguments",
        f"{V3} (empty_arguments_output)",
        SB + v3("get_current_time", "{}") + SE,
        [("get_current_time", {})],
        None,
    ),
    Case(
        "V3: escaped strings",
        f"{V3} (escaped_strings_output)",
        SB
        + v3(
            "send_message",
            '{"text": "He said \\"hello\\"", "path": "C:\\\\Users\\\\file", '
            '"newline": "line1\\nline2"}',
        )
        + SE,
        [
            (
                "send_message",
                {"text": 'He said "hello"', "path": "C:\\Users\\file", "newline": "line1\nline2"},
            )
        ],
        None,
    ),
    Case(
        "V3: JSON missing its last brace: not a call",
        f"{V3} (malformed_input_outputs, first)",
        "Sure." + SB + v3("get_weather", '{"city": "Tokyo"') + SE,
        [],
        'Sure.functionget_weather\n```json\n{"city": "Tokyo"\n```',
    ),
    Case(
        "V3: the call's opener missing: not a call",
        f"{V3} (malformed_input_outputs, second)",
        SB + "function" + SEP + 'get_weather\n```json\n{"city": "Tokyo"}\n```' + SE,
        [],
        'functionget_weather\n```json\n{"city": "Tokyo"}\n```',
    ),
    Case(
        "V3: calls on separate lines, as the model writes them",
        "SGLang issue 4379 (generated text of DeepSeek-V3 with two calls)",
        SB
        + v3("get_current_weather", '{"location": "Tokyo"}')
        + "\n"
        + v3("get_current_weather", '{"location": "Paris"}')
        + SE
        + EOS,
        [
            ("get_current_weather", {"location": "Tokyo"}),
            ("get_current_weather", {"location": "Paris"}),
        ],
        None,
    ),
    Case(
        "R1 distills' opener spelled with spaces",
        "llama.cpp common/chat.cpp (DeepSeek R1: <｜tool calls begin｜> and other spellings)",
        "Let me check.\n<｜tool calls begin｜>" + v3("weather", '{"city":"Paris"}') + SE,
        [("weather", {"city": "Paris"})],
        "Let me check.",
    ),
    Case(
        "R1 reasoning, then a call",
        f"{V3} with R1's <think> block (DeepSeek-R1 chat template)",
        "<think>\nThe user wants the weather.\n</think>\n\n"
        + SB
        + v3("get_weather", '{"city": "Paris"}')
        + SE,
        [("get_weather", {"city": "Paris"})],
        None,
        reasoning="The user wants the weather.",
    ),
    Case(
        "the end-of-sentence token after the calls is stripped",
        "DeepSeek-V3.1 chat template (ends an assistant turn with <｜end▁of▁sentence｜>)",
        SB + v31("ls", "{}") + SE + EOS,
        [("ls", {})],
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    message = read_output(DIALECT, case.raw)
    assert calls_in(message) == case.calls, case.source
    assert message["content"] == case.content, case.source
    assert message.get("reasoning_content") == case.reasoning, case.source
    if case.arguments:
        texts = tuple(call["function"]["arguments"] for call in message["tool_calls"])
        assert texts == case.arguments, case.source


def test_v31_thinking_output_starts_in_the_reasoning() -> None:
    """V3.1's thinking prompt ends with <think>: the output only closes it."""
    raw = "Need the weather.</think>Checking." + SB + v31("get_weather", '{"city": "Oslo"}') + SE
    message = read_output(DIALECT, raw, starts_in_reasoning=True)
    assert message["reasoning_content"] == "Need the weather."
    assert message["content"] == "Checking."
    assert calls_in(message) == [("get_weather", {"city": "Oslo"})]


def test_calls_inside_the_reasoning_a_backend_split_off_are_recovered() -> None:
    """SGLang pull request 9446: with thinking on, V3.1's calls end up in reasoning_content."""
    reasoning = (
        "The user asks about Shanghai; I will call the weather tool."
        + SB
        + v31("get_current_weather", '{"location": "Shanghai"}')
        + SE
    )
    parser = create_parser(options(), DIALECT)
    events = parser.feed_reasoning(reasoning) + parser.feed("") + parser.close()
    assert events[0] == Reasoning("The user asks about Shanghai; I will call the weather tool.")
    assert isinstance(events[1], ToolCallStart)
    assert calls_in(message_of(events)) == [("get_current_weather", {"location": "Shanghai"})]
