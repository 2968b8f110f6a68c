"""Load generator of the benchmarks: run as its own process, prints one JSON line of results.

    python -m bench.loadgen --port P --body FILE [--concurrency C] [--duration S | --requests N]
    python -m bench.loadgen --port P --body FILE --open N     # N requests at once, one each

Why not wrk or an aiohttp client: the suite needs the time to the LAST byte of every response
(a stream is only done at ``[DONE]``), a check of every body, and the number of requests that
were open at the same time, from a generator cheap enough not to starve the servers it measures
on a 2-core machine. So each connection is a bare ``asyncio.Protocol`` on uvloop whose responses
are parsed by httptools (the C parser that uvicorn uses, already a dependency): several times
cheaper per request than an aiohttp client session, and nothing to install.

Closed loop: each of C keep-alive connections sends the same POST, waits for the whole response,
and sends again. Requests completing during ``--warmup`` are done but not measured; ``total``
counts every response (for the servers' CPU time per request). A response is an error when its
status is not 200, a body check fails, the connection breaks or it takes over ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httptools

MAX_ERROR_SAMPLES = 5
ERROR_PAUSE = 0.01
"""Seconds a connection waits after an error before it connects again."""


class ResponseError(Exception):
    """A response that does not count as a success; the message says why."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that carries one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.first_byte = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.first_byte:
            self.first_byte = time.perf_counter()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ResponseError(f"unparsable response: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ResponseError(f"connection lost: {exc or 'closed by the server'}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ResponseError("connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.body = []
        self.first_byte = 0.0
        self.transport.write(payload)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True, slots=True)
class Job:
    host: str
    port: int
    payload: bytes
    expect: tuple[bytes, ...]
    expect_end: bytes
    timeout: float

    def check(self, status: int, body: bytes) -> None:
        if status != 200:
            raise ResponseError(f"status {status}: {body[:200]!r}")
        for marker in self.expect:
            if marker not in body:
                raise ResponseError(f"{marker!r} missing from the body: {body[:200]!r}")
        if self.expect_end and not body.rstrip(b"\r\n").endswith(self.expect_end):
            raise ResponseError(f"body does not end with {self.expect_end!r}: {body[-200:]!r}")


@dataclass(slots=True)
class Tally:
    """What the run saw: latencies of measured requests (seconds), counts, error samples."""

    latencies: list[float] = field(default_factory=list)
    total: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    intervals: list[tuple[float, float]] = field(default_factory=list)

    def error(self, error: BaseException) -> None:
        self.total += 1
        self.errors += 1
        if len(self.samples) < MAX_ERROR_SAMPLES:
            self.samples.append(f"{type(error).__name__}: {error}")


def build_payload(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _connect(job: Job) -> _Connection:
    loop = asyncio.get_running_loop()
    _, connection = await asyncio.wait_for(
        loop.create_connection(_Connection, job.host, job.port), job.timeout
    )
    return connection


async def _one(job: Job, connection: _Connection | None) -> tuple[_Connection, float, float]:
    """Send one request (reconnecting first if needed); ``(connection, start, end)``."""
    if connection is None or connection.transport is None:
        connection = await _connect(job)
    start = time.perf_counter()
    try:
        status, body = await asyncio.wait_for(connection.request(job.payload), job.timeout)
    except BaseException:
        connection.close()
        raise
    job.check(status, body)
    return connection, start, time.perf_counter()


async def closed_loop(
    job: Job, concurrency: int, duration: float, requests: int | None, warmup: float
) -> dict[str, Any]:
    """C connections in a closed loop, for ``duration`` seconds or ``requests`` requests."""
    tally = Tally()
    connections = await asyncio.gather(*(_connect(job) for _ in range(concurrency)))
    began = time.perf_counter()
    measure_from = began + warmup
    stop_at = measure_from + duration if requests is None else float("inf")
    tickets = iter(range(requests)) if requests is not None else None

    async def worker(connection: _Connection | None) -> None:
        while time.perf_counter() < stop_at and (
            tickets is None or next(tickets, None) is not None
        ):
            try:
                connection, start, end = await _one(job, connection)
            except (ResponseError, OSError, TimeoutError) as error:
                tally.error(error)
                connection = None
                await asyncio.sleep(ERROR_PAUSE)  # no storm of reconnections
                continue
            tally.total += 1
            if measure_from <= end <= stop_at:
                tally.latencies.append(end - start)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(worker(c) for c in connections))
    ended = time.perf_counter() if requests is not None else stop_at
    return _summary(tally, max(ended - measure_from, 1e-9))


async def open_at_once(job: Job, count: int, connect_batch: int) -> dict[str, Any]:
    """``count`` requests on their own connections, all in flight together (as far as they can
    be: connections open ``connect_batch`` at a time). ``peak_open`` is the most requests that
    were open at one moment; the server must hold them (a slow stream) for that to reach count."""
    tally = Tally()
    gate = asyncio.Semaphore(connect_batch)
    began = time.perf_counter()

    async def one() -> None:
        try:
            async with gate:
                connection = await _connect(job)
            _, start, end = await _one(job, connection)
            connection.close()
        except (ResponseError, OSError, TimeoutError) as error:
            tally.error(error)
            return
        tally.total += 1
        tally.latencies.append(end - start)
        tally.intervals.append((start, end))

    await asyncio.gather(*(one() for _ in range(count)))
    result = _summary(tally, time.perf_counter() - began)
    result["peak_open"] = peak_overlap(tally.intervals)
    return result


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals that contain one common instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return sorted_values[int(rank) - 1]


def _summary(tally: Tally, seconds: float) -> dict[str, Any]:
    latencies = sorted(tally.latencies)
    return {
        "measured": len(latencies),
        "total": tally.total,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--body", type=Path, required=True, help="file holding the JSON body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds")
    parser.add_argument("--requests", type=int, help="stop after this many requests instead")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds not measured")
    parser.add_argument("--open", type=int, help="send this many requests at once, one each")
    parser.add_argument("--connect-batch", type=int, default=100)
    parser.add_argument("--expect", action="append", default=[], help="text every body holds")
    parser.add_argument(
        "--expect-end", default="", help="text every body ends with (before its last newlines)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    job = Job(
        args.host,
        args.port,
        build_payload(args.host, args.port, args.path, args.body.read_bytes()),
        tuple(e.encode() for e in args.expect),
        args.expect_end.encode(),
        args.timeout,
    )
    if args.open is not None:
        run = open_at_once(job, args.open, args.connect_batch)
    else:
        run = closed_loop(job, args.concurrency, args.duration, args.requests, args.warmup)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        result = asyncio.run(run)
    else:
        result = uvloop.run(run)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
