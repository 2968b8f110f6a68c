"""Encode a mock reply as an OpenAI chat completion: a JSON body or SSE frames (pure).

Streams are built from byte pieces prepared once per response (the chunk's JSON around the
content), so each chunk costs one small ``orjson.dumps`` of its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from glm_proxy.mock.replies import Reply

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every chunk (or the body) of one response repeats."""

    id: str
    created: int
    model: str
    n: int = 1


def usage(reply: Reply, n: int) -> dict[str, int]:
    completion = reply.completion_tokens * n
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
    }


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, content) of a raw GLM output, as a backend with a reasoning parser splits it
    (LM Studio, Ollama, vLLM and SGLang with ``--reasoning-parser glm45``): the reasoning is
    what comes before ``</think>`` (without its ``<think>``), the content what follows."""
    reasoning, closer, content = text.partition("</think>")
    if not closer:
        return "", text
    return reasoning.strip().removeprefix("<think>").strip(), content.lstrip("\n")


def completion_body(reply: Reply, envelope: Envelope, reasoning_field: str | None = None) -> bytes:
    """A non-streamed ``chat.completion`` object; ``reasoning_field``: the reasoning split off
    into that field of the message."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reasoning_field is not None:
        reasoning, message["content"] = split_reasoning(reply.text)
        if reasoning:
            message[reasoning_field] = reasoning
    return orjson.dumps(
        {
            "id": envelope.id,
            "object": "chat.completion",
            "created": envelope.created,
            "model": envelope.model,
            "choices": [
                {"index": index, "message": message, "finish_reason": reply.finish_reason}
                for index in range(envelope.n)
            ],
            "usage": usage(reply, envelope.n),
        }
    )


def split_text(text: str, chunk_size: int) -> list[str]:
    return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]


def encode_pieces(
    text: str, chunk_size: int, reasoning_field: str | None = None
) -> list[tuple[bytes, bytes]]:
    """The stream's pieces, each as its delta field and its text as a JSON string (computed
    once per distinct request): all ``content``, or with ``reasoning_field`` the reasoning
    split off into that field first."""
    reasoning = ""
    if reasoning_field is not None:
        reasoning, text = split_reasoning(text)
    field = (reasoning_field or "").encode()
    return [(field, orjson.dumps(piece)) for piece in split_text(reasoning, chunk_size)] + [
        (b"content", orjson.dumps(piece)) for piece in split_text(text, chunk_size)
    ]


def stream_ticks(
    reply: Reply, envelope: Envelope, pieces: list[tuple[bytes, bytes]], include_usage: bool
) -> list[bytes]:
    """The SSE stream as a list of ticks; each tick holds one frame per choice.

    Tick 0 carries the role, one tick per piece of ``chunk_size`` characters follows, and the
    last tick holds the finish chunks, the usage chunk (when asked for) and ``[DONE]``.
    ``pieces`` come from ``encode_pieces``. A server waits its delay between ticks, or sends
    them all at once.
    """
    head = orjson.dumps(
        {
            "id": envelope.id,
            "object": "chat.completion.chunk",
            "created": envelope.created,
            "model": envelope.model,
        }
    )[:-1]  # without the closing brace: the choices follow
    prefixes = [head + b',"choices":[{"index":%d,"delta":' % i for i in range(envelope.n)]
    role_ticks = b"".join(
        b"data: " + p + b'{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
        for p in prefixes
    )
    ticks = [role_ticks]
    suffix = b'},"finish_reason":null}]}\n\n'
    field_prefixes: dict[bytes, list[bytes]] = {}
    for field, encoded in pieces:
        starts = field_prefixes.get(field)
        if starts is None:
            starts = field_prefixes[field] = [p + b'{"' + field + b'":' for p in prefixes]
        ticks.append(b"".join(b"data: " + start + encoded + suffix for start in starts))
    finish = orjson.dumps(reply.finish_reason)
    last = [b"data: " + p + b'{},"finish_reason":' + finish + b"}]}\n\n" for p in prefixes]
    if include_usage:
        usage_json = orjson.dumps(usage(reply, envelope.n))
        last.append(b"data: " + head + b',"choices":[],"usage":' + usage_json + b"}\n\n")
    last.append(DONE)
    ticks.append(b"".join(last))
    return ticks


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> bytes:
    """An OpenAI-shaped error object."""
    error: dict[str, Any] = {"message": message, "type": kind, "param": param, "code": code}
    return orjson.dumps({"error": error})
