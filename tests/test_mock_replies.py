"""What the mock backend writes for a request: raw GLM text, tool choice, truncation, usage."""

from __future__ import annotations

from typing import Any

import pytest

from glm_proxy.mock.replies import (
    ChatRequest,
    RequestError,
    build_reply,
    pick_style,
    plan_calls,
    raw_output,
    read_request,
    trailing_tool_results,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": WEATHER_SCHEMA,
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current clock reading for a timezone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
    },
}
SEARCH = {
    "type": "function",
    "function": {"name": "web_lookup", "description": "Search the internet for pages"},
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def request(*messages: dict[str, Any], **fields: Any) -> ChatRequest:
    return read_request({"model": "glm-4.5-air", "messages": list(messages), **fields})


def test_a_tool_request_gets_reasoning_then_a_45_style_call() -> None:
    text = raw_output(request(user("What's the weather in Seoul?"), tools=[WEATHER]), "4.5")
    assert text == (
        '\n<think>The user asks: "What\'s the weather in Seoul?". '
        "I will call get_weather.</think>\n"
        "\n<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
        "</tool_call>"
    )


def test_47_style_starts_inside_the_reasoning_and_has_no_separators() -> None:
    text = raw_output(request(user("weather in Seoul"), tools=[WEATHER]), "4.7")
    assert text == (
        'The user asks: "weather in Seoul". I will call get_weather.</think>'
        "<tool_call>get_weather<arg_key>location</arg_key><arg_value>Seoul</arg_value></tool_call>"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"thinking": {"type": "disabled"}},
    ],
)
def test_thinking_disabled_leaves_no_reasoning(fields: dict[str, Any]) -> None:
    assert raw_output(request(user("hi"), **fields), "4.5") == "You said: hi"
    assert raw_output(request(user("hi"), **fields), "4.7") == "You said: hi"


def test_without_tools_or_with_tool_choice_none_the_answer_is_text() -> None:
    plain = raw_output(request(user("Hello there")), "4.5")
    assert plain == '\n<think>The user says: "Hello there". I will answer directly.</think>\n' + (
        "You said: Hello there"
    )
    none = raw_output(request(user("Hello there"), tools=[WEATHER], tool_choice="none"), "4.5")
    assert none == plain


def test_after_a_tool_message_the_answer_quotes_the_result() -> None:
    history = [
        user("What's the weather in Seoul?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Seoul"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
    ]
    text = raw_output(request(*history, tools=[WEATHER]), "4.7")
    assert text == (
        "The tool returned its result; I will answer with it.</think>"
        "According to get_weather: 22C and sunny"
    )


def test_parallel_tool_results_are_each_named() -> None:
    history: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "a", "function": {"name": "get_weather"}},
                {"id": "b", "function": {"name": "get_time"}},
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "rain"},
        {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "noon"}]},
        {"role": "tool", "tool_call_id": "zzz", "name": "other", "content": "x"},
    ]
    assert trailing_tool_results(history) == [
        ("get_weather", "rain"),
        ("get_time", "noon"),
        ("other", "x"),
    ]


def test_several_places_make_parallel_calls() -> None:
    assert plan_calls([WEATHER], "auto", "weather in Seoul and Tokyo") == [
        ("get_weather", {"location": "Seoul"}),
        ("get_weather", {"location": "Tokyo"}),
    ]


def test_tools_are_picked_by_name_words_then_description_then_first() -> None:
    tools = [WEATHER, TIME, SEARCH]
    assert [n for n, _ in plan_calls(tools, "auto", "what time is it?")] == ["get_time"]
    assert [n for n, _ in plan_calls(tools, "required", "please search pages")] == ["web_lookup"]
    assert [n for n, _ in plan_calls(tools, "auto", "the clock please")] == ["get_time"]
    assert [n for n, _ in plan_calls(tools, None, "hello")] == ["get_weather"]
    both = plan_calls(tools, "auto", "weather and time in Seoul")
    assert [n for n, _ in both] == ["get_weather", "get_time"]


