"""The benchmark suite of glm-proxy (issue 5). Run it with ``scripts/bench``:

    scripts/bench [--quick] [--out FILE] [--concurrency 1,32,256] [--runs N] [--duration S]

Everything runs on 127.0.0.1 in processes of its own: the mock GLM backend
(``glm-proxy mock-backend``), glm-proxy, the pass-through relay of ``bench/relay.py`` (the floor:
bytes in, bytes out) and, for each run, the load generator of ``bench/loadgen.py``. It measures,
and writes to ``bench/results/latest.md`` (or ``--out``):

1. non-streamed chat with a tool call, and streams of 200 chunks of 4 characters (reasoning and a
   tool call), at each concurrency: req/s, p50/p99 latency and CPU per request of the backend
   direct, the relay and glm-proxy (the backend answers at once: no delay);
2. the same stream with the backend pacing its chunks, so that they are read one at a time (here
   also through the TCP forwarder of ``bench/forwarder.py``: a read and a write per chunk, no HTTP);
3. memory (peak RSS) of glm-proxy and of the relay with 1,000 streams open at once;
4. glm-proxy with 1 and 2 worker processes;
5. the relay with other servers and upstream clients (aiohttp vs httpx);
6. the parser benchmark (``bench/parser.py``).

Every server it started is stopped when it ends, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench import parser as parser_bench
from bench.figures import BACKEND, FORWARDER, PROXY, RELAY, Config, OpenStreams, Results
from bench.measure import (
    LOADGEN_GRACE,
    Load,
    Sample,
    expectations,
    measure,
    median_sample,
    run_loadgen,
)
from bench.processes import REPO, MachineLoad, Service, Services
from bench.report import render
from bench.workloads import CHUNK_SIZE, Workload, workloads

DEFAULT_OUT = REPO / "bench" / "results" / "latest.md"
QUICK: dict[str, Any] = {"runs": 1, "duration": 1.0, "warmup": 0.3, "parser_repeat": 1}
SETTINGS = (
    "concurrency",
    "runs",
    "duration",
    "warmup",
    "requests",
    "open_streams",
    "open_delay",
    "paced_delay",
    "parser_repeat",
)
"""Fields of ``Config`` that a flag of the same name sets."""


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mock_argv(delay: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "glm_proxy",
        "mock-backend",
        "--port={port}",
        f"--chunk-size={CHUNK_SIZE}",
        f"--delay={delay!r}",
        "--log-level=warning",
    ]


def proxy_argv(backend: Service, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "glm_proxy",
        "serve",
        "--port={port}",
        f"--base-url={backend.url}/v1",
        "--log-level=WARNING",
        f"--workers={workers}",
    ]


def relay_argv(backend: Service, server: str = "aiohttp", client: str = "aiohttp") -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.relay",
        "--port={port}",
        f"--upstream={backend.url}",
        f"--server={server}",
        f"--client={client}",
    ]


def forwarder_argv(backend: Service) -> list[str]:
    return [sys.executable, "-m", "bench.forwarder", "--port={port}", f"--upstream={backend.url}"]


class Suite:
    def __init__(self, config: Config, services: Services) -> None:
        self.config = config
        self.services = services
        self.workloads = workloads()
        self.by_name = {w.name: w for w in self.workloads}
        self.bodies: dict[str, Path] = {}
        for workload in self.workloads:
            path = services.workdir / f"{workload.name}.json"
            path.write_bytes(workload.body)
            self.bodies[workload.name] = path
        self.results = Results(config, chunks=self.by_name["stream"].chunks)

    def served_by_all(self) -> list[Workload]:
        """The workloads every server serves (the ones only glm-proxy serves stay in the main
        table)."""
        return [workload for workload in self.workloads if not workload.proxy_only]

    def load(self, concurrency: int) -> Load:
        c = self.config
        return Load(concurrency, c.duration, 0.0 if c.requests else c.warmup, c.requests)

    def compare(
        self, targets: Sequence[tuple[str, Service]], workload: Workload, concurrency: int
    ) -> dict[str, Sample]:
        """Median figures of each target; runs alternate between targets to share any drift."""
        runs: dict[str, list[Sample]] = {name: [] for name, _ in targets}
        for _ in range(self.config.runs):
            for name, service in targets:
                runs[name].append(self.undisturbed_run(service, workload, concurrency))
        medians = {name: median_sample(samples) for name, samples in runs.items()}
        for name, sample in medians.items():
            note(
                f"  {workload.name:6} c={concurrency:<4} {name:22} {sample.rps:9,.0f} req/s  "
                f"p50 {sample.p50_ms:7.2f} ms  p99 {sample.p99_ms:7.2f} ms  "
                f"CPU {sample.cpu_us or 0:7.0f} us/req  errors {sample.errors}"
            )
            for error in sample.error_samples:
                note(f"    error: {error}")
        return medians

    def undisturbed_run(self, service: Service, workload: Workload, concurrency: int) -> Sample:
        """One run, done again (up to ``max_repeats`` times) while other processes took more than
        ``foreign_limit`` of the CPUs meanwhile: the machine may be shared."""
        translated = service.name.startswith("glm-proxy")
        expect = workload.expect_proxy if translated else workload.expect_raw
        limit, repeats = self.config.foreign_limit, self.config.max_repeats
        for attempt in range(repeats + 1):
            machine = MachineLoad(self.services.cpu_seconds)
            sample = measure(
                service,
                self.bodies[workload.name],
                self.load(concurrency),
                expect,
                workload.expect_end,
                path=workload.path,
            )
            foreign = machine.share() or 0.0
            sample = dataclasses.replace(sample, foreign_load=foreign)
            spent = self.results.repeats >= self.config.repeat_budget
            if foreign <= limit or attempt == repeats or spent:
                return sample
            self.results.repeats += 1
            note(f"    {service.name}: other processes took {foreign:.0%} of the CPUs; again")
        raise AssertionError("unreachable")

    def main_table(self, backend: Service, relay: Service, proxy: Service) -> None:
        note("Throughput and latency (backend without delay)")
        all_targets = [(BACKEND, backend), (RELAY, relay), (PROXY, proxy)]
        for workload in self.workloads:
            targets = [(PROXY, proxy)] if workload.proxy_only else all_targets
            for c in self.config.concurrency:
                for server, sample in self.compare(targets, workload, c).items():
                    self.results.main[(workload.name, c, server)] = sample

    def paced(self) -> None:
        note(f"Streaming with chunks {self.config.paced_delay * 1000:g} ms apart")
        backend = self.services.start("mock-paced", mock_argv(self.config.paced_delay))
        relay = self.services.start("relay-paced", relay_argv(backend))
        proxy = self.services.start("glm-proxy-paced", proxy_argv(backend))
        forwarder = self.services.start("forwarder-paced", forwarder_argv(backend))
        targets = [(BACKEND, backend), (RELAY, relay), (PROXY, proxy), (FORWARDER, forwarder)]
        self.results.paced = self.compare(targets, self.by_name["stream"], self.config.high)
        for service in (forwarder, proxy, relay, backend):
            self.services.stop(service)

    def open_streams(self) -> None:
        config = self.config
        note(f"{config.open_streams:,} streams open at once")
        backend = self.services.start("mock-slow", mock_argv(config.open_delay))
        for name, argv in ((PROXY, proxy_argv(backend)), (RELAY, relay_argv(backend))):
            service = self.services.start(f"{name.split()[0]}-held", argv)
            held = self.hold_streams(name, service)
            self.results.open_streams.append(held)
            self.services.stop(service)
            note(
                f"  {name:22} {held.streams:,} streams, {held.peak_open:,} open at once, "
                f"{held.errors} errors, RSS {held.rss_before_kb // 1024} -> "
                f"{held.peak_rss_kb // 1024} MB, {held.cpu_us_per_chunk:.1f} us CPU/chunk"
            )
            for error in held.error_samples:
                note(f"    error: {error}")
        self.services.stop(backend)

    def hold_streams(self, name: str, service: Service) -> OpenStreams:
        config, workload = self.config, self.by_name["stream"]
        translated = name == PROXY
        expect = workload.expect_proxy if translated else workload.expect_raw
        args = [
            f"--port={service.port}",
            f"--body={self.bodies[workload.name]}",
            f"--open={config.open_streams}",
            *expectations(expect, workload.expect_end),
        ]
        rss_before = service.memory_kb("VmRSS")
        cpu_before = service.cpu_seconds()
        planned = config.open_delay * (workload.chunks + 2)
        result = run_loadgen(args, planned + LOADGEN_GRACE)
        cpu = service.cpu_seconds() - cpu_before
        return OpenStreams(
            server=name,
            streams=config.open_streams,
            peak_open=result["peak_open"],
            errors=result["errors"],
            rss_before_kb=rss_before,
            peak_rss_kb=service.memory_kb("VmHWM"),
            cpu_us_per_chunk=cpu / max(result["total"] * workload.chunks, 1) * 1e6,
            seconds=result["seconds"],
            error_samples=tuple(result["error_samples"]),
        )

    def workers(self, backend: Service, proxy: Service) -> None:
        note(f"glm-proxy with {' and '.join(map(str, self.config.workers))} worker processes")
        started = []
        targets = []
        for count in self.config.workers:
            if count == 1:
                targets.append((str(count), proxy))
            else:
                service = self.services.start(f"glm-proxy-{count}w", proxy_argv(backend, count))
                started.append(service)
                targets.append((str(count), service))
        for workload in self.served_by_all():
            for name, sample in self.compare(targets, workload, self.config.high).items():
                self.results.workers[(workload.name, int(name))] = sample
        for service in started:
            self.services.stop(service)

    def relays(self, backend: Service) -> None:
        note("The relay with other servers and upstream clients")
        config = self.config
        floor, *others = config.relay_variants
        concurrencies = sorted({config.low, config.high})
        for workload in self.served_by_all():
            for c in concurrencies:
                sample = self.results.main.get((workload.name, c, RELAY))
                if sample is not None:
                    self.results.relays[(*floor, workload.name, c)] = sample
        for server, client in others:
            relay = self.services.start(
                f"relay-{server}-{client}", relay_argv(backend, server, client)
            )
            label = f"{server}+{client}"
            for workload in self.served_by_all():
                for c in concurrencies:
                    sample = self.compare([(label, relay)], workload, c)[label]
                    self.results.relays[(server, client, workload.name, c)] = sample
            self.services.stop(relay)

    def parser(self) -> None:
        note("Parser benchmark")
        self.results.parser = parser_bench.run(self.config.parser_repeat, CHUNK_SIZE)

    def run(self) -> Results:
        started = time.monotonic()
        services = self.services
        backend = services.start("mock", mock_argv(0.0))
        relay = services.start("relay", relay_argv(backend))
        proxy = services.start("glm-proxy", proxy_argv(backend))
        self.main_table(backend, relay, proxy)
        self.paced()
        self.open_streams()
        self.workers(backend, proxy)
        services.stop(proxy)
        self.relays(backend)
        services.stop(relay)
        services.stop(backend)
        self.parser()
        self.results.seconds = time.monotonic() - started
        return self.results


def parse_args(argv: Sequence[str] | None) -> tuple[Config, Path]:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="1 short run per figure")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the report goes")
    parser.add_argument("--concurrency", type=_ints, help="comma-separated (1,32,256)")
    parser.add_argument("--runs", type=int, help="runs per figure (3; quick: 1)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (2.5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per run (0.5)")
    parser.add_argument("--requests", type=int, help="requests per run instead of a duration")
    parser.add_argument("--open-streams", type=int, help="streams held open at once (1000)")
    parser.add_argument("--open-delay", type=float, help="seconds between their chunks (0.05)")
    parser.add_argument("--paced-delay", type=float, help="seconds between paced chunks (0.002)")
    parser.add_argument("--parser-repeat", type=int, help="runs of the parser benchmark (5)")
    args = parser.parse_args(argv)
    settings: dict[str, Any] = dict(QUICK) if args.quick else {}
    for name in SETTINGS:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    config = dataclasses.replace(Config(), **settings)
    if config.runs < 1 or min(config.concurrency) < 1 or config.open_streams < 1:
        parser.error("--runs, --concurrency and --open-streams must be 1 or more")
    return config, args.out


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas") from None


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    config, out = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    load = MachineLoad()
    with Services() as services:
        suite = Suite(config, services)
        results = suite.run()
    results.foreign_load = load.share()
    text = "\n".join(render(results, suite.workloads)) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    note(f"written to {out}")
    errors = results.errors()
    if errors:
        note(f"{errors} requests failed: see the errors columns")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
