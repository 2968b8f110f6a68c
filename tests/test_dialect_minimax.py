"""MiniMax-M2 outputs gathered from the peers' test suites and from public issues.

Every case cites where it comes from. Where we read an output differently from a peer, the
comment says so and why.
"""

from __future__ import annotations

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.dialects.minimax.render import render_output
from glm_proxy.events import Content, Reasoning
from support.dialect_table import STRING, Case, check_case, tool
from support.parsing import message_of, options

WEATHER = tool("get_weather", city=STRING, days={"type": "integer"})
SEARCH = tool("search_web", query=STRING)
TOOLS = [WEATHER, SEARCH, tool("get_stock", ticker=STRING)]


def section(*invokes: str) -> str:
    return "<minimax:tool_call>" + "".join(invokes) + "</minimax:tool_call>"


def invoke(name: str, **params: str) -> str:
    body = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in params.items())
    return f'<invoke name="{name}">{body}</invoke>'


CASES = [
    # vLLM tests/tool_parsers/test_minimax_m2_tool_parser.py, test_content_before_tool_call
    Case(
        "text_before_the_call",
        "Let me check. " + section(invoke("get_weather", city="Seattle")),
        [("get_weather", {"city": "Seattle"})],
        "Let me check. ",
        tools=TOOLS,
    ),
    # same file, test_multiple_params: vLLM keeps "5" a string without a schema; the schema
    # here says integer
    Case(
        "two_parameters",
        section(invoke("get_weather", city="Seattle", days="5")),
        [("get_weather", {"city": "Seattle", "days": 5})],
        None,
        tools=TOOLS,
    ),
    # same file, test_two_invokes_incremental: several calls in one wrapper
    Case(
        "two_calls_in_one_section",
        section(invoke("search_web", query="OpenAI"), invoke("search_web", query="Gemini")),
        [("search_web", {"query": "OpenAI"}), ("search_web", {"query": "Gemini"})],
        None,
        tools=TOOLS,
    ),
    # same file, test_different_functions
    Case(
        "two_tools",
        section(invoke("get_weather", city="NYC"), invoke("get_stock", ticker="AAPL")),
        [("get_weather", {"city": "NYC"}), ("get_stock", {"ticker": "AAPL"})],
        None,
        tools=TOOLS,
    ),
    # earendil-works/pi#368 (minimax-m2.1 through OpenRouter): the template's line breaks
    Case(
        "template_line_breaks",
        '<minimax:tool_call>\n<invoke name="bash">\n<parameter name="command">mb --help'
        '</parameter>\n</invoke>\n<invoke name="bash">\n<parameter name="command">cm --help'
        "</parameter>\n</invoke>\n</minimax:tool_call>",
        [("bash", {"command": "mb --help"}), ("bash", {"command": "cm --help"})],
        None,
        tools=[tool("bash", command=STRING)],
    ),
    # MiniMax-AI/MiniMax-M2.5#10: the calls indented
    Case(
        "indented_calls",
        '<minimax:tool_call>\n  <invoke name="exec">\n    <parameter name="command">ls'
        "</parameter>\n  </invoke>\n</minimax:tool_call>",
        [("exec", {"command": "ls"})],
        None,
        tools=[tool("exec", command=STRING)],
    ),
    # vLLM's MiniMax-M2 parser accepts single quotes around the names too
    Case(
        "single_quoted_names",
        "<minimax:tool_call><invoke name='get_weather'><parameter name='city'>Paris"
        "</parameter></invoke></minimax:tool_call>",
        [("get_weather", {"city": "Paris"})],
        None,
        tools=TOOLS,
    ),
    # sgl-project/sglang test_minimax_m2_detector.py (issue 16057): a string in anyOf
    # [string, null] stays a string
    Case(
        "nullable_string",
        section(invoke("the_tool", args="hi")),
        [("the_tool", {"args": "hi"})],
        None,
        tools=[tool("the_tool", args={"anyOf": [STRING, {"type": "null"}]})],
    ),
    # same file, test_anyof_with_null_should_allow_explicit_null: vLLM and SGLang read null
    # here; our typing keeps the text of a string-typed key exactly (glm-format.md 2.1), since
    # the template writes the string "null" and None alike
    Case(
        "null_for_a_nullable_string_stays_text",
        section(invoke("the_tool", args="null")),
        [("the_tool", {"args": "null"})],
        None,
        tools=[tool("the_tool", args={"anyOf": [STRING, {"type": "null"}]})],
    ),
    # same file, test_incomplete_tool_call_should_not_leak_to_normal_text: the wrapper's closer
    # is missing, the call's own </invoke> is there: a complete call, no markup in the content
    Case(
        "missing_section_closer",
        '[Pasted ~4 lines]<minimax:tool_call><invoke name="context_info">'
        '<parameter name="metadata_only">false</parameter></invoke>',
        [("context_info", {"metadata_only": False})],
        "[Pasted ~4 lines]",
        tools=[tool("context_info", metadata_only={"type": "boolean"})],
    ),
    # same file, test_complete_tool_call_should_not_leak_end_marker: text after the wrapper
    Case(
        "text_after_the_section",
        "Here is some text."
        + section(invoke("context_info", metadata_only="true"))
        + "More text after.",
        [("context_info", {"metadata_only": True})],
        "Here is some text.More text after.",
        tools=[tool("context_info", metadata_only={"type": "boolean"})],
    ),
    # same file, test_parameter_value_with_closing_tag_substring: "</parameter>" inside a value
    # closes it only when a tag of the format follows (glm-format.md 4.12's rule)
    Case(
        "closer_inside_a_value",
        section(invoke("test_func", content="This text contains </parameter> in it")),
        [("test_func", {"content": "This text contains </parameter> in it"})],
        None,
        tools=[tool("test_func", content=STRING)],
    ),
    # same file, test_parameter_value_with_xml_content
    Case(
        "xml_in_a_value",
        section(invoke("process_html", html="<div>Hello</div>")),
        [("process_html", {"html": "<div>Hello</div>"})],
        None,
        tools=[tool("process_html", html=STRING)],
    ),
    # same file, test_complex_anyof_with_object_and_null and test_array_type_in_parameters
    Case(
        "object_and_array_values",
        section(invoke("complex_func", data='{"key": "value"}', items='[1, 2, 3, "four"]')),
        [("complex_func", {"data": {"key": "value"}, "items": [1, 2, 3, "four"]})],
        None,
        tools=[
            tool(
                "complex_func",
                data={"anyOf": [{"type": "object"}, {"type": "null"}]},
                items={"type": "array"},
            )
        ],
    ),
    # same file, test_streaming_incomplete_tool_call_should_buffer: the output ends inside the
    # call. SGLang drops its text; we return it as content (glm-format.md 4.8: no text lost,
    # no half call)
    Case(
        "cut_inside_a_call",
        "Normal text before<minimax:tool_call>"
        '<invoke name="context_info"><parameter name="metadata_only">false</parameter>',
        [],
        "Normal text before<minimax:tool_call>"
        '<invoke name="context_info"><parameter name="metadata_only">false</parameter>',
        tools=[tool("context_info", metadata_only={"type": "boolean"})],
        cut_off=True,
    ),
    # MiniMax-M2's prompt ends with "<think>\n" (its chat template's generation prompt): the
    # output starts inside the reasoning and closes it
    Case(
        "starts_inside_the_reasoning",
        render_output("Checking.", [("get_weather", {"city": "Seoul"})], "Weather.", opened=True),
        [("get_weather", {"city": "Seoul"})],
        "Checking.",
        reasoning="Weather.",
        tools=TOOLS,
        options={"starts_in_reasoning": True},
    ),
    # waybarrios/vllm-mlx#98: MiniMax writes calls inside the <think> block; they are calls
    Case(
        "call_inside_the_reasoning",
        "<think>\nI need the weather.\n" + section(invoke("get_weather", city="Oslo")),
        [("get_weather", {"city": "Oslo"})],
        None,
        reasoning="I need the weather.",
        tools=TOOLS,
    ),
    # vLLM test_plain_content: no markup, text as it is
    Case("plain_text", "Hello world", [], "Hello world", tools=TOOLS),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_real_outputs(case: Case) -> None:
    check_case("minimax", case)


def test_calls_in_backend_reasoning_are_numbered_with_the_content_ones() -> None:
    """vllm-mlx#98: with a reasoning parser on, the backend hands the calls written in the
    reasoning over as reasoning text; they are recovered and numbered before the content's."""
    parser = create_parser(options(TOOLS), "minimax")
    events = parser.feed_reasoning("Look up Oslo. " + section(invoke("get_weather", city="Oslo")))
    events += parser.feed(section(invoke("get_stock", ticker="AAPL")))
    events += parser.close()
    message = message_of(events)
    assert message["reasoning_content"] == "Look up Oslo. "
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_weather", "get_stock"]


def test_only_what_may_be_a_tag_is_held_back() -> None:
    parser = create_parser(options(TOOLS), "minimax")
    assert parser.feed('Use <invoke name="x') == [Content("Use ")]
    assert parser.feed('" later') == [Content('<invoke name="x" later')]
    assert parser.feed(" <minimax:tool") == [Content(" ")]
    assert parser.close() == [Content("<minimax:tool")]


def test_reasoning_goes_out_as_it_arrives() -> None:
    parser = create_parser(options(TOOLS, starts_in_reasoning=True), "minimax")
    assert parser.feed("Thinking about") == [Reasoning("Thinking about")]
