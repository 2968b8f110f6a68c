"""The proxy as users see it: the official openai SDK against the real server and a scripted
GLM backend. Covers the original README's examples and stream/non-stream equivalence."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessage,
    ChatCompletionMessageParam,
)

from conftest import RunningProxy
from support.scripted_backend import Script, ScriptedBackend
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name"},
                "days": {"type": "integer"},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]
USER: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What's the weather like in Seoul?"}
]

SEOUL_CALL_45 = (
    "\n<think>The user asks for the weather in Seoul.</think>\n"
    "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n</tool_call>"
)

# Raw outputs for the equivalence tests: (model, output).
OUTPUTS = {
    "4.5 style, two calls, reasoning and text": (
        "glm-4.5-air",
        "\n<think>Two cities: call the tool twice.</think>\nI'll check both cities.\n"
        "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
        "</tool_call>\n<tool_call>get_weather\n<arg_key>location</arg_key>\n"
        '<arg_value>Busan, "Korea" <b>&</b>\nline two</arg_value>\n<arg_key>days</arg_key>\n'
        "<arg_value>3</arg_value>\n</tool_call>",
    ),
    "4.7 style, starts in reasoning, zero-argument call": (
        "glm-4.7",
        "Need the weather and the time.</think>Checking now."
        "<tool_call>get_weather<arg_key>location</arg_key><arg_value>서울 ☀️</arg_value>"
        "</tool_call><tool_call>get_time</tool_call>",
    ),
    "text only, with reasoning and unicode": (
        "glm-4.6",
        "<think>Just answer.</think>서울은 맑고 따뜻합니다 ☀️ — no tool needed.",
    ),
}


def summary(message: Any, finish_reason: str | None) -> dict[str, Any]:
    """What must agree between the ways of reading a response (call ids differ per request).

    Clients that add up deltas get ``""`` where a non-streamed message has ``null`` content.
    """
    if isinstance(message, dict):
        calls = message.get("tool_calls") or []
        return {
            "content": message.get("content") or None,
            "reasoning": message.get("reasoning_content"),
            "calls": [(c["function"]["name"], c["function"]["arguments"]) for c in calls],
            "finish_reason": finish_reason,
        }
    extra = message.model_extra or {}
    return {
        "content": message.content or None,
        "reasoning": extra.get("reasoning_content"),
        "calls": [(c.function.name, c.function.arguments) for c in message.tool_calls or ()],
        "finish_reason": finish_reason,
    }


def test_plain_chat(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content="Hello! How can I help you today?"))
    response = client.chat.completions.create(
        model="glm-4.5-air", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert response.choices[0].message.content == "Hello! How can I help you today?"
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.total_tokens == 18


def test_tool_call_becomes_tool_calls(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content=SEOUL_CALL_45))
    response = client.chat.completions.create(model="glm-4.5-air", messages=USER, tools=TOOLS)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Seoul"}
    assert (choice.message.model_extra or {})["reasoning_content"] == (
        "The user asks for the weather in Seoul."
    )


def test_streaming_text(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    # Chunks 5 ms apart, as a model writes them: each goes out on its own (chunks that arrive
    # together are translated together, and may be merged).
    story = "Once upon a time, a proxy fixed tool calls."
    backend.script(Script(content=story, chunk_size=4, delay=0.005))
    stream = client.chat.completions.create(
        model="glm-4.5-air", messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    )
    chunks = list(stream)
    check_stream([chunk.model_dump(exclude_unset=True) for chunk in chunks])
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]
    assert "".join(pieces) == "Once upon a time, a proxy fixed tool calls."
    assert len([p for p in pieces if p]) > 1  # it really streamed


def test_two_step_tool_round_trip(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content=SEOUL_CALL_45), Script(content="It is sunny in Seoul, 24°C."))
    messages: list[Any] = list(USER)  # the SDK's message objects go back in as dicts
    first = client.chat.completions.create(model="glm-4.5-air", messages=messages, tools=TOOLS)
    assistant = first.choices[0].message
    assert assistant.tool_calls is not None
    call = assistant.tool_calls[0]
    messages.append(assistant.model_dump(exclude_none=True))
    result = json.dumps({"location": "Seoul", "temperature": 24, "condition": "sunny"})
    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = client.chat.completions.create(model="glm-4.5-air", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "It is sunny in Seoul, 24°C."
    assert second.choices[0].finish_reason == "stop"
    sent = backend.requests[-1].json()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"location": "Seoul"}'
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": result}


@pytest.mark.parametrize("chunk_size", [1, 3, 7, None])
@pytest.mark.parametrize("case", list(OUTPUTS))
def test_streamed_results_equal_the_non_streamed_one(
    client: openai.OpenAI,
    proxy: RunningProxy,
    backend: ScriptedBackend,
    case: str,
    chunk_size: int | None,
) -> None:
    model, output = OUTPUTS[case]
    # The same output four times: whole, and streamed to three different readers.
    backend.script(Script(content=output), *[Script(content=output, chunk_size=chunk_size)] * 3)
    whole = client.chat.completions.create(model=model, messages=USER, tools=TOOLS)
    expected = summary(whole.choices[0].message, whole.choices[0].finish_reason)

    with client.chat.completions.stream(model=model, messages=USER, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    assert summary(final.choices[0].message, final.choices[0].finish_reason) == expected

    chunks = client.chat.completions.create(model=model, messages=USER, tools=TOOLS, stream=True)
    dumped = [chunk.model_dump(exclude_unset=True) for chunk in chunks]
    check_stream(dumped)
    [iterated] = accumulate_choices(dumped)
    assert summary(iterated["message"], iterated.get("finish_reason")) == expected

    raw = httpx.post(
        proxy.base_url + "/chat/completions",
        json={"model": model, "messages": USER, "tools": TOOLS, "stream": True},
    )
    wire_chunks = check_sse_bytes(raw.content)
    check_stream(wire_chunks)
    assert raw.content.endswith(b"data: [DONE]\n\n")
    if expected["calls"]:
        assert expected["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("write_size", [1, 5, 64])
def test_sse_events_split_anywhere_by_the_backend(
    proxy: RunningProxy, backend: ScriptedBackend, write_size: int
) -> None:
    model, output = OUTPUTS["4.7 style, starts in reasoning, zero-argument call"]
    backend.script(
        Script(content=output), Script(content=output, chunk_size=2, write_size=write_size)
    )
    body = {"model": model, "messages": USER, "tools": TOOLS}
    whole = httpx.post(proxy.base_url + "/chat/completions", json=body).json()["choices"][0]
    raw = httpx.post(proxy.base_url + "/chat/completions", json={**body, "stream": True})
    chunks = check_sse_bytes(raw.content)
    check_stream(chunks)
    [streamed] = accumulate_choices(chunks)
    assert summary(streamed["message"], streamed["finish_reason"]) == summary(
        whole["message"], whole["finish_reason"]
    )


def test_usage_chunk_comes_last_when_asked(
    client: openai.OpenAI, proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=SEOUL_CALL_45, chunk_size=5))
    body = {
        "model": "glm-4.5-air",
        "messages": USER,
        "tools": TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    raw = httpx.post(proxy.base_url + "/chat/completions", json=body)
    chunks = check_sse_bytes(raw.content)
    check_stream(chunks, include_usage=True)
    assert chunks[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_several_choices_are_translated_each_on_its_own(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    outputs = [SEOUL_CALL_45, "<think>No tool.</think>Just text."]
    backend.script(Script(content=outputs), Script(content=outputs, chunk_size=3))
    whole = client.chat.completions.create(model="glm-4.5", messages=USER, tools=TOOLS, n=2)
    expected = [summary(c.message, c.finish_reason) for c in whole.choices]
    assert [e["finish_reason"] for e in expected] == ["tool_calls", "stop"]
    assert expected[1]["content"] == "Just text."
    chunks = client.chat.completions.create(
        model="glm-4.5", messages=USER, tools=TOOLS, n=2, stream=True
    )
    dumped = [chunk.model_dump(exclude_unset=True) for chunk in chunks]
    check_stream(dumped)
    streamed = [summary(c["message"], c.get("finish_reason")) for c in accumulate_choices(dumped)]
    assert streamed == expected


def test_parallel_tool_calls_false_returns_only_the_first_call(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    _, output = OUTPUTS["4.5 style, two calls, reasoning and text"]
    backend.script(Script(content=output))
    response = client.chat.completions.create(
        model="glm-4.5", messages=USER, tools=TOOLS, parallel_tool_calls=False
    )
    calls = response.choices[0].message.tool_calls
    assert calls is not None
    assert [json.loads(c.function.arguments) for c in calls if c.type == "function"] == [
        {"location": "Seoul"}
    ]
    assert backend.requests[-1].json()["parallel_tool_calls"] is False


def test_reasoning_split_off_by_the_backend_passes_through_and_calls_in_it_are_recovered(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    reasoning = (
        "I should look it up.<tool_call>get_weather<arg_key>location</arg_key>"
        "<arg_value>Seoul</arg_value></tool_call>"
    )
    backend.script(
        Script(content="", reasoning=reasoning),
        Script(content="", reasoning=reasoning, chunk_size=4, reasoning_field="reasoning"),
    )
    whole = client.chat.completions.create(model="glm-4.7", messages=USER, tools=TOOLS)
    expected = summary(whole.choices[0].message, whole.choices[0].finish_reason)
    assert expected == {
        "content": None,
        "reasoning": "I should look it up.",
        "calls": [("get_weather", '{"location": "Seoul"}')],
        "finish_reason": "tool_calls",
    }
    with client.chat.completions.stream(model="glm-4.7", messages=USER, tools=TOOLS) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
    check_stream([chunk.model_dump(exclude_unset=True) for chunk in chunks])
    assert summary(final.choices[0].message, final.choices[0].finish_reason) == expected


def test_tool_choice_none_leaves_the_markup_as_text(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=SEOUL_CALL_45))
    response = client.chat.completions.create(
        model="glm-4.5", messages=USER, tools=TOOLS, tool_choice="none"
    )
    message: ChatCompletionMessage = response.choices[0].message
    assert message.tool_calls is None
    assert message.content is not None
    assert "<tool_call>get_weather" in message.content
    assert response.choices[0].finish_reason == "stop"
