"""Qwen3-Coder outputs gathered from the peers' test suites and from public issues.

Every case cites where it comes from. Where we read an output differently from a peer, the
comment says so and why.
"""

from __future__ import annotations

import pytest

from glm_proxy.dialects import create_parser
from glm_proxy.events import Content, ToolCallArgs, ToolCallEnd, ToolCallStart
from support.dialect_table import STRING, Case, check_case, tool
from support.parsing import options

WEATHER = tool("get_current_weather", city=STRING, state=STRING, unit={"enum": ["f", "c"]})
AREA = tool(
    "calculate_area", shape=STRING, dimensions={"type": "object"}, precision={"type": "integer"}
)
TOOLS = [WEATHER, AREA]

DALLAS = (
    "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
    "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nf\n</parameter>\n</function>\n"
    "</tool_call>"
)
DALLAS_ARGS = {"city": "Dallas", "state": "TX", "unit": "f"}

CASES = [
    # vLLM tests/tool_parsers/test_qwen3coder_tool_parser.py, test_extract_tool_calls[single_tool]
    Case("single_call", DALLAS, [("get_current_weather", DALLAS_ARGS)], None, tools=TOOLS),
    # same test, [single_tool_with_content]: text right before the opener
    Case(
        "text_before_the_call",
        "Sure! Let me check the weather for you." + DALLAS,
        [("get_current_weather", DALLAS_ARGS)],
        "Sure! Let me check the weather for you.",
        tools=TOOLS,
    ),
    # same test, [single_tool_multiline_param]: an object written as JSON over two lines
    Case(
        "object_over_two_lines",
        "<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n"
        '<parameter=dimensions>\n{"width": 10, \n "height": 20}\n</parameter>\n'
        "<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>",
        [
            (
                "calculate_area",
                {"shape": "rectangle", "dimensions": {"width": 10, "height": 20}, "precision": 2},
            )
        ],
        None,
        tools=TOOLS,
    ),
    # same test, [parallel_tools]: one <tool_call> per call, a line break between them
    Case(
        "two_calls",
        DALLAS + "\n" + DALLAS.replace("Dallas", "Orlando").replace("TX", "FL"),
        [
            ("get_current_weather", DALLAS_ARGS),
            ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "f"}),
        ],
        None,
        tools=TOOLS,
    ),
    # vLLM test_extract_tool_calls_type_conversion; "float" is no JSON-schema type, but it is
    # not a string either: the value is read as JSON
    Case(
        "typed_values",
        "<tool_call>\n<function=test_types>\n<parameter=int_param>\n42\n</parameter>\n"
        "<parameter=float_param>\n3.14\n</parameter>\n<parameter=bool_param>\ntrue\n</parameter>\n"
        "<parameter=str_param>\nhello world\n</parameter>\n"
        '<parameter=obj_param>\n{"key": "value"}\n</parameter>\n</function>\n</tool_call>',
        [
            (
                "test_types",
                {
                    "int_param": 42,
                    "float_param": 3.14,
                    "bool_param": True,
                    "str_param": "hello world",
                    "obj_param": {"key": "value"},
                },
            )
        ],
        None,
        tools=[
            tool(
                "test_types",
                int_param={"type": "integer"},
                float_param={"type": "float"},
                bool_param={"type": "boolean"},
                str_param=STRING,
                obj_param={"type": "object"},
            )
        ],
    ),
    # vLLM test_extract_tool_calls_anyof_type_conversion (Pydantic v2's Optional[T]): the
    # string in anyOf [string, integer, null] keeps "some text" a string, "42" of
    # ["integer", "null"] is a number
    Case(
        "any_of_types",
        "<tool_call>\n<function=test_anyof>\n<parameter=anyof_int>\n5\n</parameter>\n"
        '<parameter=anyof_array>\n["a", "b", "c"]\n</parameter>\n'
        "<parameter=type_as_array>\n42\n</parameter>\n"
        "<parameter=multi_non_null>\nsome text\n</parameter>\n</function>\n</tool_call>",
        [
            (
                "test_anyof",
                {
                    "anyof_int": 5,
                    "anyof_array": ["a", "b", "c"],
                    "type_as_array": 42,
                    "multi_non_null": "some text",
                },
            )
        ],
        None,
        tools=[
            tool(
                "test_anyof",
                anyof_int={"anyOf": [{"type": "integer"}, {"type": "null"}]},
                anyof_array={"anyOf": [{"type": "array"}, {"type": "null"}]},
                type_as_array={"type": ["integer", "null"]},
                multi_non_null={"anyOf": [STRING, {"type": "integer"}, {"type": "null"}]},
            )
        ],
    ),
    # The template writes a value that is no string, mapping or list with Jinja's "| string":
    # Python's True and None (the chat template of Qwen/Qwen3-Coder-30B-A3B-Instruct; vLLM's
    # parser reads "None" as null for the same reason)
    Case(
        "python_reprs_from_the_template",
        "<tool_call>\n<function=f>\n<parameter=flag>\nTrue\n</parameter>\n"
        "<parameter=limit>\nNone\n</parameter>\n</function>\n</tool_call>",
        [("f", {"flag": True, "limit": None})],
        None,
        tools=[tool("f", flag={"type": "boolean"}, limit={"type": ["integer", "null"]})],
    ),
    # vLLM's _convert_param_value: models trained on a template that wrote str(dict) give an
    # object or array parameter as a Python repr; it is read as the literal (_typing rule 2)
    Case(
        "python_repr_for_an_object",
        "<tool_call>\n<function=calculate_area>\n<parameter=dimensions>\n"
        "{'width': 10, 'unit': 'cm', 'exact': True}\n</parameter>\n</function>\n</tool_call>",
        [("calculate_area", {"dimensions": {"width": 10, "unit": "cm", "exact": True}})],
        None,
        tools=TOOLS,
    ),
    # vLLM test_anyof_parameter_not_double_encoded and test_no_double_serialization_string_args:
    # values written on the tag's own line, no line breaks to trim
    Case(
        "values_on_the_tag_line",
        "<tool_call>\n<function=update_record>\n"
        '<parameter=data>{"key": "value", "count": 42}</parameter>\n'
        "<parameter=message>hello world</parameter>\n</function>\n</tool_call>",
        [("update_record", {"data": {"key": "value", "count": 42}, "message": "hello world"})],
        None,
        tools=[
            tool(
                "update_record",
                data={"anyOf": [{"type": "object"}, {"type": "null"}]},
                message=STRING,
            )
        ],
    ),
    # Only one line break is the template's at each end of a value: the others are the value's
    # (vLLM's _parse_xml_function_call removes one leading and one trailing "\n")
    Case(
        "one_line_break_trimmed_at_each_end",
        "<tool_call>\n<function=write_file>\n<parameter=content>\n\ndef f():\n    pass\n\n"
        "</parameter>\n</function>\n</tool_call>",
        [("write_file", {"content": "\ndef f():\n    pass\n"})],
        None,
        tools=[tool("write_file", content=STRING)],
    ),
    # vLLM test_extract_tool_calls_missing_closing_parameter_tag: "</parameter>" left out, the
    # next declared <parameter=...> ends the value
    Case(
        "missing_parameter_closer",
        "Let me check the weather for you:\n<tool_call>\n<function=get_current_weather>\n"
        "<parameter=city>\nDallas\n<parameter=state>\nTX\n</parameter>\n"
        "<parameter=unit>\nf\n</parameter>\n</function>\n</tool_call>",
        [("get_current_weather", DALLAS_ARGS)],
        "Let me check the weather for you:",
        tools=TOOLS,
    ),
    # A value may contain "</parameter>" (code writing this very format): it closes the value
    # only when a parameter, </function> or </tool_call> follows (vLLM _find_true_param_end;
    # the same rule as GLM's </arg_value>, glm-format.md 4.12)
    Case(
        "closer_inside_a_value",
        "<tool_call>\n<function=write_file>\n<parameter=content>\nend it with </parameter> "
        "and go on\n</parameter>\n</function>\n</tool_call>",
        [("write_file", {"content": "end it with </parameter> and go on"})],
        None,
        tools=[tool("write_file", content=STRING)],
    ),
    # "</function>" left out: </tool_call> ends the call (vLLM's function regex falls back to
    # the end of the <tool_call> block)
    Case(
        "missing_function_closer",
        "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
        "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nf\n</parameter>\n</tool_call>",
        [("get_current_weather", DALLAS_ARGS)],
        None,
        tools=TOOLS,
    ),
    # vLLM test_extract_tool_calls_fallback_no_tags: no <tool_call> at all (also what a backend
    # that drops the special tokens <tool_call> and </tool_call> from the text leaves)
    Case(
        "no_wrapper_at_all",
        "<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
        "<parameter=state>\nTX\n</parameter>\n</function>",
        [("get_current_weather", {"city": "Dallas", "state": "TX"})],
        None,
        tools=TOOLS,
    ),
    # ollama/ollama#16686 (qwen3-coder:30b under Claude Code): the opener left out, the orphan
    # </tool_call> still written
    Case(
        "opener_left_out",
        "I'll use the Glob tool to list all markdown files in the current directory.\n\n"
        "<function=Glob>\n<parameter=pattern>\n*.md\n</parameter>\n</function>\n</tool_call>",
        [("Glob", {"pattern": "*.md"})],
        "I'll use the Glob tool to list all markdown files in the current directory.",
        tools=[tool("Glob", pattern=STRING)],
    ),
    # ollama/ollama#18530: a sentence of reasoning, a blank line, then the call without opener;
    # QwenLM/Qwen3-Coder#475 reports the same for the 30B model after a textual response
    Case(
        "opener_left_out_after_a_sentence",
        "Let me find the config files first.\n\n<function=glob>\n<parameter=pattern>\n"
        "**/*.toml\n</parameter>\n</function>\n</tool_call>",
        [("glob", {"pattern": "**/*.toml"})],
        "Let me find the config files first.",
        tools=[tool("glob", pattern=STRING)],
    ),
    # ollama/ollama#17742's fail-safe: a bare <function=...> naming no declared tool is prose
    Case(
        "bare_block_of_an_undeclared_tool_is_text",
        "Write it as <function=exec_command> in the docs.",
        [],
        "Write it as <function=exec_command> in the docs.",
        tools=[tool("Glob", pattern=STRING)],
    ),
    # vLLM test_none_tool_calls_filtered (PR #36774): a call whose <function=...> lacks its ">"
    # is no call; the good one after it still is, and no text is lost
    Case(
        "broken_function_tag_then_a_good_call",
        "<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>\n" + DALLAS,
        [("get_current_weather", DALLAS_ARGS)],
        "<tool_call>\n<function=bad_func_no_gt",
        tools=TOOLS,
    ),
    # QwenLM/Qwen3-Coder#475's indented format: whitespace around typed values is tolerated;
    # a string keeps what is not the template's one line break
    Case(
        "indented_call",
        "<tool_call>\n  <function=calculate_area>\n    <parameter=precision>\n      3\n"
        "    </parameter>\n  </function>\n</tool_call>",
        [("calculate_area", {"precision": 3})],
        None,
        tools=TOOLS,
    ),
    # Qwen3 thinking models put their reasoning in <think> before the answer
    Case(
        "reasoning_then_call",
        "<think>\nThe user wants Dallas.\n</think>\n\n" + DALLAS,
        [("get_current_weather", DALLAS_ARGS)],
        None,
        reasoning="The user wants Dallas.",
        tools=TOOLS,
    ),
    # QwenLM/Qwen3-VL#1674 and ollama/ollama#11621: Qwen models served with a Qwen2.5-style
    # template write the Hermes JSON form inside <tool_call> (glm-format.md 4.9)
    Case(
        "json_call_in_the_wrapper",
        '<tool_call>\n{"name": "get_current_weather", "arguments": {"city": "杭州"}}\n</tool_call>',
        [("get_current_weather", {"city": "杭州"})],
        None,
        tools=TOOLS,
    ),
    # ... and JSON that is no call stays text, wrapper and all
    Case(
        "json_that_is_no_call",
        '<tool_call>\n{"city": "Dallas"}\n</tool_call>',
        [],
        '<tool_call>\n{"city": "Dallas"}\n</tool_call>',
        tools=TOOLS,
    ),
    # vLLM test_extract_tool_calls_no_tools: text without markup passes through
    Case(
        "plain_text",
        "This is a test response without any tool calls",
        [],
        "This is a test response without any tool calls",
        tools=TOOLS,
    ),
    # glm-format.md 4.8: an output cut inside a call (max_tokens) gives no call; its markup
    # comes back as content
    Case(
        "cut_inside_a_call",
        "Checking.\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDal",
        [],
        "Checking.\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDal",
        tools=TOOLS,
        cut_off=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_real_outputs(case: Case) -> None:
    check_case("qwen3_coder", case)


def test_a_long_string_value_streams_before_its_end() -> None:
    """A file being written shows up as it arrives, its template line breaks trimmed."""
    text = "x = 1\n" * 400
    output = f"<tool_call>\n<function=write_file>\n<parameter=content>\n{text}\n</parameter>\n"
    parser = create_parser(options([tool("write_file", content=STRING)]), "qwen3_coder")
    events = []
    for start in range(0, len(output), 7):
        events += parser.feed(output[start : start + 7])
    assert isinstance(events[0], ToolCallStart)
    streamed = "".join(e.fragment for e in events if isinstance(e, ToolCallArgs))
    # all of the value but the line break before </parameter>: the template's, trimmed
    assert streamed == '{"content": "' + text.replace("\n", "\\n")
    assert not any(isinstance(e, ToolCallEnd) for e in events)
    events = parser.feed("</function>\n</tool_call>")
    assert events == [ToolCallArgs(0, '"}'), ToolCallEnd(0)]


def test_only_what_may_be_a_tag_is_held_back() -> None:
    parser = create_parser(options(TOOLS), "qwen3_coder")
    assert parser.feed("Let me check <funct") == [Content("Let me check ")]
    assert parser.feed("ion") == []
    assert parser.feed("al programming>") == [Content("<functional programming>")]


def test_without_tools_calls_stay_text() -> None:
    parser = create_parser(options(TOOLS, parse_tool_calls=False), "qwen3_coder")
    assert parser.finish(DALLAS) == [Content(DALLAS)]
