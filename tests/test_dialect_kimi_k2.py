"""Kimi-K2 dialect: outputs gathered from the peers' test suites and from public issues, each
with its source. Every case is also fed per character, at random splits and through ``finish``
(``read_output``), which must agree.

Where we differ from a peer on purpose, the case says so: text is never dropped (vLLM drops
text after the section and between its tokens), and a call whose arguments are not a JSON
object is not a call (vLLM passes the broken JSON on as arguments).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._arguments import HOLD_LIMIT
from glm_proxy.events import ToolCallArgs, ToolCallEnd, ToolCallStart
from support.parsing import calls_in, check_fragments, message_of, options, read_output, tool

DIALECT = "kimi_k2"
SB = "<|tool_calls_section_begin|>"
SE = "<|tool_calls_section_end|>"
CB = "<|tool_call_begin|>"
AB = "<|tool_call_argument_begin|>"
CE = "<|tool_call_end|>"


def call(head: str, arguments: str) -> str:
    return f"{CB}{head}{AB}{arguments}{CE}"


def section(*calls: str) -> str:
    return SB + "".join(calls) + SE


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    raw: str
    calls: list[tuple[str, Any]]
    content: str | None
    reasoning: str | None = None
    tools: tuple[dict[str, Any], ...] = ()


VLLM = "vLLM tests/tool_parsers/test_kimi_k2_tool_parser.py"
WEATHER = tool("get_weather", city="string", unit="string")

CASES = [
    Case(
        "single call",
        f"{VLLM} (single_tool_call)",
        "I'll check. " + section(call("functions.get_weather:0", '{"city": "Beijing"}')),
        [("get_weather", {"city": "Beijing"})],
        "I'll check. ",
    ),
    Case(
        "parallel calls, the counter in the id",
        f"{VLLM} (parallel_tool_calls, three_tool_calls)",
        "Multiple tasks. "
        + section(
            call("functions.get_weather:0", '{"city": "New York"}'),
            call("functions.get_news:1", '{"topic": "technology"}'),
            call("functions.send_email:2", '{"to": "user@example.com", "subject": "Daily"}'),
        ),
        [
            ("get_weather", {"city": "New York"}),
            ("get_news", {"topic": "technology"}),
            ("send_email", {"to": "user@example.com", "subject": "Daily"}),
        ],
        "Multiple tasks. ",
    ),
    Case(
        "angle brackets in the JSON",
        f"{VLLM} (angle_brackets_in_json)",
        section(call("functions.process_html:0", '{"html": "<div>content</div>"}')),
        [("process_html", {"html": "<div>content</div>"})],
        None,
    ),
    Case(
        "multi-line JSON",
        f"{VLLM} (multiline_json)",
        section(call("functions.process_data:0", '{\n  "name": "test",\n  "value": 123\n}')),
        [("process_data", {"name": "test", "value": 123})],
        None,
    ),
    Case(
        "id without the functions. prefix",
        f"{VLLM} (no_functions_prefix)",
        "No prefix. " + section(call("get_weather:0", '{"city": "Tokyo"}')),
        [("get_weather", {"city": "Tokyo"})],
        "No prefix. ",
    ),
    Case(
        "empty arguments",
        f"{VLLM} (empty_arguments)",
        section(call("functions.test:0", "{}")),
        [("test", {})],
        None,
    ),
    Case(
        "a space after the id and after the arguments",
        f"{VLLM} (_tool helper writes '<id> <|tool_call_argument_begin|>'); SGLang MTP test",
        section(call("functions.get_current_weather:0 ", '{"location": "杭州"} ')),
        [("get_current_weather", {"location": "杭州"})],
        None,
    ),
    Case(
        "a call with broken JSON is text; the next call still is one",
        f"{VLLM} (test_invalid_json_still_extracted: vLLM keeps the broken call)",
        "Help. "
        + section(
            call("functions.bad:0", '{"city": "Beijing"'),
            call("functions.good:1", '{"city": "Shanghai"}'),
        ),
        [("good", {"city": "Shanghai"})],
        'Help. functions.bad:0{"city": "Beijing"',
    ),
    Case(
        "an id without :counter is not a call",
        f"{VLLM} (test_invalid_funcall_id_skipped)",
        section(
            call("functions.invalid.0", '{"city": "Beijing"}'),
            call("functions.valid:1", '{"city": "Shanghai"}'),
        ),
        [("valid", {"city": "Shanghai"})],
        'functions.invalid.0{"city": "Beijing"}',
    ),
    Case(
        "a bare counter names the only declared tool",
        f"{VLLM} (test_bare_counter)",
        "Let me check. " + section(call("0", '{"city": "Tokyo", "unit": "celsius"}')),
        [("get_weather", {"city": "Tokyo", "unit": "celsius"})],
        "Let me check. ",
        tools=(WEATHER,),
    ),
    Case(
        "a bare counter with several tools is not a call (vLLM guesses from the arguments)",
        f"{VLLM} (test_bare_counter_multiple_tools_skips_unsafe_inference)",
        section(call("0", '{"city": "Tokyo"}')),
        [],
        '0{"city": "Tokyo"}',
        tools=(WEATHER, tool("book_flight", city="string")),
    ),
    Case(
        "text between the section's tokens is kept (vLLM drops it)",
        f"{VLLM} (test_noise_between_markers_suppressed)",
        "Reasoning. " + SB + " spurious noise " + call("functions.test:0 ", '{"k": "v"} ') + SE,
        [("test", {"k": "v"})],
        "Reasoning.  spurious noise ",
    ),
    Case(
        "an empty section",
        f"{VLLM} (test_empty_tool_section)",
        "Reasoning. " + SB + SE,
        [],
        "Reasoning. ",
    ),
    Case(
        "cut off inside the arguments: not a call, its text kept",
        f"{VLLM} (test_truncated_tool_call_no_end_marker); glm-format.md 4.8",
        "I'll check. " + SB + CB + "functions.get_weather:0 " + AB + '{"city": "Bei',
        [],
        'I\'ll check. functions.get_weather:0 {"city": "Bei',
    ),
    Case(
        "text after the section is kept (vLLM drops it)",
        f"{VLLM} (test_content_after_tool_section)",
        "Before. " + section(call("functions.get_weather:0 ", '{"city": "Tokyo"} ')) + " After.",
        [("get_weather", {"city": "Tokyo"})],
        "Before.  After.",
    ),
    Case(
        "the singular section token",
        "llama.cpp pull request 17376 (Kimi-K2 writes <|tool_call_section_begin|> too)",
        "<|tool_call_section_begin|>"
        + call("functions.get_weather:0", '{"city": "Paris"}')
        + "<|tool_call_section_end|>",
        [("get_weather", {"city": "Paris"})],
        None,
    ),
    Case(
        "K2-Thinking calls a tool inside its reasoning",
        "llama.cpp pull request 17376 (allow_toolcall_in_think, for Kimi-K2-Thinking)",
        "<think>Need the weather."
        + section(call("functions.get_weather:0", '{"city": "Oslo"}'))
        + "</think>",
        [("get_weather", {"city": "Oslo"})],
        None,
        reasoning="Need the weather.",
    ),
    Case(
        "Python-repr arguments are written again as JSON",
        "lablup/mlxcel pull request 783 (Kimi K2 calls with Python-dict-repr spellings)",
        section(call("functions.set_flag:0", "{'enabled': True, 'note': None}")),
        [("set_flag", {"enabled": True, "note": None})],
        None,
    ),
    Case(
        "the end-of-message token leaking as text is stripped",
        "glm-format.md 4.2 (stop tokens leaking as text), with Kimi's <|im_end|>",
        section(call("functions.ls:0", "{}")) + "<|im_end|>",
        [("ls", {})],
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    message = read_output(DIALECT, case.raw, case.tools)
    assert calls_in(message) == case.calls, case.source
    assert message["content"] == case.content, case.source
    assert message.get("reasoning_content") == case.reasoning, case.source


def test_a_long_call_streams_and_a_cut_leaves_it_unended() -> None:
    """glm-format.md 4.8: the fragments sent stay unclosed, the text reaches the client."""
    arguments = json.dumps({"content": "y" * 2 * HOLD_LIMIT})
    raw = SB + call("functions.write:0", arguments)
    parser = create_parser(options([tool("write", content="string")]), DIALECT)
    events = parser.feed(raw[: -len(CE) - 5])
    assert isinstance(events[0], ToolCallStart)
    assert sum(isinstance(event, ToolCallArgs) for event in events) == 1
    events += parser.close()
    check_fragments(events, cut_off=True)
    assert not any(isinstance(event, ToolCallEnd) for event in events)
    assert "tool_calls" not in message_of(events)
    whole = create_parser(options([tool("write", content="string")]), DIALECT).finish(raw + SE)
    assert calls_in(message_of(whole)) == [("write", json.loads(arguments))]
