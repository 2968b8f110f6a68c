"""Soak test: many concurrent streamed tool-call requests through glm-proxy for minutes, against
the mock GLM backend with faults mixed in. Not part of the test suite; 127.0.0.1 only.

    python -m bench.soak [--seconds 300] [--concurrency 200] [--fault-rate 0.05]
                         [--delay 0.01] [--requests N] [--upstream-timeout 2]
                         [--idle 0] [--slow 0] [--head-timeout 5]

Three processes: the faulty backend (``bench.soak_backend``), the proxy (``glm-proxy serve``)
and the load, here: ``--concurrency`` clients, each sending one streamed request with tools
after the other until ``--seconds`` have passed (or ``--requests`` were sent). Half the requests
go to the chat front (``/v1/chat/completions``), half to the Responses front (``/v1/responses``,
as Codex streams them; its answers are kept in the proxy's response store, whose memory is part
of what must not grow).

Every response must be complete and correct (the tool calls ``glm_proxy.mock.plan_calls``
promises, in order, ``finish_reason: "tool_calls"``, then ``[DONE]``; through the Responses
front, the same calls as ``function_call`` items of ``response.completed``) or an explicit error
(an error status with an OpenAI error body, or a stream that ends with an error event or
``response.failed``). Anything
else is a violation: a wrong answer, a stream that just stops, a dropped connection, or no
answer within ``--timeout`` seconds.

Misbehaving clients can be mixed in, on top of the ``--concurrency`` normal ones: ``--idle``
connections that open and send nothing (the proxy must close each within ``--head-timeout``,
its HEAD_TIMEOUT; then they open again), and ``--slow`` clients that send the same requests but
read the answer 1 KB at a time, one read a second, through a 4 KB socket buffer (their answers
are judged like the others'). The proxy's memory is read at the start (after a warm-up
of a tenth of the time) and at the end of the load: it must not have grown by more than 10 %.
Exit code 0 when there was no violation and memory held, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.processes import bench_env, free_port
from glm_proxy.mock import plan_calls

MEMORY_GROWTH_LIMIT = 0.10
WARM_UP_SHARE = 0.1
PROGRESS_EVERY = 30.0
STRING = {"type": "string"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": [*properties]},
        },
    }
    for name, description, properties in (
        ("get_weather", "Current weather of a city", {"city": STRING}),
        ("run_command", "Run a shell command", {"command": STRING}),
        ("search_docs", "Search the documentation", {"query": STRING}),
    )
]
QUESTIONS = (
    "What is the weather in Seoul?",
    "What is the weather in Tokyo and Paris?",
    "Please run the command ls -la in the project",
    "Search the docs for streaming tool calls",
    "Check the weather in Berlin, then run the command date",
)


CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"


@dataclass(frozen=True)
class Case:
    body: bytes
    calls: list[tuple[str, dict[str, Any]]]
    """The calls a correct answer holds, in order."""
    path: str = CHAT_PATH


def cases(models: Sequence[str] = ("glm-4.5-air", "glm-4.7")) -> list[Case]:
    found = []
    for model in models:
        for question in QUESTIONS:
            request = {
                "model": model,
                "stream": True,
                "messages": [{"role": "user", "content": question}],
                "tools": TOOLS,
            }
            calls = plan_calls(TOOLS, None, question)
            found.append(Case(orjson.dumps(request), calls))
            responses = {
                "model": model,
                "stream": True,
                "input": question,
                "tools": [responses_tool(tool) for tool in TOOLS],
            }
            found.append(Case(orjson.dumps(responses), calls, RESPONSES_PATH))
    return found


def responses_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat function tool in the flat shape of the Responses API."""
    function: dict[str, Any] = tool["function"]
    return {"type": "function", **function}


class Violation(Exception):
    """A response that is neither correct nor an explicit error."""


def judge(status: int, body: bytes, case: Case) -> str:
    """``"ok"``, or the kind of explicit error; raises ``Violation`` for anything else."""
    try:
        return _judge(status, body, case)
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError, ValueError) as error:
        raise Violation(f"a malformed answer ({error!r}): {body[-300:]!r}") from None


