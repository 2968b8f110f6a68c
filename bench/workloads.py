"""The two requests the suite sends, and what a correct answer to each holds.

- ``chat``: a non-streamed chat with one tool (the mock answers with reasoning and one call).
- ``stream``: a streamed chat whose raw reply is exactly ``STREAM_CHUNKS`` chunks of
  ``CHUNK_SIZE`` characters: reasoning, then a ``save_notes`` call whose string argument is
  padded (``minLength``) to reach that length. The mock must run with ``--chunk-size 4``.
- ``responses``: the same stream asked through ``/v1/responses`` (as Codex asks): the proxy maps
  it onto the same chat request, so the backend streams the same reply. Only glm-proxy serves it.
- ``messages``: the same stream asked through ``/v1/messages`` (as Claude Code asks), likewise.

The reply is computed with the mock's own pure functions, so the chunk count is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from glm_proxy.mock.replies import build_reply, pick_style, read_request

MODEL = "glm-4.5"
CHUNK_SIZE = 4
STREAM_CHUNKS = 200


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    label: str
    body: bytes
    stream: bool
    chunks: int
    """Content chunks the backend streams per response (0 when not streamed)."""
    expect_raw: tuple[str, ...]
    """Text that every answer of the backend (or of the relay) holds."""
    expect_proxy: tuple[str, ...]
    """Text that every answer of glm-proxy holds: the translated call and reasoning."""
    expect_end: str
    """Text every answer ends with (streams: the ``[DONE]`` event)."""
    path: str = "/v1/chat/completions"
    proxy_only: bool = False
    """Only glm-proxy serves the path (the backend and the relay do not)."""


def chat_request() -> dict[str, Any]:
    weather = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    }
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is the weather in Seoul?"}],
        "tools": [_tool("get_weather", "Current weather of a city", weather)],
    }


def stream_request(padding: int) -> dict[str, Any]:
    notes = {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "content": {"type": "string", "minLength": padding},
        },
        "required": ["path", "content"],
    }
    return {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": "Save the meeting notes to notes.txt"}],
        "tools": [_tool("save_notes", "Save notes to a file", notes)],
    }


def reply_length(request: dict[str, Any]) -> int:
    parsed = read_request(request)
    return len(build_reply(parsed, pick_style("auto", parsed.model)).text)


def sized_stream_request(chunks: int = STREAM_CHUNKS) -> dict[str, Any]:
    """The stream request whose reply is exactly ``chunks * CHUNK_SIZE`` characters."""
    target = chunks * CHUNK_SIZE
    base = reply_length(stream_request(0))
    # Below the value's natural length minLength changes nothing; above it, one char per unit.
    padding = target - base + len("example content")
    request = stream_request(padding)
    if reply_length(request) != target:
        raise RuntimeError(f"cannot size the streamed reply to {target} characters")
    return request


def responses_request(chat: dict[str, Any]) -> dict[str, Any]:
    """The Responses request that glm-proxy maps onto the chat request ``chat``."""
    return {
        "model": chat["model"],
        "stream": chat.get("stream", False),
        "input": chat["messages"][0]["content"],
        "tools": [{"type": "function", **tool["function"]} for tool in chat["tools"]],
    }


def messages_request(chat: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic Messages request that glm-proxy maps onto the chat request ``chat``."""
    return {
        "model": chat["model"],
        "max_tokens": 4096,
        "stream": chat.get("stream", False),
        "messages": chat["messages"],
        "tools": [
            {
                "name": tool["function"]["name"],
                "description": tool["function"]["description"],
                "input_schema": tool["function"]["parameters"],
            }
            for tool in chat["tools"]
        ],
    }


def workloads() -> list[Workload]:
    stream = sized_stream_request()
    return [
        Workload(
            name="chat",
            label="non-streaming chat, 1 tool call",
            body=orjson.dumps(chat_request()),
            stream=False,
            chunks=0,
            expect_raw=("<tool_call>get_weather",),
            expect_proxy=('"tool_calls":[{', '"reasoning_content":"'),
            expect_end="}",
        ),
        Workload(
            name="stream",
            label=f"streaming, {STREAM_CHUNKS} chunks of {CHUNK_SIZE} chars, reasoning + 1 call",
            body=orjson.dumps(stream),
            stream=True,
            chunks=STREAM_CHUNKS,
            expect_raw=(),
            expect_proxy=('"tool_calls":[{', '"reasoning_content":"', '"tool_calls"}'),
            expect_end="data: [DONE]",
        ),
        Workload(
            name="responses",
            label="the stream workload through /v1/responses (Responses events)",
            body=orjson.dumps(responses_request(stream)),
            stream=True,
            chunks=STREAM_CHUNKS,
            expect_raw=(),
            expect_proxy=(
                '"type":"reasoning"',
                "event: response.function_call_arguments.done",
                "event: response.completed",
            ),
            expect_end='"user":null}}',
            path="/v1/responses",
            proxy_only=True,
        ),
        Workload(
            name="messages",
            label="the stream workload through /v1/messages (Anthropic events)",
            body=orjson.dumps(messages_request(stream)),
            stream=True,
            chunks=STREAM_CHUNKS,
            expect_raw=(),
            expect_proxy=(
                '"type":"thinking"',
                '"type":"tool_use"',
                '"stop_reason":"tool_use"',
            ),
            expect_end='data: {"type":"message_stop"}',
            path="/v1/messages",
            proxy_only=True,
        ),
    ]


def _tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }
