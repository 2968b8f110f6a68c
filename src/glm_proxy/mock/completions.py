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


def completion_body(reply: Reply, envelope: Envelope) -> bytes:
    """A non-streamed ``chat.completion`` object."""
    return orjson.dumps(
        {
            "id": envelope.id,
            "object": "chat.completion",
            "created": envelope.created,
            "model": envelope.model,
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
                for index in range(envelope.n)
            ],
            "usage": usage(reply, envelope.n),
        }
    )


def split_text(text: str, chunk_size: int) -> list[str]:
    return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]


def encode_pieces(text: str, chunk_size: int) -> list[bytes]:
    """The stream's content pieces as JSON strings (computed once per distinct request)."""
    return [orjson.dumps(piece) for piece in split_text(text, chunk_size)]


def stream_ticks(
    reply: Reply, envelope: Envelope, pieces: list[bytes], include_usage: bool
) -> list[bytes]:
    """The SSE stream as a list of ticks; each tick holds one frame per choice.

    Tick 0 carries the role, one tick per ``chunk_size`` characters follows, and the last tick
    holds the finish chunks, the usage chunk (when asked for) and ``[DONE]``. ``pieces`` come
    from ``encode_pieces``. A server waits its delay between ticks, or sends them all at once.
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
    content_prefixes = [p + b'{"content":' for p in prefixes]
    suffix = b'},"finish_reason":null}]}\n\n'
    for encoded in pieces:
        ticks.append(b"".join(b"data: " + p + encoded + suffix for p in content_prefixes))
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
