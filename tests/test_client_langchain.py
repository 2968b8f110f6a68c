"""LangChain's ``ChatOpenAI`` through glm-proxy (README's recipe): a tool call made of GLM text,
whole and streamed, and the round trip with the tool's result."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from conftest import RunningProxy, start_proxy
from support.agent_backend import FINAL_PREFIX, AgentBackend


@tool
def get_weather(location: str) -> str:
    """Get the current weather of a city."""
    return f"22 degrees and sunny in {location}"


@pytest.fixture(scope="module")
def proxy_url() -> Iterator[str]:
    backend = AgentBackend("get_weather", {"location": "Seoul"})
    backend.start()
    running: RunningProxy = start_proxy({"OPENAI_BASE_URL": backend.url})
    yield running.base_url
    running.stop()
    backend.stop()


def chat_model(proxy_url: str, *, streaming: bool) -> ChatOpenAI:
    # As in README: base_url is the proxy, any api_key, the backend's model name.
    return ChatOpenAI(
        base_url=proxy_url,
        api_key="not-needed",  # type: ignore[arg-type]
        model="glm-4.5-air",
        streaming=streaming,
        max_retries=0,
    )


@pytest.mark.parametrize("streaming", [False, True])
def test_langchain_gets_a_tool_call_and_completes_the_round_trip(
    proxy_url: str, streaming: bool
) -> None:
    model = chat_model(proxy_url, streaming=streaming).bind_tools([get_weather])
    question = HumanMessage("What's the weather like in Seoul?")
    first = model.invoke([question])
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"location": "Seoul"})
    assert "<tool_call>" not in str(first.content)

    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    final = model.invoke([question, first, result])
    assert final.content == FINAL_PREFIX + "22 degrees and sunny in Seoul"
    assert not final.tool_calls


def test_langchain_streams_the_call_as_tool_call_chunks(proxy_url: str) -> None:
    model = chat_model(proxy_url, streaming=True).bind_tools([get_weather])
    chunks = list(model.stream("What's the weather like in Seoul?"))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk  # type: ignore[assignment]
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        ("get_weather", {"location": "Seoul"})
    ]
