"""The openai SDK against the real proxy on what real GLM setups send (glm-format.md 1, 2, 4.8,
4.14): reasoning split off by the backend (both field names), a digit-string Enum through
``.parse()``, a call cut off by ``max_tokens``, and calls the backend parsed itself mixed with
GLM text. Each through ``create``, ``create(stream=True)`` and the ``.stream()`` helper."""

from __future__ import annotations

import enum
import json
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

from support.scripted_backend import Script, ScriptedBackend
from support.wirecheck import accumulate_choices, check_stream

WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
SEARCH: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {"type": "object", "properties": {"s": {"type": "string"}}},
    },
}
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Seoul?"}]
CALLING = (
    "Sure, checking now.<tool_call>get_weather<arg_key>location</arg_key>"
    "<arg_value>Seoul</arg_value></tool_call>"
)
FIELDS = ["reasoning_content", "reasoning"]


def reasoning_of(message: Any) -> Any:
    return (message.model_extra or {}).get("reasoning_content")


def calls_of(message: Any) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each function call of an SDK message."""
    return [
        (call.id, call.function.name, call.function.arguments)
        for call in message.tool_calls or ()
        if isinstance(call, ChatCompletionMessageFunctionToolCall)
    ]


# -- 1. where content starts ------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("content", ["The answer is 4.", CALLING])
def test_glm47_with_reasoning_split_by_the_backend(
    client: openai.OpenAI, backend: ScriptedBackend, field: str, content: str
) -> None:
    script = Script(content=content, reasoning="I should check.", reasoning_field=field)
    backend.script(script, script, script)
    tools = [WEATHER] if "<tool_call>" in content else []
    answer = client.chat.completions.create(model="glm-4.7", messages=USER, tools=tools)
    message = answer.choices[0].message
    assert reasoning_of(message) == "I should check."
    expected_text = content.split("<tool_call>")[0]
    assert message.content == expected_text
    if tools:
        assert [c[1:] for c in calls_of(message)] == [("get_weather", '{"location": "Seoul"}')]
        assert answer.choices[0].finish_reason == "tool_calls"

    stream = client.chat.completions.create(
        model="glm-4.7", messages=USER, tools=tools, stream=True
    )
    chunks = [chunk.model_dump(exclude_unset=True) for chunk in stream]
    check_stream(chunks)
    (choice,) = accumulate_choices(chunks)
    assert choice["message"]["content"] == expected_text
    assert choice["message"]["reasoning_content"] == "I should check."

    with client.chat.completions.stream(model="glm-4.7", messages=USER, tools=tools) as helper:
        final = helper.get_final_completion()
    assert final.choices[0].message.content == expected_text


@pytest.mark.parametrize(
    "extra",
    [
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"thinking": {"type": "disabled"}},
        {"reasoning_effort": "none"},
    ],
)
def test_glm47_with_thinking_off(
    client: openai.OpenAI, backend: ScriptedBackend, extra: dict[str, Any]
) -> None:
    backend.script(Script(content="The answer is 4."), Script(content="The answer is 4."))
    answer = client.chat.completions.create(model="glm-4.7", messages=USER, extra_body=extra)
    assert answer.choices[0].message.content == "The answer is 4."
    assert reasoning_of(answer.choices[0].message) is None
    with client.chat.completions.stream(model="glm-4.7", messages=USER, extra_body=extra) as s:
        assert s.get_final_completion().choices[0].message.content == "The answer is 4."


# -- 2. typing through references: .parse() with a digit-string Enum ----------------------


class Zip(enum.StrEnum):
    MISSION = "94110"
    CHELSEA = "10001"


class Lookup(pydantic.BaseModel):
    zip: Zip
    days: int


LOOKUP_CALL = (
    "<tool_call>Lookup<arg_key>zip</arg_key><arg_value>94110</arg_value>"
    "<arg_key>days</arg_key><arg_value>3</arg_value></tool_call>"
)


def test_parse_accepts_a_digit_string_enum(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content=LOOKUP_CALL), Script(content=LOOKUP_CALL, chunk_size=5))
    tools = [openai.pydantic_function_tool(Lookup)]
    parsed = client.chat.completions.parse(model="glm-4.5", messages=USER, tools=tools)
    (call,) = parsed.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == Lookup(zip=Zip.MISSION, days=3)
    with client.chat.completions.stream(model="glm-4.5", messages=USER, tools=tools) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == Lookup(zip=Zip.MISSION, days=3)


# -- 3. a call cut off by max_tokens -------------------------------------------------------

CUT = "Writing it.<tool_call>search<arg_key>s</arg_key><arg_value>half of the fi"


def test_a_cut_off_call_is_no_call(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(
        Script(content=CUT, finish_reason="length"),
        Script(content=CUT, finish_reason="length", chunk_size=4),
        Script(content=CUT, finish_reason="length", chunk_size=4),
    )
    answer = client.chat.completions.create(model="glm-4.5", messages=USER, tools=[SEARCH])
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content == CUT  # nothing lost

    stream = client.chat.completions.create(
        model="glm-4.5", messages=USER, tools=[SEARCH], stream=True
    )
    chunks = [chunk.model_dump(exclude_unset=True) for chunk in stream]
    check_stream(chunks)
    (choice,) = accumulate_choices(chunks)
    assert choice["finish_reason"] == "length"
    (call,) = choice["message"]["tool_calls"]
    with pytest.raises(json.JSONDecodeError):  # announced, never finished: it does not parse
        json.loads(call["function"]["arguments"])

    with (
        client.chat.completions.stream(model="glm-4.5", messages=USER, tools=[SEARCH]) as helper,
        pytest.raises(openai.LengthFinishReasonError),  # the SDK's own word for a cut answer
    ):
        helper.get_final_completion()


# -- 6. calls the backend parsed itself, mixed with GLM text -------------------------------

MIXED = Script(
    content="<tool_call>search<arg_key>s</arg_key><arg_value>hello</arg_value></tool_call>",
    tool_calls=(("get_weather", '{"location": "Seoul"}'),),
    finish_reason="tool_calls",
    chunk_size=6,
)


def test_backend_calls_and_glm_calls_are_both_kept(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(MIXED, MIXED, MIXED)
    tools = [WEATHER, SEARCH]
    answer = client.chat.completions.create(model="glm-4.5", messages=USER, tools=tools)
    calls = calls_of(answer.choices[0].message)
    assert [call[1:] for call in calls] == [
        ("get_weather", '{"location": "Seoul"}'),
        ("search", '{"s": "hello"}'),
    ]
    assert len({call[0] for call in calls}) == 2

    with client.chat.completions.stream(model="glm-4.5", messages=USER, tools=tools) as helper:
        final = helper.get_final_completion()
    calls = calls_of(final.choices[0].message)
    # In the stream, the GLM text came first and the backend's parsed call after it.
    assert [call[1:] for call in calls] == [
        ("search", '{"s": "hello"}'),
        ("get_weather", '{"location": "Seoul"}'),
    ]
    assert len({call[0] for call in calls}) == 2

    stream = client.chat.completions.create(
        model="glm-4.5", messages=USER, tools=tools, stream=True
    )
    check_stream([chunk.model_dump(exclude_unset=True) for chunk in stream])
