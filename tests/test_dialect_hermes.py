"""Hermes dialect (Qwen2.5, Qwen3, Hermes fine-tunes): outputs gathered from the peers' test
suites and from public issues, each with its source. Every case is also fed per character, at
random splits and through ``finish`` (``read_output``), which must agree.

Where we differ from a peer on purpose, the case says so: text is never dropped, and what is not
a call with a JSON object of arguments stays text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.events import Content, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import calls_in, check_fragments, message_of, options, read_output, tool

DIALECT = "hermes"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    raw: str
    calls: list[tuple[str, Any]]
    content: str | None
    reasoning: str | None = None
    arguments: list[str] = field(default_factory=list)
    """The arguments text of each call, exactly, where the case pins it."""
    tools: tuple[dict[str, Any], ...] = ()


CASES = [
    Case(
        "call between tags, newline separated",
        "vLLM tests/tool_parsers/test_hermes_tool_parser.py "
        "(test_hermes_parser_non_streaming_tool_call_between_tags)",
        '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}\n</tool_call>',
        [("final_answer", {"trigger": True})],
        None,
        arguments=['{"trigger": true}'],
    ),
    Case(
        "closing tag missing: the JSON object is complete, so the call is",
        "vLLM test_hermes_parser_non_streaming_tool_call_until_eos",
        '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}',
        [("final_answer", {"trigger": True})],
        None,
    ),
    Case(
        "JSON cut before its last brace: not a call, the text is kept",
        "vLLM test_hermes_parser_non_streaming_tool_call_invalid_json",
        '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}',
        [],
        '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}',
    ),
    Case(
        "arguments serialised as a JSON string (Granite 4) are decoded once",
        "vLLM test_hermes_parser_non_streaming_serialized_arguments",
        '<tool_call>\n{"name": "get_db_config", '
        '"arguments": "{\\"param\\": \\"max_connections\\"}"}\n</tool_call>',
        [("get_db_config", {"param": "max_connections"})],
        None,
    ),
    Case(
        'arguments that are a bare string: no object, so not a call (vLLM passes "hello" on)',
        "vLLM test_hermes_parser_non_streaming_bare_string_arguments",
        '<tool_call>\n{"name": "do_thing", "arguments": "hello"}\n</tool_call>',
        [],
        '<tool_call>\n{"name": "do_thing", "arguments": "hello"}\n</tool_call>',
    ),
    Case(
        "two calls back to back",
        "vLLM test_hermes_streaming_multiple_tool_calls_with_stream_interval",
        '<tool_call>{"name": "search", "arguments": {"q": "cats"}}</tool_call>'
        '<tool_call>{"name": "search", "arguments": {"q": "dogs"}}</tool_call>',
        [("search", {"q": "cats"}), ("search", {"q": "dogs"})],
        None,
    ),
    Case(
        "content and a call in one chunk",
        "vLLM test_hermes_streaming_content_and_tool_call_in_single_chunk",
        'Hi!<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>',
        [("f", {"x": 1})],
        "Hi!",
    ),
    Case(
        "text before the call, no separator",
        "vLLM test_hermes_streaming_content_then_tool_call_with_stream_interval",
        'Sure, let me check the weather.<tool_call>{"name": "get_weather", '
        '"arguments": {"city": "NYC"}}</tool_call>',
        [("get_weather", {"city": "NYC"})],
        "Sure, let me check the weather.",
    ),
    Case(
        "Qwen3 with an empty think block, returned as text by LM Studio",
        "lmstudio-ai/lmstudio-bug-tracker issue 825",
        '<think>\n\n</think>\n\n<tool_call>\n{"name": "search_products", "arguments": '
        '{"query": "Dell", "category": "electronics", "max_price": 50}}\n</tool_call>',
        [("search_products", {"query": "Dell", "category": "electronics", "max_price": 50})],
        None,
    ),
    Case(
        "an empty block is no call and no text",
        "SGLang test_function_call_parser (Qwen25Detector test_empty_tool_call_block)",
        "<tool_call>\n\n</tool_call>",
        [],
        "",
    ),
    Case(
        "a closer before the opener is dropped",
        "SGLang test_function_call_parser (Qwen25Detector test_close_before_open_no_call)",
        '\n</tool_call>\n<tool_call>\n{"name": "get_current_weather", "arguments": {}}\n'
        "</tool_call>",
        [("get_current_weather", {})],
        None,
    ),
    Case(
        "Unicode kept literally",
        "SGLang test_function_call_parser (Qwen25Detector streaming, location 杭州)",
        '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "杭州"}}\n'
        "</tool_call>",
        [("get_current_weather", {"location": "杭州"})],
        None,
        arguments=['{"location": "杭州"}'],
    ),
    Case(
        "arguments before the name (NousResearch Hermes-Function-Calling examples)",
        "vybestack/llxprt-code project-plans/multi-provider/23-implement-tool-formatter-hermes.md",
        '<tool_call>\n{"arguments": {"symbol": "TSLA"}, "name": "get_stock_fundamentals"}\n'
        "</tool_call>",
        [("get_stock_fundamentals", {"symbol": "TSLA"})],
        None,
    ),
    Case(
        "a closing tag inside a string value is value text",
        "glm-format.md 4.10 and 4.12 (values that contain the format's own tags)",
        '<tool_call>\n{"name": "write", "arguments": {"text": "end: </tool_call> done"}}\n'
        "</tool_call>",
        [("write", {"text": "end: </tool_call> done"})],
        None,
    ),
    Case(
        "a call written inside the reasoning ends it",
        "glm-format.md 4.3 (tool calls emitted inside the reasoning)",
        '<think>I should look.\n<tool_call>\n{"name": "ls", "arguments": {}}\n</tool_call>',
        [("ls", {})],
        None,
        reasoning="I should look.",
    ),
    Case(
        "a ChatML stop token leaking after the call is stripped",
        "glm-format.md 4.2 (stop tokens leaking as text), with Qwen's <|im_end|>",
        '<tool_call>\n{"name": "ls", "arguments": {}}\n</tool_call><|im_end|>',
        [("ls", {})],
        None,
    ),
    Case(
        "GLM's shape after <tool_call> is not a Hermes call: it stays text",
        "glm-format.md section 6 (after <tool_call>, `{` means Hermes JSON)",
        "Let me look: <tool_call>ls",
        [],
        "Let me look: <tool_call>ls",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    message = read_output(DIALECT, case.raw, case.tools)
    assert calls_in(message) == case.calls, case.source
    assert message["content"] == case.content, case.source
    assert message.get("reasoning_content") == case.reasoning, case.source
    if case.arguments:
        texts = [call["function"]["arguments"] for call in message["tool_calls"]]
        assert texts == case.arguments, case.source


def test_a_long_call_cut_off_leaves_an_unended_call_and_its_text() -> None:
    """glm-format.md 4.8: the fragments sent stay unclosed, the text reaches the client."""
    tools = [tool("write", path="string", content="string")]
    body = json.dumps({"name": "write", "arguments": {"path": "a", "content": "x" * HOLD_LIMIT}})
    raw = "<tool_call>\n" + body[:-20]
    parser = create_parser(options(tools), DIALECT)
    events = parser.feed(raw)
    assert isinstance(events[0], ToolCallStart), "the long call was announced while streaming"
    assert any(isinstance(event, ToolCallArgs) for event in events)
    events += parser.close()
    check_fragments(events, cut_off=True)
    assert not any(isinstance(event, ToolCallEnd) for event in events)
    assert events[-1] == Content(raw)
    assert "tool_calls" not in message_of(events)


def test_calls_stay_text_when_the_request_reads_none() -> None:
    raw = '<tool_call>\n{"name": "ls", "arguments": {}}\n</tool_call>'
    parser = create_parser(options((), parse_tool_calls=False), DIALECT)
    assert message_of(parser.finish(raw))["content"] == raw
