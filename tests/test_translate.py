"""``plan_for`` and ``translate_completion``: whole answers."""

from __future__ import annotations

from typing import Any

import pytest

from glm_proxy.conversion.plan import plan_for
from glm_proxy.dialects.glm.render import Style, render_call
from glm_proxy.fronts.openai_chat.render import translate_completion
from support.translating import (
    EXPECTED_CALLS,
    TOOLS,
    calls_of,
    completion,
    full_output,
    request,
)


def test_plan_reads_the_request() -> None:
    translation = request("4.7", parallel_tool_calls=False)
    assert translation.parser.parse_tool_calls
    assert translation.parser.starts_in_reasoning
    assert list(translation.parser.tools) == TOOLS
    assert not translation.parallel_tool_calls
    assert translation.model == "glm-4.7"
    assert translation.dialect == "glm"
    assert request().parallel_tool_calls
    assert request(parallel_tool_calls=None).parallel_tool_calls


@pytest.mark.parametrize(
    ("extra", "parse"),
    [
        ({}, True),
        ({"tool_choice": "auto"}, True),
        ({"tool_choice": "required"}, True),
        ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, True),
        ({"tool_choice": "none"}, False),
        ({"tools": []}, False),
        ({"tools": None}, False),
    ],
)
def test_plan_parses_calls_only_with_tools_and_not_none(extra: dict[str, Any], parse: bool) -> None:
    assert request(**extra).parser.parse_tool_calls is parse


def test_plan_options() -> None:
    body = {"model": "glm", "messages": []}
    plan = plan_for(body, starts_in_reasoning=False, max_buffer=1000)
    assert plan.parser.max_buffer == 1000
    assert not plan.parser.parse_tool_calls
    assert plan.model == "glm"


def test_completion_custom_reasoning_field() -> None:
    response = completion("<think>Hmm.</think>Yes.")
    result, _ = translate_completion(response, request(), "reasoning")
    message = result["choices"][0]["message"]
    assert (message["reasoning"], message["content"]) == ("Hmm.", "Yes.")
    assert "reasoning_content" not in message


@pytest.mark.parametrize("style", ["4.5", "4.7"])
def test_completion_converts_reasoning_text_and_calls(style: Style) -> None:
    response = completion(full_output(style))
    result, converted = translate_completion(response, request(style))
    assert converted == 3
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check both."
    assert message["reasoning_content"] == "The user wants weather."
    assert calls_of(message) == EXPECTED_CALLS
    assert all(call["id"].startswith("call_") for call in message["tool_calls"])
    assert all(call["type"] == "function" for call in message["tool_calls"])
    # Everything else is kept as the backend sent it.
    assert {key: result[key] for key in result if key != "choices"} == {
        key: response[key] for key in response if key != "choices"
    }
    assert "logprobs" in choice
    assert choice["logprobs"] is None
    assert response["choices"][0]["message"]["content"] == full_output(style)  # not mutated


def test_completion_keeps_extra_message_and_choice_fields() -> None:
    response = completion("Hi " + render_call("get_time", {}), refusal=None, annotations=[])
    response["choices"][0]["stop_reason"] = 151336
    result, _ = translate_completion(response, request())
    choice = result["choices"][0]
    assert choice["stop_reason"] == 151336
    assert choice["message"]["refusal"] is None
    assert choice["message"]["annotations"] == []
    assert calls_of(choice["message"]) == [("get_time", {})]


def test_completion_without_calls_keeps_finish_and_text() -> None:
    result, converted = translate_completion(completion("Just text."), request())
    assert converted == 0
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["choices"][0]["message"] == {"role": "assistant", "content": "Just text."}


def test_completion_whitespace_only_content_becomes_none_with_calls() -> None:
    response = completion("\n  \n" + render_call("get_time", {}) + "\n")
    result, _ = translate_completion(response, request())
    assert result["choices"][0]["message"]["content"] is None


def test_completion_length_stays_length() -> None:
    raw = "Checking. " + render_call("get_weather", {"city": "Paris"})
    truncated = raw[: raw.index("Paris") + 3]
    for text in (raw, truncated):
        result, _ = translate_completion(completion(text, finish="length"), request())
        assert result["choices"][0]["finish_reason"] == "length"
    result, _ = translate_completion(completion(truncated, finish="length"), request())
    assert "<arg_value>Par" in result["choices"][0]["message"]["content"]  # nothing is lost


def test_completion_parallel_false_keeps_the_first_call() -> None:
    result, converted = translate_completion(
        completion(full_output("4.5")), request(parallel_tool_calls=False)
    )
    assert converted == 1
    assert calls_of(result["choices"][0]["message"]) == EXPECTED_CALLS[:1]
    assert result["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_completion_backend_split_reasoning_with_a_call_inside(key: str) -> None:
    reasoning = "I should look it up." + render_call("get_weather", {"city": "Paris"}, "4.7")
    result, converted = translate_completion(completion("", **{key: reasoning}), request())
    assert converted == 1
    message = result["choices"][0]["message"]
    assert message["reasoning_content"] == "I should look it up."
    assert "reasoning" not in message
    assert message["content"] is None
    assert calls_of(message) == [("get_weather", {"city": "Paris"})]
    assert result["choices"][0]["finish_reason"] == "tool_calls"


def test_completion_with_backend_tool_calls_and_glm_text_keeps_both() -> None:
    """glm-format.md 4.14: calls the backend parsed come first, converted ones after."""
    parsed = [{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    text = "Also:<tool_call>get_time</tool_call>"
    response = completion(text, tool_calls=parsed, finish="tool_calls")
    result, converted = translate_completion(response, request())
    assert converted == 1
    message = result["choices"][0]["message"]
    assert message["content"] == "Also:"
    assert calls_of(message) == [("f", {}), ("get_time", {})]
    ids = [call["id"] for call in message["tool_calls"]]
    assert ids[0] == "call_x"
    assert len(set(ids)) == 2
    assert result["choices"][0]["finish_reason"] == "tool_calls"


def test_completion_with_backend_tool_calls_only_is_unchanged() -> None:
    parsed = [{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    response = completion(None, tool_calls=parsed, finish="tool_calls")
    result, converted = translate_completion(response, request())
    assert converted == 0
    assert result["choices"][0] == response["choices"][0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, None),
        (
            [
                {"type": "text", "text": "Hi "},
                {"type": "text", "text": render_call("get_time", {})},
            ],
            "Hi ",
        ),
        ([{"type": "image_url", "image_url": {"url": "x"}}], "unchanged"),
        (42, "unchanged"),
    ],
)
def test_completion_odd_content_does_not_crash(content: Any, expected: Any) -> None:
    response = completion("x")
    response["choices"][0]["message"]["content"] = content
    result, _ = translate_completion(response, request())
    message = result["choices"][0]["message"]
    if expected == "unchanged":
        assert message == response["choices"][0]["message"]
    else:
        assert message["content"] == expected


def test_completion_without_choices_is_returned_as_is() -> None:
    assert translate_completion({"object": "chat.completion"}, request()) == (
        {"object": "chat.completion"},
        0,
    )
    response = completion("x")
    response["choices"] = [None, {"index": 1}]
    assert translate_completion(response, request())[0]["choices"] == [None, {"index": 1}]


def test_completion_n2_choices_are_independent() -> None:
    response = completion(full_output("4.5"), "No tools needed.")
    result, converted = translate_completion(response, request())
    assert converted == 3
    first, second = result["choices"]
    assert calls_of(first["message"]) == EXPECTED_CALLS
    assert first["finish_reason"] == "tool_calls"
    assert second["message"] == {"role": "assistant", "content": "No tools needed."}
    assert second["finish_reason"] == "stop"
