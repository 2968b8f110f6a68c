"""Requests, backend answers and streams shared by the tests of ``translate`` and
``stream_translator``."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.dialects.glm.render import Style, render_output
from glm_proxy.fronts.openai_chat.stream import StreamTranslator

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            },
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    {
        "type": "function",
        "function": {
            "name": "run_shell",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
    },
]


CALLS: list[tuple[str, Mapping[str, Any]]] = [
    ("get_weather", {"city": "서울", "days": 3}),
    ("get_time", {}),
    ("run_shell", {"command": 'echo "hi" <b> & ls\nwc -l'}),
]


EXPECTED_CALLS = [
    ("get_weather", {"city": "서울", "days": 3}),
    ("get_time", {}),
    ("run_shell", {"command": 'echo "hi" <b> & ls\nwc -l'}),
]


USAGE = {"prompt_tokens": 11, "completion_tokens": 42, "total_tokens": 53}


STYLES: tuple[Style, ...] = ("4.5", "4.7")


SIZES = [1, 3, 7, None]  # None: the whole output in one delta


def request(style: Style = "4.5", **extra: Any) -> Plan:
    body = {"model": "glm-4.7", "messages": [], "tools": TOOLS, **extra}
    return plan_for(body, starts_in_reasoning=style == "4.7")


def full_output(style: Style) -> str:
    return render_output(
        "Let me check both.", CALLS, reasoning="The user wants weather.", style=style
    )


def completion(*contents: str | None, finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "glm-4.7",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": content, **message},
                "logprobs": None,
                "finish_reason": finish,
            }
            for index, content in enumerate(contents)
        ],
        "usage": USAGE,
    }


def envelope(**fields: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "glm-4.7",
        "system_fingerprint": "fp_1",
        **fields,
    }


def delta_chunk(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return envelope(choices=[{"index": index, "delta": delta, "finish_reason": finish}])


def pieces(text: str, size: int | None) -> list[str]:
    if size is None:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def upstream_stream(
    text: str,
    size: int | None,
    *,
    finish: str = "stop",
    usage: bool = True,
    field: str = "content",
    index: int = 0,
) -> list[dict[str, Any]]:
    """What an OpenAI-compatible backend streams for one raw output."""
    chunks = [delta_chunk(index, role="assistant", content="")]
    chunks += [delta_chunk(index, **{field: piece}) for piece in pieces(text, size)]
    chunks.append(delta_chunk(index, finish))
    if usage:
        chunks.append(envelope(choices=[], usage=USAGE))
    return chunks


def run_stream(plan: Plan | StreamTranslator, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every chunk a translator sends for ``chunks`` (a plan: a new translator for it)."""
    translator = plan if isinstance(plan, StreamTranslator) else StreamTranslator(plan)
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        out += translator.feed(copy.deepcopy(chunk))
    return out + translator.close()


def calls_of(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or ()
    ]


def comparable(choice: dict[str, Any]) -> dict[str, Any]:
    """A choice without call ids, with an empty content as None, and only what a stream has.

    A streamed call the output cut off (arguments that do not parse) is left out: the
    non-streamed answer has no such call, only its text as content (glm-format.md 4.8).
    """
    message = copy.deepcopy(choice["message"])
    calls = [call for call in message.get("tool_calls") or () if _parses(call)]
    if calls:
        message["tool_calls"] = calls
    else:
        message.pop("tool_calls", None)
    for call in calls:
        call.pop("id")
    if message.get("content") == "":
        message["content"] = None
    return {"index": choice["index"], "message": message, "finish_reason": choice["finish_reason"]}


def _parses(call: dict[str, Any]) -> bool:
    try:
        json.loads(call["function"].get("arguments", ""))
    except ValueError:
        return False
    return True


def split_reasoning_stream(
    reasoning: str, content: str, size: int, field: str, order: list[bool] | None = None
) -> list[dict[str, Any]]:
    """What a backend that splits reasoning off streams: reasoning pieces in ``field``, content
    pieces. ``order`` interleaves them (True: the next reasoning piece) as far as it goes; the
    rest, and all of them without it, come reasoning first."""
    thoughts, texts = pieces(reasoning, size), pieces(content, size)
    chunks = [delta_chunk(role="assistant", content="")]
    for take_thought in order or ():
        source, key = (thoughts, field) if take_thought and thoughts else (texts, "content")
        if source:
            chunks.append(_text_chunk(key, source.pop(0)))
    chunks += [_text_chunk(field, piece) for piece in thoughts]
    chunks += [delta_chunk(content=piece) for piece in texts]
    chunks += [delta_chunk(finish="stop"), envelope(choices=[], usage=USAGE)]
    return chunks


def _text_chunk(field: str, text: str) -> dict[str, Any]:
    return envelope(choices=[{"index": 0, "delta": {field: text}, "finish_reason": None}])