def _judge(status: int, body: bytes, case: Case) -> str:
    if status != 200:
        try:
            error = orjson.loads(body)["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise Violation(f"HTTP {status} without an OpenAI error: {body[:200]!r}") from None
        if not isinstance(error.get("message"), str) or "type" not in error:
            raise Violation(f"HTTP {status} with a malformed error: {body[:200]!r}")
        return f"HTTP {status} {error.get('code') or error['type']}"
    if case.path == RESPONSES_PATH:
        return _judge_responses(body, case)
    events = body.split(b"\n\n")
    if events[-1] != b"" or len(events) < 2:
        raise Violation(f"the stream does not end with a blank line: {body[-200:]!r}")
    last = events[-2]
    chunks = [orjson.loads(event[6:]) for event in events[:-2]]
    if last != b"data: [DONE]":
        try:
            error = orjson.loads(last[6:])["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise Violation(f"the stream ends without [DONE] or error: {last[:200]!r}") from None
        if not isinstance(error.get("message"), str):
            raise Violation(f"a malformed error event: {last[:200]!r}")
        return f"error event {error.get('code') or error.get('type')}"
    names: list[str] = []
    arguments: list[str] = []
    finish = None
    for chunk in chunks:
        if chunk.get("object") != "chat.completion.chunk":
            raise Violation(f"a chunk without its object: {chunk!r}")
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                if call["index"] == len(names):
                    names.append(call["function"]["name"])
                    arguments.append("")
                elif "name" in call["function"] or "id" in call:
                    raise Violation(f"a call's name or id repeated: {call!r}")
                arguments[call["index"]] += call["function"]["arguments"]
            finish = choice.get("finish_reason") or finish
    try:
        got = [(name, orjson.loads(text)) for name, text in zip(names, arguments, strict=True)]
    except orjson.JSONDecodeError:
        raise Violation(f"wrong answer: arguments that are not JSON: {arguments!r}") from None
    if got != case.calls or finish != "tool_calls":
        raise Violation(f"wrong answer: {got!r}, finish {finish!r}; expected {case.calls!r}")
    return "ok"


def _judge_responses(body: bytes, case: Case) -> str:
    """A Responses stream: numbered events, ending in ``response.completed`` with the calls, or
    in ``response.failed`` with its error."""
    events = body.split(b"\n\n")
    if events[-1] != b"" or len(events) < 3:
        raise Violation(f"the stream does not end with a blank line: {body[-200:]!r}")
    data = []
    for number, event in enumerate(events[:-1]):
        name, _, payload = event.partition(b"\ndata: ")
        item = orjson.loads(payload)
        if name != b"event: " + item["type"].encode() or item["sequence_number"] != number:
            raise Violation(f"event {number} misnamed or misnumbered: {event[:200]!r}")
        data.append(item)
    last = data[-1]
    if last["type"] not in ("response.completed", "response.failed"):
        raise Violation(f"the stream ends without completed or failed: {events[-2][:200]!r}")
    response = last["response"]
    if last["type"] == "response.failed":
        error = response["error"]
        if not isinstance(error.get("message"), str):
            raise Violation(f"a malformed response.failed: {events[-2][:300]!r}")
        return f"response.failed {error.get('code')}"
    done = [
        (item["item"]["name"], orjson.loads(item["item"]["arguments"]))
        for item in data
        if item["type"] == "response.output_item.done" and item["item"]["type"] == "function_call"
    ]
    final = [
        (item["name"], orjson.loads(item["arguments"]))
        for item in response["output"]
        if item["type"] == "function_call"
    ]
    if done != case.calls or final != case.calls or response["status"] != "completed":
        raise Violation(f"wrong answer: {done!r} / {final!r}; expected {case.calls!r}")
    return "ok"


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    started: int = 0

    @property
    def done(self) -> int:
        return sum(self.outcomes.values()) + sum(self.violations.values())

    def violation(self, kind: str, detail: str) -> None:
        self.violations[kind] += 1
        if len(self.samples) < 10:
            self.samples.append(detail)


async def client(
    session: aiohttp.ClientSession,
    base: str,
    all_cases: list[Case],
    tally: Tally,
    stop_at: float,
    limit: int | None,
    answer_within: float,
    offset: int,
) -> None:
    number = offset
    while time.monotonic() < stop_at and (limit is None or tally.started < limit):
        tally.started += 1
        case = all_cases[number % len(all_cases)]
        number += 1
        try:
            async with asyncio.timeout(answer_within):
                url = base + case.path
                async with session.post(url, data=case.body, headers=JSON) as response:
                    body = await response.read()
            tally.outcomes[judge(response.status, body, case)] += 1
        except Violation as violation:
            tally.violation("wrong or unended answer", str(violation))
        except TimeoutError:
            tally.violation("no answer in time", f"no answer within {answer_within:g} s")
        except aiohttp.ClientError as error:
            tally.violation("connection broken", repr(error))


JSON = {"Content-Type": "application/json"}
SLOW_READ = 1024
"""Bytes a slow client reads at a time, one read a second."""


@dataclass
class Misbehaving:
    idle_closed: int = 0
    """Idle connections the proxy closed (as it must, after HEAD_TIMEOUT)."""
    idle_overdue: int = 0
    """Idle connections still open well after HEAD_TIMEOUT (a violation)."""
    slow: Tally = field(default_factory=lambda: Tally())


async def idle_client(port: int, stop_at: float, head_timeout: float, seen: Misbehaving) -> None:
    """Open a connection, send nothing, and wait for the proxy to close it; again."""
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            async with asyncio.timeout(head_timeout + 10):
                while await reader.read(65536):
                    pass
            seen.idle_closed += 1
        except TimeoutError:
            seen.idle_overdue += 1
        except OSError:
            seen.idle_closed += 1  # a reset is a close too
        finally:
            writer.close()


async def slow_client(
    port: int, all_cases: list[Case], stop_at: float, answer_within: float, tally: Tally, n: int
) -> None:
    """Streamed requests whose answers are read 1 KB a second, through a small buffer."""
    number = n
    while time.monotonic() < stop_at:
        tally.started += 1
        case = all_cases[number % len(all_cases)]
        number += 1
        try:
            async with asyncio.timeout(answer_within):
                status, body = await _read_slowly(port, case.path, case.body)
            tally.outcomes[judge(status, body, case)] += 1
        except Violation as violation:
            tally.violation("wrong or unended answer", str(violation))
        except TimeoutError:
            tally.violation("no answer in time", f"no answer within {answer_within:g} s")
        except (OSError, ValueError) as error:
            tally.violation("connection broken", repr(error))


async def _read_slowly(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=SLOW_READ)
    try:
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: soak\r\nConnection: close\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
        )
        data = b""
        while piece := await reader.read(SLOW_READ):
            data += piece
            await asyncio.sleep(1)
    finally:
        writer.close()
    head, _, raw = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    chunked = b"transfer-encoding: chunked" in head.lower()
    return status, _unchunk(raw) if chunked else raw


def _unchunk(raw: bytes) -> bytes:
    """The body of a chunked transfer coding (``ValueError`` when it is cut short)."""
    out, at = bytearray(), 0
    while True:
        end = raw.index(b"\r\n", at)
        size = int(raw[at:end], 16)
        if size == 0:
            return bytes(out)
        out += raw[end + 2 : end + 2 + size]
        at = end + 2 + size + 2
        if at > len(raw):
            raise ValueError("a chunked body cut short")


class Process:
    """A server process of the soak in its own session, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path, **env: str):
        self.name, self.port = name, port
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=bench_env(**env),
                start_new_session=True,
            )

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{self.port}/health") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)

    def rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return _status_kb(self.process.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for process {pid}")


async def soak(args: argparse.Namespace, workdir: Path) -> int:
    backend_port, proxy_port = free_port(), free_port()
    backend = Process(
        "backend",
        [
            *(sys.executable, "-m", "bench.soak_backend", "--port", str(backend_port)),
            *("--fault-rate", str(args.fault_rate), "--delay", str(args.delay)),
        ],
        backend_port,
        workdir,
    )
    proxy = Process(
        "proxy",
        [
            *(sys.executable, "-m", "glm_proxy", "serve", "--host", "127.0.0.1"),
            *("--port", str(proxy_port), "--base-url", f"http://127.0.0.1:{backend_port}/v1"),
            *("--log-level", "ERROR"),
        ],
        proxy_port,
        workdir,
        UPSTREAM_TIMEOUT=str(args.upstream_timeout),
        HEAD_TIMEOUT=str(args.head_timeout),
    )
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await backend.wait_ready(session)
            await proxy.wait_ready(session)
            return await _load(args, session, backend, proxy)
    finally:
        proxy.stop()
        backend.stop()


async def _load(
    args: argparse.Namespace, session: aiohttp.ClientSession, backend: Process, proxy: Process
) -> int:
    url = f"http://127.0.0.1:{proxy.port}"
    all_cases, tally = cases(), Tally()
    idle_mb = proxy.rss_mb()
    started = time.monotonic()
    stop_at = started + args.seconds
    workers = [
        asyncio.create_task(
            client(session, url, all_cases, tally, stop_at, args.requests, args.timeout, n)
        )
        for n in range(args.concurrency)
    ]
    seen = Misbehaving()
    workers += [
        asyncio.create_task(idle_client(proxy.port, stop_at, args.head_timeout, seen))
        for _ in range(args.idle)
    ]
    workers += [
        asyncio.create_task(slow_client(proxy.port, all_cases, stop_at, args.timeout, seen.slow, n))
        for n in range(args.slow)
    ]
    print(
        f"soak: {args.concurrency} clients for {args.seconds:g} s, fault rate {args.fault_rate:g},"
        f" {args.delay:g} s between chunks; {args.idle} idle and {args.slow} slow-reading clients"
        f" besides; proxy pid {proxy.process.pid}, idle {idle_mb:.1f} MB",
        flush=True,
    )
    warm_mb: float | None = None
    next_report = started + PROGRESS_EVERY
    while not all(worker.done() for worker in workers):
        await asyncio.sleep(0.5)
        now = time.monotonic()
        if warm_mb is None and now - started >= args.seconds * WARM_UP_SHARE:
            warm_mb = proxy.rss_mb()
        if now >= next_report:
            next_report += PROGRESS_EVERY
            print(
                f"  {now - started:5.0f} s: {tally.done} answered, {tally.outcomes['ok']} ok, "
                f"{sum(tally.violations.values())} violations, proxy {proxy.rss_mb():.1f} MB",
                flush=True,
            )
    end_mb = proxy.rss_mb()
    elapsed = time.monotonic() - started
    await asyncio.gather(*workers)
    async with session.get(f"http://127.0.0.1:{backend.port}/faults") as response:
        faults = await response.json()
    await asyncio.sleep(1)  # in-flight closes settle
    after_mb = proxy.rss_mb()
    warm_mb = warm_mb if warm_mb is not None else end_mb
    growth = (end_mb - warm_mb) / warm_mb
    print(f"requests: {tally.done} in {elapsed:.0f} s ({tally.done / elapsed:.0f}/s)")
    for outcome, count in tally.outcomes.most_common():
        print(f"  {count:8d}  {outcome}")
    print(f"faults injected: {sum(faults.values())}")
    for fault, count in sorted(faults.items()):
        print(f"  {count:8d}  {fault}")
    print(f"violations: {sum(tally.violations.values())}")
    for kind, count in tally.violations.most_common():
        print(f"  {count:8d}  {kind}")
    for sample in tally.samples:
        print(f"    e.g. {sample[:300]}")
    if args.idle:
        print(
            f"idle connections: {seen.idle_closed} closed by the proxy, "
            f"{seen.idle_overdue} still open {args.head_timeout + 10:g} s after opening"
        )
    slow = seen.slow
    if args.slow:
        wrong = sum(slow.violations.values())
        print(f"slow-reading clients: {slow.done} answers, violations: {wrong}")
        for outcome, count in slow.outcomes.most_common():
            print(f"  {count:8d}  {outcome}")
        for kind, count in slow.violations.most_common():
            print(f"  {count:8d}  {kind}")
        for sample in slow.samples:
            print(f"    e.g. {sample[:300]}")
    print(
        f"proxy memory (RSS): idle {idle_mb:.1f} MB, after warm-up {warm_mb:.1f} MB, "
        f"at the end {end_mb:.1f} MB ({growth:+.1%}), peak {proxy.peak_mb():.1f} MB, "
        f"idle after {after_mb:.1f} MB"
    )
    held = growth <= MEMORY_GROWTH_LIMIT
    if not held:
        print(f"memory grew by more than {MEMORY_GROWTH_LIMIT:.0%} under the same load")
    misbehaving_ok = not seen.idle_overdue and not slow.violations
    return 0 if held and misbehaving_ok and not tally.violations and tally.done else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long the load runs")
    parser.add_argument("--concurrency", type=int, default=200, help="clients at once")
    parser.add_argument("--requests", type=int, help="stop after this many requests")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of faulty answers")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    parser.add_argument("--upstream-timeout", type=float, default=2.0, help="the proxy's")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for one answer")
    parser.add_argument("--idle", type=int, default=0, help="idle connections besides")
    parser.add_argument("--slow", type=int, default=0, help="slow-reading clients besides")
    parser.add_argument("--head-timeout", type=float, default=5.0, help="the proxy's")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="glm-proxy-soak-") as workdir:
        return asyncio.run(soak(args, Path(workdir)))


if __name__ == "__main__":
    sys.exit(main())
