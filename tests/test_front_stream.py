"""The stream loop the Anthropic and Responses fronts share (streaming.front_stream), driven
against the real scripted backend with a recording front."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
import pytest

from glm_proxy.access_log import RequestRecord
from glm_proxy.backend.chunk_template import PlainText, chunk_of, plain_text
from glm_proxy.backend.client import Upstream
from glm_proxy.backend.sse import SSEDecoder
from glm_proxy.config import load_settings
from glm_proxy.errors import ProxyError
from glm_proxy.fronts._http import front_stream
from support.scripted_backend import Script, ScriptedBackend, sse_events


class RecordingFront:
    """Writes back what it is fed, one line per call."""

    def __init__(self) -> None:
        self.tool_calls = 0
        self.dialect: str | None = None
        self.seen_finish = False
        self.choices = 0

    @property
    def finished(self) -> bool:
        return self.seen_finish

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out = []
        for choice in chunk.get("choices") or []:
            self.choices += 1
            if choice.get("finish_reason"):
                self.seen_finish = True
            content = (choice.get("delta") or {}).get("content")
            if content:
                out.append(b"text:" + content.encode() + b"\n")
        return out

    def end(self) -> list[bytes]:
        return [b"end\n"]

    def fail(self, error: ProxyError) -> list[bytes]:
        return [b"fail:" + error.message.encode() + b"\n"]

    def ping(self) -> bytes | None:
        return b"ping\n"


class BatchingFront(RecordingFront):
    """Takes the chunks of one read at once, and notes how many came together."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def feed_many(self, chunks: list[dict[str, Any] | PlainText]) -> list[bytes]:
        self.batches.append(len(chunks))
        return [piece for chunk in chunks for piece in self.feed(chunk_of(chunk))]


def run(
    backend: ScriptedBackend,
    script: Script,
    ping_interval: float | None = None,
    front: RecordingFront | None = None,
) -> str:
    backend.script(script)

    async def go() -> str:
        upstream = Upstream(load_settings({"OPENAI_BASE_URL": backend.url}))
        await upstream.start()
        try:
            body = orjson.dumps({"model": "glm-4.5", "messages": [], "stream": True})
            headers = upstream.headers((), "application/json")
            response = await upstream.send("POST", upstream.url("/chat/completions"), headers, body)
            record = RequestRecord("POST", "/v1/messages", "test")
            out = [
                piece
                async for piece in front_stream(
                    response, front or RecordingFront(), upstream, record, ping_interval
                )
            ]
            return b"".join(out).decode()
        finally:
            await upstream.close()

    return asyncio.run(go())


def test_a_finished_stream_ends_with_the_fronts_last_events(backend: ScriptedBackend) -> None:
    out = run(backend, Script(content="Hello there", chunk_size=5))
    # How the text is cut depends on the reads; what it says and how the stream ends do not.
    lines = out.splitlines()
    assert lines[-1] == "end"
    assert "".join(line.removeprefix("text:") for line in lines[:-1]) == "Hello there"


def test_a_front_with_feed_many_gets_the_chunks_of_a_read_together(
    backend: ScriptedBackend,
) -> None:
    front = BatchingFront()
    out = run(backend, Script(content="Hello there", chunk_size=2), front=front)
    assert texts(out) == "Hello there"
    assert out.endswith("end\n")
    assert max(front.batches) > 1  # one read held several chunks: they came in one call
    # Events cut across writes: the same answer.
    front = BatchingFront()
    script = Script(content="Hello there", chunk_size=2, write_size=7, delay=0.001)
    out = run(backend, script, front=front)
    assert texts(out) == "Hello there"
    assert out.endswith("end\n")


def texts(out: str) -> str:
    return "".join(line[5:] for line in out.splitlines() if line.startswith("text:"))


