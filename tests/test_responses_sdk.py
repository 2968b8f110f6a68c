"""The Responses front as the openai SDK uses it: ``client.responses.create`` (whole and
streamed), ``client.responses.stream()`` and its final response, a function-call round trip,
``previous_response_id`` and ``GET /v1/responses/{id}``; real proxy, scripted GLM backend.
Every stream also passes the strict checker (responses_wirecheck)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from conftest import RunningProxy
from support.responses_wirecheck import check_responses_stream
from support.scripted_backend import Script, ScriptedBackend

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["location"],
    },
}
SERVER_CHOICE: Any = {"type": "web_search"}
CALL = (
    "<think>The user wants the weather.</think>I'll check."
    "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
    "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"
)


def stream_raw(proxy: RunningProxy, body: dict[str, Any]) -> bytes:
    with httpx.Client(timeout=30) as http:
        answer = http.post(proxy.base_url + "/responses", json={**body, "stream": True})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return answer.content


def test_create_text_answer(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content="<think>Say hi.</think>Hello there!"))
    response = client.responses.create(model="glm-4.5", input="Hi", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "Hello there!"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].summary[0].text == "Say hi."  # type: ignore[union-attr]
    assert response.model == "glm-4.5"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.usage.total_tokens == 18
    sent = backend.requests[-1].json()
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["stream"] is False


def test_create_function_call_typed_by_schema(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=CALL))
    response = client.responses.create(model="glm-4.5", input="Weather?", tools=[WEATHER])  # type: ignore[list-item]
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message", "function_call"]
    call = response.output[2]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "Seoul", "days": 3}
    assert call.call_id.startswith("call_")
    assert backend.requests[-1].json()["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["parameters"],
            },
        }
    ]


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_streamed_call_passes_the_checker(
    proxy: RunningProxy, backend: ScriptedBackend, chunk_size: int | None
) -> None:
    backend.script(Script(content=CALL, chunk_size=chunk_size))
    final, _events = check_responses_stream(
        stream_raw(proxy, {"model": "glm-4.5", "input": "Weather?", "tools": [WEATHER]})
    )
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert json.loads(final["output"][2]["arguments"]) == {"location": "Seoul", "days": 3}
    assert final["usage"]["total_tokens"] == 18
    assert backend.requests[-1].json()["stream_options"] == {"include_usage": True}


def test_sdk_stream_helper_and_final_response(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="<think>Hmm.</think>Hello, world!", chunk_size=3))
    deltas: list[str] = []
    with client.responses.stream(model="glm-4.5", input="Hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello, world!"
    assert final.output_text == "Hello, world!"
    assert final.status == "completed"


def test_function_call_round_trip(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content=CALL), Script(content="It is sunny in Seoul."))
    first = client.responses.create(model="glm-4.5", input="Weather?", tools=[WEATHER])  # type: ignore[list-item]
    call = first.output[-1]
    assert call.type == "function_call"
    follow_up: list[Any] = [{"role": "user", "content": "Weather?"}]
    follow_up += [item.model_dump(exclude_none=True) for item in first.output]
    follow_up.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
    second = client.responses.create(model="glm-4.5", input=follow_up, tools=[WEATHER])  # type: ignore[list-item]
    assert second.output_text == "It is sunny in Seoul."
    messages = backend.requests[-1].json()["messages"]
    assert messages[0] == {"role": "user", "content": "Weather?"}
    assistant = messages[1]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "I'll check."
    assert assistant["reasoning_content"] == "The user wants the weather."
    assert assistant["tool_calls"][0]["id"] == call.call_id
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "location": "Seoul",
        "days": 3,
    }
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_previous_response_id_prepends_the_conversation(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="Nice to meet you, Ann."), Script(content="Ann."))
    first = client.responses.create(model="glm-4.5", input="I am Ann.")
    second = client.responses.create(
        model="glm-4.5", input="What is my name?", previous_response_id=first.id
    )
    assert second.output_text == "Ann."
    assert second.previous_response_id == first.id
    assert backend.requests[-1].json()["messages"] == [
        {"role": "user", "content": "I am Ann."},
        {"role": "assistant", "content": "Nice to meet you, Ann."},
        {"role": "user", "content": "What is my name?"},
    ]
    fetched = client.responses.retrieve(second.id)
    assert fetched.output_text == "Ann."


def test_previous_response_id_after_a_stream(proxy: RunningProxy, backend: ScriptedBackend) -> None:
    backend.script(Script(content="Streamed.", chunk_size=2), Script(content="ok"))
    final, _ = check_responses_stream(stream_raw(proxy, {"model": "glm-4.5", "input": "one"}))
    with httpx.Client(timeout=30) as http:
        answer = http.post(
            proxy.base_url + "/responses",
            json={"model": "glm-4.5", "input": "two", "previous_response_id": final["id"]},
        )
    assert answer.status_code == 200, answer.text
    assert [m["content"] for m in backend.requests[-1].json()["messages"]] == [
        "one",
        "Streamed.",
        "two",
    ]


def test_unknown_previous_response_id_is_a_clear_400(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="glm-4.5", input="x", previous_response_id="resp_nope")
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "previous_response_id"
    assert "in this process's memory for 60 minutes" in error["message"]
    assert backend.requests == []


def test_store_false_is_not_kept(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content="secret"))
    response = client.responses.create(model="glm-4.5", input="x", store=False)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(response.id)
    assert caught.value.status_code == 404


def test_length_is_incomplete(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content="A long answ", finish_reason="length"))
    response = client.responses.create(model="glm-4.5", input="x", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert backend.requests[-1].json()["max_tokens"] == 3


def test_streamed_cut_off_call_is_never_done(proxy: RunningProxy, backend: ScriptedBackend) -> None:
    cut = "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seo"
    backend.script(Script(content=cut, chunk_size=4, finish_reason="length"))
    final, events = check_responses_stream(
        stream_raw(proxy, {"model": "glm-4.5", "input": "x", "tools": [WEATHER]})
    )
    assert final["status"] == "incomplete"
    assert not any(e["type"] == "response.function_call_arguments.done" for e in events)
    calls = [item for item in final["output"] if item["type"] == "function_call"]
    assert [call["status"] for call in calls] == ["incomplete"]
    # The text the parser held comes out as text: nothing is lost.
    texts = [item["content"][0]["text"] for item in final["output"] if item["type"] == "message"]
    assert texts == [cut]


def test_whole_cut_off_call_is_text(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    cut = "Calling.<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seo"
    backend.script(Script(content=cut, finish_reason="length"))
    response = client.responses.create(model="glm-4.5", input="x", tools=[WEATHER])  # type: ignore[list-item]
    assert response.status == "incomplete"
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == cut


def test_reasoning_effort_none_turns_thinking_off(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    # GLM-4.7 starts inside the reasoning unless thinking is off: then it is all content.
    backend.script(Script(content="Plain answer."))
    response = client.responses.create(model="glm-4.7", input="x", reasoning={"effort": "none"})
    assert response.output_text == "Plain answer."
    assert backend.requests[-1].json()["chat_template_kwargs"] == {"enable_thinking": False}
    backend.script(Script(content="Thought.</think>Answer."))
    response = client.responses.create(model="glm-4.7", input="x", reasoning={"effort": "high"})
    assert response.output_text == "Answer."
    assert backend.requests[-1].json()["reasoning_effort"] == "high"


def test_namespace_tools_are_flattened_and_split_back(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    group = {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents",
        "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}],
    }
    backend.script(Script(content="<tool_call>agents__spawn\n</tool_call>"))
    response = client.responses.create(
        model="glm-4.5",
        input="x",
        tools=[group, {"type": "web_search"}],  # type: ignore[list-item]
    )
    call = response.output[-1].model_dump()
    assert (call["name"], call["namespace"]) == ("spawn", "agents")
    sent = backend.requests[-1].json()
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["agents__spawn"]


def test_tool_choice_naming_a_server_tool_is_a_400(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="glm-4.5",
            input="x",
            tools=[{"type": "web_search"}],
            tool_choice=SERVER_CHOICE,
        )
    assert "web_search" in str(caught.value)
    assert backend.requests == []


def test_text_format_json_schema(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script(Script(content='{"ok": true}'))
    schema: dict[str, Any] = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    client.responses.create(
        model="glm-4.5",
        input="x",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
    )
    assert backend.requests[-1].json()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema},
    }


def test_backend_parsed_calls_and_other_models(
    client: openai.OpenAI, backend: ScriptedBackend, proxy: RunningProxy
) -> None:
    # A model the proxy does not parse (not GLM): its text passes as is, and the calls the
    # backend parsed itself become function calls, whole and streamed.
    calls = (("get_weather", '{"location": "Oslo"}'),)
    backend.script(Script(content="<b>raw</b>", tool_calls=calls, finish_reason="tool_calls"))
    response = client.responses.create(model="qwen3", input="x", tools=[WEATHER])  # type: ignore[list-item]
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.output_text == "<b>raw</b>"
    backend.script(Script(content="", tool_calls=calls, chunk_size=3, finish_reason="tool_calls"))
    final, _ = check_responses_stream(
        stream_raw(proxy, {"model": "qwen3", "input": "x", "tools": [WEATHER]})
    )
    assert json.loads(final["output"][-1]["arguments"]) == {"location": "Oslo"}
    assert final["status"] == "completed"


def test_bad_input_is_a_400_naming_the_field(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="glm-4.5", input=[{"type": "message", "role": "x"}])  # type: ignore[list-item]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "input[0].role"


def test_model_aliases_name_the_backend_model_and_echo_the_clients(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    # Codex asks for its own model names; MODEL_ALIASES sends them to the GLM the backend serves,
    # and GLM handling follows that model (here GLM-4.7: the output starts inside the reasoning).
    proxy = make_proxy(MODEL_ALIASES="gpt-*=glm-4.7")
    backend.script(Script(content="Thinking.</think>Hi."))
    with openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0) as client:
        response = client.responses.create(model="gpt-5.5", input="x")
    assert backend.requests[-1].json()["model"] == "glm-4.7"
    assert response.model == "gpt-5.5"
    assert response.output_text == "Hi."
    assert response.output[0].type == "reasoning"


def test_an_unnamed_models_dialect_is_detected(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    # No setting names "local-model": its first tool-call opener picks the dialect (GLM here).
    backend.script(Script(content=CALL))
    response = client.responses.create(model="local-model", input="x", tools=[WEATHER])  # type: ignore[list-item]
    call = response.output[-1]
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"location": "Seoul", "days": 3}
