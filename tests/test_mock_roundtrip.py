"""The mock's raw GLM output, read by the proxy's GLM parser, gives the promised tool calls.

The calls the mock promises come from ``plan_calls`` / ``derive_arguments``; the text comes from
the mock server over a socket, whole (JSON) and in stream pieces (SSE), in both GLM styles.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import orjson
import pytest

from glm_proxy.conversion.message import assemble_message, parse_message
from glm_proxy.dialects import AUTO, ParserOptions, create_parser, known_dialects
from glm_proxy.events import Event
from glm_proxy.mock import derive_arguments, plan_calls
from glm_proxy.mock.server import start_mock_backend
from support.wirecheck import check_sse_bytes
from test_mock_schema_values import EVERY_TYPE, EVERY_TYPE_MESSAGE, WEATHER

WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Get the weather", "parameters": WEATHER},
}
EVERY_TYPE_TOOL = {
    "type": "function",
    "function": {"name": "plan_trip", "description": "Plan a trip", "parameters": EVERY_TYPE},
}
CASES = [
    pytest.param([WEATHER_TOOL], "What's the weather in Seoul?", id="get_weather"),
    pytest.param([WEATHER_TOOL], "Weather in Seoul and Tokyo, please", id="parallel"),
    pytest.param([EVERY_TYPE_TOOL], EVERY_TYPE_MESSAGE, id="every-type"),
    pytest.param([EVERY_TYPE_TOOL], "plan it", id="every-type-defaults"),
]


async def fetch_outputs(
    model: str, tools: list[dict[str, Any]], text: str, **fields: Any
) -> tuple[str, list[str]]:
    """The mock's raw text for one request: whole, and as its stream's content pieces."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], "tools": tools}
    body.update(fields)
    async with await start_mock_backend(chunk_size=3) as backend, aiohttp.ClientSession() as http:
        url = f"{backend.url}/chat/completions"
        async with http.post(url, data=orjson.dumps(body)) as response:
            whole = orjson.loads(await response.read())["choices"][0]["message"]["content"]
        async with http.post(url, data=orjson.dumps({**body, "stream": True})) as response:
            chunks = check_sse_bytes(await response.read())
    pieces = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    return whole, pieces


def parse_pieces(pieces: list[str], options: ParserOptions) -> dict[str, Any]:
    parser = create_parser(options)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return assemble_message(events)


def calls_of(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or []
    ]


@pytest.mark.parametrize("model", ["glm-4.5-air", "glm-4.7"])
@pytest.mark.parametrize(("tools", "text"), CASES)
def test_parsed_calls_equal_the_promised_ones(
    model: str, tools: list[dict[str, Any]], text: str
) -> None:
    whole, pieces = asyncio.run(fetch_outputs(model, tools, text))
    assert "".join(pieces) == whole
    options = ParserOptions(tools=tools, starts_in_reasoning=model == "glm-4.7")
    promised = plan_calls(tools, None, text)
    assert promised  # the mock calls a tool for every case
    for message in (parse_message(whole, options), parse_pieces(pieces, options)):
        assert calls_of(message) == promised
        assert message["content"] is None
        assert message["reasoning_content"].startswith("The user asks: ")


def test_the_every_type_tool_gets_exactly_its_derived_arguments() -> None:
    whole, _ = asyncio.run(fetch_outputs("glm-4.7", [EVERY_TYPE_TOOL], EVERY_TYPE_MESSAGE))
    options = ParserOptions(tools=[EVERY_TYPE_TOOL], starts_in_reasoning=True)
    ((name, arguments),) = calls_of(parse_message(whole, options))
    assert name == "plan_trip"
    assert arguments == derive_arguments(EVERY_TYPE, EVERY_TYPE_MESSAGE)
    assert arguments["note"] == "example note"
    assert arguments["nothing"] is None
    assert arguments["threshold"] == 20.5


def test_without_thinking_the_parser_sees_calls_and_no_reasoning() -> None:
    whole, _ = asyncio.run(
        fetch_outputs(
            "glm-4.7",
            [WEATHER_TOOL],
            "What's the weather in Seoul?",
            chat_template_kwargs={"enable_thinking": False},
        )
    )
    message = parse_message(whole, ParserOptions(tools=[WEATHER_TOOL]))
    assert calls_of(message) == [("get_weather", {"location": "Seoul"})]
    assert "reasoning_content" not in message


async def fetch_in_dialect(
    dialect: str, tools: list[dict[str, Any]], text: str
) -> tuple[str, list[str]]:
    """The mock's raw text in ``dialect`` (its ``--dialect``), whole and as stream pieces."""
    body = {"model": "some-model", "messages": [{"role": "user", "content": text}]}
    body["tools"] = tools
    async with (
        await start_mock_backend(chunk_size=3, dialect=dialect) as backend,
        aiohttp.ClientSession() as http,
    ):
        url = f"{backend.url}/chat/completions"
        async with http.post(url, data=orjson.dumps(body)) as response:
            whole = orjson.loads(await response.read())["choices"][0]["message"]["content"]
        async with http.post(url, data=orjson.dumps({**body, "stream": True})) as response:
            chunks = check_sse_bytes(await response.read())
    pieces = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    return whole, pieces


@pytest.mark.parametrize("dialect", known_dialects())
@pytest.mark.parametrize(("tools", "text"), CASES)
def test_every_dialect_the_mock_writes_is_read_back(
    dialect: str, tools: list[dict[str, Any]], text: str
) -> None:
    whole, pieces = asyncio.run(fetch_in_dialect(dialect, tools, text))
    promised = plan_calls(tools, None, text)
    options = ParserOptions(tools=tools)
    for name in (dialect, AUTO):  # named by a setting, and detected
        assert calls_of(parse_message(whole, options, dialect=name)) == promised
        parser = create_parser(options, name)
        events: list[Event] = []
        for piece in pieces:
            events += parser.feed(piece)
        assert calls_of(assemble_message(events + parser.close())) == promised


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect must be one of"):
        asyncio.run(start_mock_backend(dialect="klingon"))
