"""The access log line of the Messages and Responses fronts names the dialect whose calls were
converted, as the chat front's does (detected for a model no setting names), whole and streamed,
through the real SDKs."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import openai
import pytest

from conftest import RunningProxy
from support.scripted_backend import Script, ScriptedBackend

GLM_CALL = (
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Seoul</arg_value>\n</tool_call>"
)
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}}
MODEL = "my-finetune-7b"  # no setting names it: the dialect is detected


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "glm_proxy.access"]


@pytest.mark.parametrize("stream", [False, True])
def test_the_messages_front_logs_the_detected_dialect(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    caplog: pytest.LogCaptureFixture,
    stream: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy.access")
    backend.script(Script(content="Checking. " + GLM_CALL, chunk_size=3))
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k")
    tool = {"name": "get_weather", "description": "Weather", "input_schema": PARAMETERS}
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Weather in Seoul?"}],
        "tools": [tool],
    }
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    assert [block.type for block in message.content] == ["text", "tool_use"]
    line = access_lines(caplog)[-1]
    assert line.startswith("POST /v1/messages ✓ 200 ")
    assert line.endswith("1 tool call (glm)")


@pytest.mark.parametrize("stream", [False, True])
def test_the_responses_front_logs_the_detected_dialect(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    caplog: pytest.LogCaptureFixture,
    stream: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy.access")
    backend.script(Script(content="Checking. " + GLM_CALL, chunk_size=3))
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    tool = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
    request: dict[str, Any] = {"model": MODEL, "input": "Weather in Seoul?", "tools": [tool]}
    if stream:
        with client.responses.stream(**request) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**request)
    assert [item.type for item in response.output] == ["message", "function_call"]
    line = access_lines(caplog)[-1]
    assert line.startswith("POST /v1/responses ✓ 200 ")
    assert line.endswith("1 tool call (glm)")


def test_no_call_converted_names_no_dialect(
    proxy: RunningProxy, backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy.access")
    backend.script(Script(content="Just text.", chunk_size=3))
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    tool = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
    request: dict[str, Any] = {"model": MODEL, "input": "Hi", "tools": [tool]}
    with client.responses.stream(**request) as events:
        events.get_final_response()
    line = access_lines(caplog)[-1]
    assert line.startswith("POST /v1/responses ✓ 200 ")
    assert "tool call" not in line
    assert "(glm)" not in line