class ItemFront(RecordingFront):
    """Notes every item ``feed_many`` is given, in the terms of the slow path: (choice index,
    text field, text) for a plain-text chunk, the chunk itself for any other."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []
        self.recognised = 0

    def feed_many(self, chunks: list[dict[str, Any] | PlainText]) -> list[bytes]:
        for chunk in chunks:
            if type(chunk) is tuple:
                self.recognised += 1
            self.items.append(_item(chunk_of(chunk)))
        return [piece for chunk in chunks for piece in self.feed(chunk_of(chunk))]


def _item(chunk: dict[str, Any]) -> Any:
    found = plain_text(chunk)
    return chunk if found is None else found


def _merged(items: list[Any]) -> list[Any]:
    """Runs of plain text of one choice and field joined: what grouping may change."""
    out: list[Any] = []
    for item in items:
        if type(item) is tuple and out and type(out[-1]) is tuple and out[-1][:2] == item[:2]:
            out[-1] = (*item[:2], out[-1][2] + item[2])
        else:
            out.append(item)
    return out


def _decoded_one_by_one(script: Script) -> list[Any]:
    """The slow path: every event of the backend's stream decoded as JSON."""
    data = b"".join(sse_events(script, "glm-4.5", include_usage=False))
    items = []
    for event in SSEDecoder().feed(data):
        if event.data == "[DONE]":
            break
        items.append(_item(orjson.loads(event.data)))
    return items


FAST_PATH_SCRIPTS = [
    Script(content="Hello there, this is a longer answer to cut in pieces.", chunk_size=3),
    Script(content='Quotes " and \\ escapes\n and tabs\t here', chunk_size=2),
    Script(content="Unicode: 안녕하세요, ünïcødé, 🎉 end", chunk_size=1),
    Script(reasoning="Let me think about it.", content="The answer.", chunk_size=2),
    Script(reasoning="Hmm.", reasoning_field="reasoning", content="Yes.", chunk_size=1),
    Script(content=["first choice text", "second choice text"], chunk_size=4),
    Script(content="calls follow", chunk_size=3, tool_calls=(("f", '{"a": 1}'),)),
]


@pytest.mark.parametrize("write_size", [None, 1, 7, 64])
@pytest.mark.parametrize("script", FAST_PATH_SCRIPTS)
def test_recognised_chunks_stand_for_the_same_chunks_as_decoding_each(
    backend: ScriptedBackend, script: Script, write_size: int | None
) -> None:
    # The loop's fast path (plain-text chunks recognised from their bytes) against the slow
    # one (each event decoded as JSON): the same chunks, text runs aside.
    script = dataclasses.replace(script, write_size=write_size)
    front = ItemFront()
    out = run(backend, script, front=front)
    assert out.endswith("end\n")
    assert _merged(front.items) == _merged(_decoded_one_by_one(script))


def test_the_fast_path_runs_for_a_stream_of_text(backend: ScriptedBackend) -> None:
    front = ItemFront()
    script = Script(content="x" * 400, chunk_size=2)
    run(backend, script, front=front)
    assert front.recognised > 0  # runs of text came recognised from their bytes
    decoded = [item for item in front.items if type(item) is dict]
    assert len(decoded) < 10  # only the first, last and learning events were decoded


def test_every_choice_finished_is_an_end_even_without_done(backend: ScriptedBackend) -> None:
    out = run(backend, Script(content="Hi", send_done=False))
    assert out == "text:Hi\nend\n"


def test_a_stream_cut_before_its_finish_fails(backend: ScriptedBackend) -> None:
    body = b'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n'
    out = run(backend, Script(body=body, content_type="text/event-stream"))
    assert out.startswith("text:par\nfail:")
    assert "ended its event stream before the answer was finished" in out


def test_the_backends_error_event_fails_the_stream(backend: ScriptedBackend) -> None:
    out = run(
        backend,
        Script(
            content="Hi",
            extra_events=(b'data: {"error": {"message": "out of memory"}}\n\n',),
        ),
    )
    assert out.startswith("text:Hi\nfail:")
    assert "reported an error in its stream: out of memory" in out
    assert not out.endswith("end\n")


def test_an_event_that_is_not_json_fails_the_stream(backend: ScriptedBackend) -> None:
    out = run(backend, Script(content="Hi", extra_events=(b"data: {oops\n\n",)))
    assert "fail:" in out
    assert "an event that is not JSON" in out


def test_backend_silence_gets_pings(backend: ScriptedBackend) -> None:
    out = run(backend, Script(content="Hello", chunk_size=1, delay=0.3), ping_interval=0.1)
    assert out.count("ping\n") >= 3
    assert out.replace("ping\n", "") == "".join(f"text:{c}\n" for c in "Hello") + "end\n"
