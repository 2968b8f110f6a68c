"""The mock backend over a real socket on 127.0.0.1: routes, JSON and SSE shapes, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from openai import OpenAI

from glm_proxy.mock import plan_calls
from glm_proxy.mock.server import RunningMockBackend, create_mock_app, start_mock_backend
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
Scenario = Callable[[RunningMockBackend, aiohttp.ClientSession], Awaitable[None]]


def serve(scenario: Scenario, **options: Any) -> None:
    """Run ``scenario`` against a mock backend started on a free port."""

    async def main() -> None:
        async with (
            await start_mock_backend(**options) as backend,
            aiohttp.ClientSession() as session,
        ):
            await scenario(backend, session)

    asyncio.run(main())


async def post(
    backend: RunningMockBackend, session: aiohttp.ClientSession, body: Any, raw: bytes = b""
) -> tuple[int, bytes, str]:
    data = raw or orjson.dumps(body)
    headers = {"Authorization": "Bearer anything", "Content-Type": "application/json"}
    async with session.post(f"{backend.url}/chat/completions", data=data, headers=headers) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "glm-4.5-air", "messages": [{"role": "user", "content": text}], **fields}


def test_start_returns_a_v1_base_url_on_a_free_port() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        assert backend.url.startswith("http://127.0.0.1:")
        assert backend.url.endswith("/v1")
        assert not backend.url.endswith(":0/v1")
        base = backend.url.removesuffix("/v1")
        async with session.get(f"{base}/health") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        for path in ("/v1/models", "/models"):
            async with session.get(base + path) as response:
                models = await response.json()
            assert response.status == 200
            ids = [m["id"] for m in models["data"]]
            assert {"glm-4.5-air", "glm-4.7"} <= set(ids)

    serve(scenario)


def test_a_json_completion_carries_the_raw_tool_call_and_usage() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        body = chat("What's the weather in Seoul?", tools=[WEATHER])
        status, raw, content_type = await post(backend, session, body)
        assert (status, content_type) == (200, "application/json")
        reply = orjson.loads(raw)
        assert reply["object"] == "chat.completion"
        assert reply["id"].startswith("chatcmpl-")
        assert reply["model"] == "glm-4.5-air"
        (choice,) = reply["choices"]
        assert choice["finish_reason"] == "stop"  # the backend does not know about tools
        assert choice["message"]["content"].endswith(
            "</think>\n\n<tool_call>get_weather\n<arg_key>location</arg_key>\n"
            "<arg_value>Seoul</arg_value>\n</tool_call>"
        )
        usage = reply["usage"]
        assert usage["completion_tokens"] == (len(choice["message"]["content"]) + 3) // 4
        assert usage["prompt_tokens"] == (len("What's the weather in Seoul?") + 3) // 4
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    serve(scenario)


@pytest.mark.parametrize("chunk_size", [1, 4, 7])
def test_a_stream_has_the_openai_chunk_shape_and_chunk_size(chunk_size: int) -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        body = chat("What's the weather in Seoul?", tools=[WEATHER], stream=True)
        status, raw, content_type = await post(backend, session, body)
        assert (status, content_type) == (200, "text/event-stream")
        chunks = check_sse_bytes(raw)
        check_stream(chunks)
        pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
        assert all(len(p) == chunk_size for p in pieces[:-1])
        assert 1 <= len(pieces[-1]) <= chunk_size
        status, whole, _ = await post(backend, session, {**body, "stream": False})
        expected = orjson.loads(whole)["choices"][0]["message"]["content"]
        assert accumulate_choices(chunks)[0]["message"]["content"] == expected

    serve(scenario, chunk_size=chunk_size)


def test_a_delayed_stream_is_written_chunk_by_chunk_with_usage_last() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        body = chat("hi", stream=True, n=2, stream_options={"include_usage": True})
        url = f"{backend.url}/chat/completions"
        reads = []
        async with session.post(url, data=orjson.dumps(body)) as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            async for data in response.content.iter_any():
                reads.append(data)
        chunks = check_sse_bytes(b"".join(reads))
        check_stream(chunks, include_usage=True)
        choices = accumulate_choices(chunks)
        assert [c["index"] for c in choices] == [0, 1]
        assert choices[0]["message"] == choices[1]["message"]
        usage = chunks[-1]["usage"]
        content_tokens = (len(choices[0]["message"]["content"]) + 3) // 4
        assert usage["completion_tokens"] == 2 * content_tokens

    serve(scenario, delay=0.001)


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        body = chat("What's the weather in Seoul?", tools=[WEATHER], max_tokens=10)
        _, raw, _ = await post(backend, session, body)
        choice = orjson.loads(raw)["choices"][0]
        assert choice["finish_reason"] == "length"
        assert len(choice["message"]["content"]) == 40
        _, raw, _ = await post(backend, session, {**body, "stream": True})
        chunks = check_sse_bytes(raw)
        check_stream(chunks)
        (streamed,) = accumulate_choices(chunks)
        assert streamed["finish_reason"] == "length"
        assert streamed["message"]["content"] == choice["message"]["content"]

    serve(scenario)


def test_a_tool_round_trip_answers_with_the_result() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        question = "What's the weather in Seoul?"
        assert plan_calls([WEATHER], None, question) == [("get_weather", {"location": "Seoul"})]
        call = {
            "id": "call_abc",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Seoul"}'},
        }
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "Sunny, 24C"},
        ]
        body = {"model": "glm-4.7", "messages": messages, "tools": [WEATHER]}
        _, raw, _ = await post(backend, session, body)
        content = orjson.loads(raw)["choices"][0]["message"]["content"]
        assert content.endswith("</think>According to get_weather: Sunny, 24C")  # 4.7 style
        assert "<think>" not in content

    serve(scenario)


def test_the_style_flag_overrides_the_model_name() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        _, raw, _ = await post(backend, session, chat("hi"))
        assert orjson.loads(raw)["choices"][0]["message"]["content"].startswith("The user says")

    serve(scenario, style="4.7")


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{not json", None),
        (b"\xff\xfe", None),
        (b'{"model": "glm-4.5-air"}', "messages"),
        (b'{"messages": [{"role": "user"}], "n": -1}', "n"),
    ],
)
def test_bad_requests_get_openai_shaped_400s(raw: bytes, param: str | None) -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        status, body, content_type = await post(backend, session, None, raw=raw)
        assert (status, content_type) == (400, "application/json")
        error = orjson.loads(body)["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        assert error["code"] is None
        assert error["message"]

    serve(scenario)


def test_unknown_routes_and_methods_get_openai_shaped_errors() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{backend.url}/nothing") as response:
            assert response.status == 404
            assert "POST /v1/chat/completions" in (await response.json())["error"]["message"]
        async with session.get(f"{backend.url}/chat/completions") as response:
            assert response.status == 405
            assert set((await response.json())["error"]) == {"message", "type", "param", "code"}

    serve(scenario)


def test_the_openai_sdk_reads_the_mock_streamed_and_not() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        def with_sdk() -> tuple[str | None, str]:
            client = OpenAI(base_url=backend.url, api_key="unused", max_retries=0)
            with client:
                whole = client.chat.completions.create(
                    model="glm-4.5-air", messages=[{"role": "user", "content": "Hello"}]
                )
                stream = client.chat.completions.create(
                    model="glm-4.5-air",
                    messages=[{"role": "user", "content": "Hello"}],
                    stream=True,
                )
                pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
            return whole.choices[0].message.content, "".join(pieces)

        whole, streamed = await asyncio.to_thread(with_sdk)
        assert whole == streamed
        assert whole is not None
        assert whole.endswith("</think>\nYou said: Hello")

    serve(scenario)


def test_repeated_requests_get_fresh_ids() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        ids = set()
        for _ in range(3):
            _, raw, _ = await post(backend, session, chat("same body"))
            ids.add(orjson.loads(raw)["id"])
        assert len(ids) == 3

    serve(scenario)


def test_create_mock_app_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="style"):
        create_mock_app(style="4.6")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        create_mock_app(chunk_size=0)
    with pytest.raises(ValueError, match="delay"):
        create_mock_app(delay=-1)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("model", ["glm-4.5-air", "glm-4.7"])
def test_reasoning_split_off_like_a_backend_with_a_reasoning_parser(field: str, model: str) -> None:
    body = chat("Weather in Seoul?", model=model, tools=[WEATHER])

    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        status, raw, _ = await post(backend, session, body)
        assert status == 200
        message = orjson.loads(raw)["choices"][0]["message"]
        assert message[field]
        assert "think>" not in message[field] + message["content"]
        assert message["content"].lstrip().startswith("<tool_call>get_weather")
        status, raw, _ = await post(backend, session, {**body, "stream": True})
        chunks = check_sse_bytes(raw)
        check_stream(chunks)
        (choice,) = accumulate_choices(chunks, reasoning_field=field)
        assert choice["message"][field] == message[field]
        assert choice["message"]["content"] == message["content"]

    serve(scenario, reasoning_field=field)


def test_a_request_header_asks_for_the_reasoning_split() -> None:
    async def scenario(backend: RunningMockBackend, session: aiohttp.ClientSession) -> None:
        headers = {"X-Mock-Reasoning-Field": "reasoning", "Content-Type": "application/json"}
        data = orjson.dumps(chat("Hello"))
        async with session.post(f"{backend.url}/chat/completions", data=data, headers=headers) as r:
            message = (await r.json())["choices"][0]["message"]
        assert message["reasoning"]
        assert "<think>" not in message["content"]
        headers["X-Mock-Reasoning-Field"] = "thoughts"
        async with session.post(f"{backend.url}/chat/completions", data=data, headers=headers) as r:
            assert r.status == 400
            assert "X-Mock-Reasoning-Field" in (await r.json())["error"]["message"]
        status, raw, _ = await post(backend, session, chat("Hello"))  # without: raw GLM text
        assert status == 200
        assert "<think>" in orjson.loads(raw)["choices"][0]["message"]["content"]

    serve(scenario)


def test_an_unknown_reasoning_field_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="reasoning_field"):
        create_mock_app(reasoning_field="thoughts")
