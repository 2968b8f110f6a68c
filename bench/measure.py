"""One measurement: the load generator (``bench.loadgen``, its own process) against one server,
with the server's CPU time read before and after. Medians over several runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import Service, bench_env

LOADGEN_GRACE = 120.0
"""Seconds a load generator may take beyond its planned time before it is killed."""


class LoadError(RuntimeError):
    """The load generator failed or did not finish (failed requests are counted, not raised)."""


@dataclass(frozen=True, slots=True)
class Load:
    """How to load a server: closed loop for ``duration`` seconds, or ``requests`` requests."""

    concurrency: int
    duration: float
    warmup: float
    requests: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """The figures of one run (or the medians of several)."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None
    """CPU time of the measured server per request (all requests, warm-up included)."""
    requests: int
    errors: int
    error_samples: tuple[str, ...] = ()
    foreign_load: float = 0.0
    """Share of the CPUs that other processes used during the run (the worst of the runs)."""


def run_loadgen(args: Sequence[str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.loadgen", *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=bench_env(), check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadError(f"the load generator did not finish in {timeout:g} s") from None
    if done.returncode != 0:
        raise LoadError(f"the load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def expectations(expect: Sequence[str], expect_end: str) -> list[str]:
    args = [f"--expect={marker}" for marker in expect]
    return [*args, f"--expect-end={expect_end}"] if expect_end else args


def measure(
    target: Service,
    body: Path,
    load: Load,
    expect: Sequence[str],
    expect_end: str,
    watch: Service | None = None,
    path: str = "/v1/chat/completions",
) -> Sample:
    """One run against ``target``; ``watch`` (default: the target) is the server whose CPU
    time is counted."""
    watch = watch or target
    args = [
        f"--port={target.port}",
        f"--path={path}",
        f"--body={body}",
        f"--concurrency={load.concurrency}",
        f"--duration={load.duration}",
        f"--warmup={load.warmup}",
        *expectations(expect, expect_end),
    ]
    if load.requests is not None:
        args.append(f"--requests={load.requests}")
    cpu_before = watch.cpu_seconds()
    result = run_loadgen(args, load.duration + load.warmup + LOADGEN_GRACE)
    cpu = watch.cpu_seconds() - cpu_before
    return Sample(
        rps=result["rps"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        cpu_us=cpu / result["total"] * 1e6 if result["total"] else None,
        requests=result["measured"],
        errors=result["errors"],
        error_samples=tuple(result["error_samples"]),
    )


def median_sample(samples: Sequence[Sample]) -> Sample:
    """Each figure is the median of that figure over the runs."""
    cpus = [s.cpu_us for s in samples if s.cpu_us is not None]
    return Sample(
        rps=statistics.median(s.rps for s in samples),
        p50_ms=statistics.median(s.p50_ms for s in samples),
        p99_ms=statistics.median(s.p99_ms for s in samples),
        cpu_us=statistics.median(cpus) if cpus else None,
        requests=sum(s.requests for s in samples),
        errors=sum(s.errors for s in samples),
        error_samples=tuple(e for s in samples for e in s.error_samples)[:5],
        foreign_load=max(s.foreign_load for s in samples),
    )
