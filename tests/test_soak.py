"""The soak test (``bench/soak.py``, not part of this suite) judges answers right, and still runs:
a few seconds of it, with half the answers faulty, end without a violation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from glm_proxy.conversion.plan import plan_for
from glm_proxy.errors import BackendBadResponse
from glm_proxy.fronts.openai_responses.render import ResponseMeta
from glm_proxy.fronts.openai_responses.stream import ResponsesStream
from glm_proxy.fronts.openai_responses.tools import ToolNames

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.soak import RESPONSES_PATH, TOOLS, Case, Violation, judge  # noqa: E402

CASE = Case(b"{}", [("get_weather", {"city": "Seoul"})])


def stream(*events: object, end: bytes = b"data: [DONE]\n\n") -> bytes:
    return b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events) + end


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}
GOOD = (
    chunk({"role": "assistant", "content": ""}),
    chunk({"tool_calls": [{**CALL, "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Seoul"}'}}]}),
    chunk({}, "tool_calls"),
)
ERROR = {"error": {"message": "boom", "type": "backend_error", "param": None, "code": "x"}}


def test_a_complete_and_correct_stream_is_ok() -> None:
    assert judge(200, stream(*GOOD), CASE) == "ok"


def test_explicit_errors_are_counted_by_kind() -> None:
    assert judge(502, orjson.dumps(ERROR), CASE) == "HTTP 502 x"
    assert judge(200, stream(*GOOD[:2], end=stream(ERROR, end=b"")), CASE) == "error event x"


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (200, stream(*GOOD[:3], GOOD[4]), "arguments that are not JSON"),  # cut short
        (200, stream(GOOD[0], GOOD[4]), "wrong answer"),  # no call at all
        (200, stream(*GOOD[:4], chunk({}, "stop")), "wrong answer"),
        (200, stream(*GOOD, end=b""), "ends without [DONE] or error"),
        (200, stream(*GOOD)[:-1], "does not end with a blank line"),
        (500, b"Internal Server Error", "without an OpenAI error"),
        (200, b"data: {not json\n\ndata: [DONE]\n\n", "a malformed answer"),
    ],
)
def test_anything_else_is_a_violation(status: int, body: bytes, problem: str) -> None:
    with pytest.raises(Violation, match=re.escape(problem)):
        judge(status, body, CASE)


RESPONSES_CASE = Case(b"{}", [("get_weather", {"city": "Seoul"})], RESPONSES_PATH)


def responses_stream(text: str, failed: bool = False) -> bytes:
    """What the Responses front streams for a backend that wrote ``text`` (GLM markup)."""
    plan = plan_for({"model": "glm-4.5", "tools": TOOLS}, starts_in_reasoning=False)
    front = ResponsesStream(plan, ResponseMeta(model="glm-4.5"), ToolNames())
    out = front.start()
    out += front.feed(chunk({"content": text}))
    if failed:
        return b"".join(out + front.fail(BackendBadResponse("cut", code="x")))
    return b"".join(out + front.feed(chunk({}, "stop")) + front.end())


SEOUL = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Seoul</arg_value></tool_call>"


def test_responses_streams_are_judged_too() -> None:
    assert judge(200, responses_stream(SEOUL), RESPONSES_CASE) == "ok"
    assert judge(200, responses_stream("Hi", failed=True), RESPONSES_CASE) == "response.failed x"
    with pytest.raises(Violation, match="wrong answer"):
        judge(200, responses_stream("No call."), RESPONSES_CASE)
    good = responses_stream(SEOUL)
    with pytest.raises(Violation, match="misnamed or misnumbered"):
        judge(200, good.replace(b'"sequence_number":3', b'"sequence_number":9'), RESPONSES_CASE)
    with pytest.raises(Violation, match="without completed or failed"):
        judge(200, good[: good.rindex(b"event: ")], RESPONSES_CASE)


def test_a_short_soak_with_many_faults_ends_without_a_violation() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.soak", "--seconds=2", "--concurrency=8"),
            *("--fault-rate=0.5", "--delay=0.001", "--upstream-timeout=0.5"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "violations: 0" in done.stdout
    faults = re.search(r"faults injected: (\d+)", done.stdout)
    assert faults is not None
    assert int(faults.group(1)) > 0
    assert re.search(r"^ +\d+  ok$", done.stdout, re.M)
    assert "response.failed" in done.stdout  # the Responses front met faults too


def test_a_short_soak_with_idle_and_slow_clients_mixed_in() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.soak", "--seconds=3", "--concurrency=4"),
            *("--fault-rate=0", "--delay=0.001", "--idle=6", "--slow=2", "--head-timeout=1"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    closed = re.search(r"idle connections: (\d+) closed by the proxy, 0 still open", done.stdout)
    assert closed is not None, done.stdout
    assert int(closed.group(1)) >= 6  # each idle client's connection was closed at least once
    slow = re.search(r"slow-reading clients: (\d+) answers, violations: 0", done.stdout)
    assert slow is not None, done.stdout
    assert int(slow.group(1)) >= 2