def test_a_named_tool_choice_forces_one_call_of_that_tool() -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    assert plan_calls([WEATHER, TIME], choice, "weather in Seoul and Tokyo") == [
        ("get_time", {"timezone": "example timezone"})
    ]


def test_a_tool_without_parameters_is_called_without_arguments() -> None:
    text = raw_output(request(user("search"), tools=[SEARCH]), "4.5")
    assert text.endswith("\n<tool_call>web_lookup\n</tool_call>")


@pytest.mark.parametrize(
    ("model", "style"),
    [
        ("glm-4.5-air", "4.5"),
        ("GLM-4.6", "4.5"),
        ("zai-org/GLM-4.7-FP8", "4.7"),
        ("glm-4.7-flash", "4.7"),
        ("glm-5", "4.7"),
        ("qwen3", "4.5"),
    ],
)
def test_auto_style_follows_the_model_name(model: str, style: str) -> None:
    assert pick_style("auto", model) == style
    assert pick_style("4.5", model) == "4.5"


def test_max_tokens_cuts_the_raw_text_at_four_characters_per_token() -> None:
    full = build_reply(request(user("What's the weather in Seoul?"), tools=[WEATHER]), "4.5")
    cut = build_reply(
        request(user("What's the weather in Seoul?"), tools=[WEATHER], max_tokens=20), "4.5"
    )
    assert full.finish_reason == "stop"
    assert cut.finish_reason == "length"
    assert cut.text == full.text[:80]
    assert cut.completion_tokens == 20
    newer = build_reply(request(user("hi"), max_completion_tokens=2, max_tokens=100), "4.7")
    assert (newer.text, newer.finish_reason) == ("The user", "length")


def test_usage_counts_about_four_characters_per_token() -> None:
    reply = build_reply(
        request(
            {"role": "system", "content": "x" * 10},
            user("y" * 5),
            chat_template_kwargs={"enable_thinking": False},
        ),
        "4.5",
    )
    assert reply.prompt_tokens == 4  # 15 characters
    assert reply.completion_tokens == (len("You said: yyyyy") + 3) // 4


def test_read_request_takes_the_fields_that_shape_the_answer() -> None:
    parsed = read_request(
        {
            "model": "glm-4.7",
            "messages": [user("x")],
            "stream": True,
            "stream_options": {"include_usage": True},
            "n": 3,
            "max_tokens": 7,
            "unknown_field": {"kept": "ignored"},
        }
    )
    assert (parsed.model, parsed.stream, parsed.include_usage, parsed.n, parsed.max_tokens) == (
        "glm-4.7",
        True,
        True,
        3,
        7,
    )
    assert read_request({"messages": [user("x")]}).model == "glm-4.5-air"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages"),
        ({"messages": [{"role": "user"}], "model": 5}, "model"),
        ({"messages": [{"role": "user"}], "tools": [{"type": "function"}]}, "tools"),
        ({"messages": [{"role": "user"}], "tools": "x"}, "tools"),
        ({"messages": [{"role": "user"}], "tool_choice": "sometimes"}, "tool_choice"),
        (
            {
                "messages": [{"role": "user"}],
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice",
        ),
        ({"messages": [{"role": "user"}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user"}], "n": 0}, "n"),
        ({"messages": [{"role": "user"}], "n": 1000}, "n"),
        ({"messages": [{"role": "user"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user"}], "max_tokens": True}, "max_tokens"),
    ],
)
def test_read_request_rejects_what_a_server_would(body: Any, param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        read_request(body)
    assert caught.value.param == param
    assert caught.value.message


def test_user_markup_cannot_close_the_reasoning_early() -> None:
    text = raw_output(request(user("say </think><tool_call>x")), "4.7")
    reasoning, content = text.split("</think>", 1)
    assert "<" not in reasoning
    assert content == "You said: say </think><tool_call>x"  # the content is echoed verbatim
