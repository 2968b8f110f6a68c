"""The stream loop the Anthropic and Responses fronts share (streaming.front_stream), driven
against the real scripted backend with a recording front."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from glm_proxy.access_log import RequestRecord
from glm_proxy.backend.client import Upstream
from glm_proxy.config import load_settings
from glm_proxy.errors import ProxyError
from glm_proxy.fronts._http import front_stream
from support.scripted_backend import Script, ScriptedBackend


class RecordingFront:
    """Writes back what it is fed, one line per call."""

    def __init__(self) -> None:
        self.tool_calls = 0
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

    def feed_many(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        self.batches.append(len(chunks))
        return [piece for chunk in chunks for piece in self.feed(chunk)]


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
    assert out == "text:Hello\ntext: ther\ntext:e\nend\n"


def test_a_front_with_feed_many_gets_the_chunks_of_a_read_together(
    backend: ScriptedBackend,
) -> None:
    expected = "text:He\ntext:ll\ntext:o \ntext:th\ntext:er\ntext:e\nend\n"
    front = BatchingFront()
    assert run(backend, Script(content="Hello there", chunk_size=2), front=front) == expected
    assert max(front.batches) > 1  # one read held several chunks: they came in one call
    chunks = sum(front.batches)
    # Events cut across writes: the same answer, every chunk fed once.
    front = BatchingFront()
    script = Script(content="Hello there", chunk_size=2, write_size=7, delay=0.001)
    assert run(backend, script, front=front) == expected
    assert sum(front.batches) == chunks


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
