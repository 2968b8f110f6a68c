"""The translated stream: however the backend's bytes are cut into reads, the client gets the
bytes that decoding every event on its own gives (the fast paths change the cost, not the
answer)."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_proxy.access_log import RequestRecord
from glm_proxy.backend.chunk_template import PlainChunkTemplate
from glm_proxy.backend.sse import DONE, SSEDecoder, encode_event
from glm_proxy.conversion.plan import plan_for
from glm_proxy.fronts.openai_chat.route import translated_stream
from glm_proxy.fronts.openai_chat.stream import StreamTranslator

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
TEXT = (
    'Sure, "quoted" \\ back\nslash, 한국어 😀. '
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>서울</arg_value>\n</tool_call>"
)


class _Content:
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    async def iter_any(self) -> Any:
        for data in self._reads:
            yield data


class _Response:
    def __init__(self, reads: list[bytes]) -> None:
        self.content = _Content(reads)

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Upstream:
    public_url = "http://backend"
    hidden = ()


def backend_stream(pieces: list[str], newline: bytes) -> bytes:
    def chunk(choice: dict[str, Any]) -> bytes:
        body = {"id": "up", "object": "chat.completion.chunk", "created": 1, "model": "glm"}
        return b"data: " + orjson.dumps({**body, "choices": [choice]}) + newline * 2

    out = [chunk({"index": 0, "delta": {"role": "assistant", "content": ""}})]
    out += [chunk({"index": 0, "delta": {"content": piece}}) for piece in pieces]
    out.append(chunk({"index": 0, "delta": {}, "finish_reason": "stop"}))
    return b"".join(out) + b"data: [DONE]" + newline * 2


def translator() -> StreamTranslator:
    body = {"model": "glm", "messages": [], "tools": TOOLS}
    return StreamTranslator(plan_for(body, starts_in_reasoning=False))


def proxied(reads: list[bytes]) -> bytes:
    async def run() -> bytes:
        stream = translated_stream(
            _Response(reads),  # type: ignore[arg-type]
            translator(),
            _Upstream(),  # type: ignore[arg-type]
            RequestRecord("POST", "/v1/chat/completions"),
        )
        return b"".join([data async for data in stream])

    return asyncio.run(run())


def reference(reads: list[bytes]) -> bytes:
    """Every event decoded on its own, then matched or decoded: no fast path over a read."""
    decoder, template = SSEDecoder(), PlainChunkTemplate()
    stream = translator()
    out: list[bytes] = []
    for data in reads:
        items: list[Any] = []
        payloads = decoder.feed_payloads(data)
        for payload in payloads:
            if payload == b"[DONE]":
                break
            found = template.match(payload)
            if found is None:
                found = orjson.loads(payload)
                template.learn(payload, found)
            items.append(found)
        out += [encode_event(orjson.dumps(chunk)) for chunk in stream.feed_many(items)]
        if b"[DONE]" in payloads:
            break
    out += [encode_event(orjson.dumps(chunk)) for chunk in stream.close()]
    return b"".join([*out, DONE])


def without_ids(raw: bytes) -> bytes:
    return re.sub(rb"call_[0-9a-f]+", b"call_", raw)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 9),
    st.sampled_from([b"\n", b"\r\n"]),
    st.lists(st.integers(0, 5000), max_size=6),
    st.integers(1, 8),
)
def test_any_reads_give_the_bytes_of_decoding_each_event(
    size: int, newline: bytes, cuts: list[int], events_per_read: int
) -> None:
    pieces = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    raw = backend_stream(pieces, newline)
    ends = [match.end() for match in re.finditer(re.escape(newline * 2), raw)]
    bounds = sorted({0, len(raw), *ends[::events_per_read], *(c for c in cuts if c < len(raw))})
    reads = [raw[start:end] for start, end in itertools.pairwise(bounds)]
    got = proxied(reads)
    assert without_ids(got) == without_ids(reference(reads))
    assert got.endswith(DONE)


def test_a_whole_stream_in_one_read_learns_its_shape_from_the_first_events() -> None:
    pieces = [TEXT[i : i + 3] for i in range(0, len(TEXT), 3)]
    raw = backend_stream(pieces, b"\n")
    assert without_ids(proxied([raw])) == without_ids(reference([raw]))
