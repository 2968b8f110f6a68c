"""The GLM dialect's table of outputs, each with the exact message the proxy returns for it.

Shared by the parser's tests (``test_glm``: fed whole, per character, at random splits) and the
translation's (``test_stream_translator``: streamed equals non-streamed for every case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def tool(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": properties},
        },
    }


TOOLS = [
    tool("get_weather", location={"type": "string"}, days={"type": "integer"}),
    tool("send_command_to_shell", command={"type": "string"}),
    tool("search", query={"type": "string"}),
    tool(
        "typed",
        s={"type": "string"},
        n={"type": "integer"},
        f={"type": "number"},
        b={"type": "boolean"},
        a={"type": "array", "items": {"type": "string"}},
        o={"type": "object"},
        z={"type": "null"},
        ns={"type": ["string", "null"]},
        any={"anyOf": [{"type": "string"}, {"type": "integer"}]},
        e={"enum": ["001", "true"]},
    ),
]


def call(name: str, arguments: str, index: int = 0) -> dict[str, Any]:
    return {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def msg(
    content: str | None = None,
    calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    expected: dict[str, Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    cut_off: bool = False
    """The output ends inside a call: that call is announced, never ended."""


WEATHER_45 = (
    "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
    "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"
)
WEATHER_ARGS = '{"location": "Seoul", "days": 3}'

CASES = [
    # -- the canonical layouts --------------------------------------------------------------
    Case("layout_45_one_call", WEATHER_45, msg(None, [call("get_weather", WEATHER_ARGS)])),
    Case(
        "layout_47_inline_two_calls",
        "<tool_call>get_weather<arg_key>location</arg_key><arg_value>Seoul</arg_value>"
        "<arg_key>days</arg_key><arg_value>3</arg_value></tool_call><tool_call>get_time</tool_call>",
        msg(None, [call("get_weather", WEATHER_ARGS), call("get_time", "{}", 1)]),
    ),
    Case(
        "zero_argument_call_45",
        "<tool_call>get_time\n</tool_call>",
        msg(None, [call("get_time", "{}")]),
    ),
    Case(
        "text_before_between_and_after_calls",
        "Checking both.\n<tool_call>get_weather\n<arg_key>location</arg_key>\n"
        "<arg_value>Seoul</arg_value>\n</tool_call>\nand then\n<tool_call>get_weather\n"
        "<arg_key>location</arg_key>\n<arg_value>Tokyo</arg_value>\n</tool_call>\nDone.",
        msg(
            "Checking both.\nand then\nDone.",
            [
                call("get_weather", '{"location": "Seoul"}'),
                call("get_weather", '{"location": "Tokyo"}', 1),
            ],
        ),
    ),
    Case(
        "any_whitespace_between_tags",
        "<tool_call>  get_weather \t\n   <arg_key> location </arg_key>\n\t\t"
        "<arg_value>Seoul</arg_value>   \n  </tool_call>",
        msg(None, [call("get_weather", '{"location": "Seoul"}')]),
    ),
    Case(
        "names_with_dots_dashes_colons",
        "<tool_call>mcp__github__list-issues:v2.x</tool_call><tool_call>browser.search</tool_call>",
        msg(None, [call("mcp__github__list-issues:v2.x", "{}"), call("browser.search", "{}", 1)]),
    ),
    Case("plain_text_untouched", "Hello, world!\n", msg("Hello, world!\n")),
    Case(
        "angle_brackets_in_text",
        "Use <b>bold</b>, 1 < 2 and a <tool_calls> tag.",
        msg("Use <b>bold</b>, 1 < 2 and a <tool_calls> tag."),
    ),
    Case(
        "tool_call_tag_mentioned_in_prose_stays_text",
        "GLM writes <tool_call> before each call and more words after it.",
        msg("GLM writes <tool_call> before each call and more words after it."),
    ),
    Case("empty_tool_call_is_not_a_call", "A<tool_call></tool_call>B", msg("AB")),
    Case("blank_tool_call_is_not_a_call", "A<tool_call>  \n </tool_call>", msg("A")),
    # -- reasoning -----------------------------------------------------------------------------
    Case(
        "think_block_45",
        "\n<think>The user wants weather.</think>\nSure.\n" + WEATHER_45,
        msg("Sure.", [call("get_weather", WEATHER_ARGS)], "The user wants weather."),
    ),
    Case(
        "output_starts_inside_reasoning_47",
        "Need weather.</think>Let me check.<tool_call>get_time</tool_call>",
        msg("Let me check.", [call("get_time", "{}")], "Need weather."),
        {"starts_in_reasoning": True},
    ),
    Case("empty_think_block", "<think></think>Hi", msg("Hi")),
    Case(
        "tool_call_before_think_closes",
        "<think>I should call it<tool_call>get_time</tool_call></think>Done",
        msg("Done", [call("get_time", "{}")], "I should call it"),
    ),
    Case(
        "tool_call_inside_reasoning_47",
        "Thinking<tool_call>get_time</tool_call>",
        msg(None, [call("get_time", "{}")], "Thinking"),
        {"starts_in_reasoning": True},
    ),
    Case(
        "stray_think_close_without_opener_is_dropped",
        "Answer</think> here",
        msg("Answer here"),
    ),
    # -- typing (glm-format.md section 2) -----------------------------------------------------
    Case(
        "string_typed_values_kept_raw",
        "<tool_call>typed<arg_key>s</arg_key><arg_value> 001 </arg_value>"
        "<arg_key>ns</arg_key><arg_value>true</arg_value>"
        "<arg_key>any</arg_key><arg_value>42</arg_value>"
        "<arg_key>e</arg_key><arg_value>001</arg_value></tool_call>",
        msg(None, [call("typed", '{"s": " 001 ", "ns": "true", "any": "42", "e": "001"}')]),
    ),
    Case(
        "string_typed_json_text_stays_string",
        '<tool_call>typed<arg_key>s</arg_key><arg_value>{"a":1}</arg_value></tool_call>',
        msg(None, [call("typed", '{"s": "{\\"a\\":1}"}')]),
    ),
    Case(
        "non_string_values_parsed_as_json",
        "<tool_call>typed<arg_key>n</arg_key><arg_value> 42 </arg_value>"
        "<arg_key>f</arg_key><arg_value>3.5</arg_value><arg_key>b</arg_key><arg_value>true"
        '</arg_value><arg_key>a</arg_key><arg_value>["x", "y"]</arg_value><arg_key>o</arg_key>'
        '<arg_value>{"k": 1}</arg_value><arg_key>z</arg_key><arg_value>null</arg_value>'
        "</tool_call>",
        msg(
            None,
            [
                call(
                    "typed",
                    '{"n": 42, "f": 3.5, "b": true, "a": ["x", "y"], "o": {"k": 1}, "z": null}',
                )
            ],
        ),
    ),
    Case(
        "python_literals_accepted",
        "<tool_call>typed<arg_key>b</arg_key><arg_value>True</arg_value><arg_key>z</arg_key>"
        "<arg_value>None</arg_value><arg_key>a</arg_key><arg_value>['a', 'b']</arg_value>"
        "<arg_key>o</arg_key><arg_value>{'k': (1, 2)}</arg_value></tool_call>",
        msg(None, [call("typed", '{"b": true, "z": null, "a": ["a", "b"], "o": {"k": [1, 2]}}')]),
    ),
    Case(
        "unparsable_non_string_value_kept_raw",
        "<tool_call>typed<arg_key>n</arg_key><arg_value>about 3</arg_value></tool_call>",
        msg(None, [call("typed", '{"n": "about 3"}')]),
    ),
    Case(
        "nan_and_infinity_never_produced",
        "<tool_call>typed<arg_key>f</arg_key><arg_value>NaN</arg_value><arg_key>n</arg_key>"
        "<arg_value>1e999</arg_value><arg_key>x</arg_key><arg_value>-Infinity</arg_value>"
        "</tool_call>",
        msg(None, [call("typed", '{"f": "NaN", "n": "1e999", "x": "-Infinity"}')]),
    ),
    Case(
        "undeclared_keys_use_json_then_literal_then_raw",
        "<tool_call>other<arg_key>n</arg_key><arg_value>42</arg_value><arg_key>l</arg_key>"
        "<arg_value>[1, 2]</arg_value><arg_key>w</arg_key><arg_value>Seoul</arg_value>"
        "<arg_key>d</arg_key><arg_value>2024-06-27</arg_value></tool_call>",
        msg(None, [call("other", '{"n": 42, "l": [1, 2], "w": "Seoul", "d": "2024-06-27"}')]),
    ),
    Case(
        "unicode_kept_literally",
        "<tool_call>get_weather<arg_key>location</arg_key><arg_value>서울 🌧</arg_value>"
        '<arg_key>note</arg_key><arg_value>"café"</arg_value></tool_call>',
        msg(None, [call("get_weather", '{"location": "서울 🌧", "note": "café"}')]),
    ),
    Case(
        "values_with_newlines_quotes_backslashes_and_markup",
        '<tool_call>search<arg_key>query</arg_key><arg_value>line1\nsay "hi" \\ a<b & '
        "<i>x</i> </arg_key> <tool_call></arg_value></tool_call>",
        msg(
            None,
            [
                call(
                    "search",
                    '{"query": "line1\\nsay \\"hi\\" \\\\ a<b & <i>x</i> </arg_key> <tool_call>"}',
                )
            ],
        ),
    ),
    # -- real-world deviations (glm-format.md section 4) -------------------------------------
    Case(
        "spaces_instead_of_newlines",
        "Let me look: <tool_call>ls <arg_key>dirPath</arg_key> <arg_value>backend</arg_value> "
        "</tool_call>",
        msg("Let me look: ", [call("ls", '{"dirPath": "backend"}')]),
    ),
    *[
        Case(
            f"stop_token_stripped_{token.strip('<|>')}",
            f"<tool_call>get_time</tool_call>{token}",
            msg(None, [call("get_time", "{}")]),
        )
        for token in ("<|observation|>", "<|user|>", "<|endoftext|>", "<|assistant|>")
    ],
    Case(
        "missing_arg_key_opener_recovered_by_declared_name",
        "<tool_call>send_command_to_shellcommand</arg_key><arg_value>echo test</arg_value>"
        "</tool_call>",
        msg(None, [call("send_command_to_shell", '{"command": "echo test"}')]),
    ),
    Case(
        "missing_arg_key_opener_after_newline",
        "<tool_call>search\nquery</arg_key>\n<arg_value>glm</arg_value>\n</tool_call>",
        msg(None, [call("search", '{"query": "glm"}')]),
    ),
    Case(
        "missing_arg_value_opener",
        "<tool_call>search<arg_key>query</arg_key>how many days left</arg_value></tool_call>",
        msg(None, [call("search", '{"query": "how many days left"}')]),
    ),
    Case(
        "stray_and_doubled_closers",
        "<tool_call>search<arg_key>query</arg_key></arg_key><arg_value>/data/x</arg_value>"
        "</tool_call></tool_call>Next",
        msg("Next", [call("search", '{"query": "/data/x"}')]),
    ),
    Case(
        "stray_tool_call_before_a_real_one",
        "I will call <tool_call><tool_call>get_weather</tool_call>",
        msg("I will call ", [call("get_weather", "{}")]),
    ),
    Case(
        "json_inside_tool_call",
        '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Seoul", "days": 3}}\n'
        "</tool_call>",
        msg(None, [call("get_weather", WEATHER_ARGS)]),
    ),
    Case(
        "json_inside_tool_call_with_string_arguments",
        '<tool_call>{"name": "get_time", "arguments": "{}"}</tool_call>',
        msg(None, [call("get_time", "{}")]),
    ),
    Case(
        "broken_json_inside_tool_call_returned_as_text",
        'A <tool_call>{"name": "f", "arguments": {</tool_call>',
        msg('A <tool_call>{"name": "f", "arguments": {</tool_call>'),
    ),
    # -- a call cut off by the end of the output is not a call (glm-format.md 4.8) ----------
    Case(
        "truncated_inside_a_string_value",
        "Sure. <tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seo",
        msg("Sure. <tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seo"),
        cut_off=True,
    ),
    Case(
        "truncated_before_any_value_is_only_text",
        "Sure. <tool_call>get_weather\n<arg_key>loca",
        msg("Sure. <tool_call>get_weather\n<arg_key>loca"),
    ),
    Case(
        "truncated_inside_the_name_is_only_text",
        "Sure.\n<tool_call>get_wea",
        msg("Sure.\n<tool_call>get_wea"),
    ),
    Case(
        "truncated_inside_a_partial_tag",
        "<tool_call>get_weather<arg_key>days</arg_key><arg_value>3</arg_val",
        msg("<tool_call>get_weather<arg_key>days</arg_key><arg_value>3</arg_val"),
        cut_off=True,
    ),
    Case(
        "truncated_after_a_value_closer",
        "<tool_call>search<arg_key>query</arg_key><arg_value>cats</arg_value>\n",
        msg("<tool_call>search<arg_key>query</arg_key><arg_value>cats</arg_value>\n"),
        cut_off=True,
    ),
    Case(
        "truncated_second_call_leaves_the_first",
        "<tool_call>get_time</tool_call>\n<tool_call>search<arg_key>query</arg_key><arg_value>ca",
        msg(
            "<tool_call>search<arg_key>query</arg_key><arg_value>ca",
            [call("get_time", "{}")],
        ),
        cut_off=True,
    ),
    Case("truncated_text_ending_in_partial_tag", "Hello <think", msg("Hello <think")),
    # -- </arg_value> inside a value (glm-format.md 4.12) ------------------------------------
    Case(
        "value_closer_inside_a_value_is_text",
        "<tool_call>search<arg_key>query</arg_key><arg_value>code </arg_value> more</arg_value>"
        "</tool_call>",
        msg(None, [call("search", '{"query": "code </arg_value> more"}')]),
    ),
    Case(
        "value_closer_then_whitespace_then_text_is_text",
        "<tool_call>search<arg_key>query</arg_key><arg_value>a</arg_value>\n  b</arg_value>\n"
        "</tool_call>",
        msg(None, [call("search", '{"query": "a</arg_value>\\n  b"}')]),
    ),
    Case(
        "value_closer_then_another_tag_is_text",
        "<tool_call>search<arg_key>query</arg_key><arg_value>x</arg_value></arg_value>"
        "<arg_key>n</arg_key><arg_value>1</arg_value></tool_call>",
        msg(None, [call("search", '{"query": "x</arg_value>", "n": 1}')]),
    ),
    Case(
        "value_closer_then_a_new_call_ends_the_call",
        "<tool_call>search<arg_key>query</arg_key><arg_value>a</arg_value>\n"
        "<tool_call>get_time</tool_call>",
        msg(None, [call("search", '{"query": "a"}'), call("get_time", "{}", 1)]),
    ),
    # -- tags outside a call, tags in the wrong place (glm-format.md 4.13) ------------------
    Case(
        "argument_markup_outside_a_call_is_removed",
        "Done.<arg_key>x</arg_key><arg_value>y</arg_value> ok",
        msg("Done.xy ok"),
    ),
    Case(
        "extra_closers_after_a_call_are_removed",
        "<tool_call>get_time</tool_call></arg_value></arg_key></tool_call>\nNext",
        msg("\nNext", [call("get_time", "{}")]),
    ),
    Case(
        "value_opener_whose_text_ends_in_key_closer_is_a_key",
        "<tool_call>get_weather<arg_value>location</arg_key><arg_value>Seoul</arg_value>"
        "</tool_call>",
        msg(None, [call("get_weather", '{"location": "Seoul"}')]),
    ),
    Case(
        "key_closed_by_a_value_closer",
        "<tool_call>search<arg_key>query</arg_value><arg_value>cats</arg_value></tool_call>",
        msg(None, [call("search", '{"query": "cats"}')]),
    ),
    Case(
        "value_without_a_key_takes_the_only_parameter",
        "<tool_call>search<arg_value>cats</arg_value></tool_call>",
        msg(None, [call("search", '{"query": "cats"}')]),
    ),
    # -- the <tool_call> opener left out by the backend (glm-format.md 4.4) ----------------
    Case(
        "call_without_its_opener_after_text",
        "Let me check.get_weather<arg_key>location</arg_key><arg_value>Seoul</arg_value>"
        "</tool_call>",
        msg("Let me check.", [call("get_weather", '{"location": "Seoul"}')]),
    ),
    Case(
        "call_without_its_opener_45_layout",
        "Sure.\nget_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
        "</tool_call>",
        msg("Sure.", [call("get_weather", '{"location": "Seoul"}')]),
    ),
    Case(
        "call_without_its_opener_glued_to_a_word",
        "the weatherget_weather<arg_key>location</arg_key><arg_value>Seoul</arg_value></tool_call>",
        msg("the weather", [call("get_weather", '{"location": "Seoul"}')]),
    ),
    Case(
        "undeclared_name_before_a_key_is_text",
        "look_up<arg_key>q</arg_key><arg_value>x</arg_value>",
        msg("look_upqx"),
    ),
    Case(
        "beginning_of_a_tool_name_in_prose_is_released",
        "I will get_wea",
        msg("I will get_wea"),
    ),
    Case(
        "tool_name_and_newline_in_prose_is_released",
        "Call search\nlater.",
        msg("Call search\nlater."),
    ),
    # -- duplicate keys: once, the last value (glm-format.md section 2) ----------------------
    Case(
        "duplicate_keys_last_value_once",
        "<tool_call>typed<arg_key>n</arg_key><arg_value>1</arg_value><arg_key>s</arg_key>"
        "<arg_value>a</arg_value><arg_key>n</arg_key><arg_value>2</arg_value><arg_key>s</arg_key>"
        "<arg_value>b</arg_value></tool_call>",
        msg(None, [call("typed", '{"n": 2, "s": "b"}')]),
    ),
    # -- options -------------------------------------------------------------------------------
    Case(
        "no_tool_parsing_when_disabled",
        "<think>r</think>" + WEATHER_45,
        msg(WEATHER_45, None, "r"),
        {"parse_tool_calls": False},
    ),
    Case(
        "long_non_string_value_past_the_cap_becomes_a_string",
        "<tool_call>typed<arg_key>n</arg_key><arg_value>" + "9" * 300 + "</arg_value></tool_call>",
        msg(None, [call("typed", '{"n": "' + "9" * 300 + '"}')]),
        {"max_buffer": 260},
    ),
    Case(
        "whitespace_run_past_the_cap_is_released",
        "A" + " " * 300 + "<tool_call>get_time</tool_call>",
        msg("A" + " " * 300, [call("get_time", "{}")]),
        {"max_buffer": 260},
    ),
]
