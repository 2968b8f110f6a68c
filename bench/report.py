"""The suite's report as Markdown: the targets of issue 5 first, then every table behind them."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

from bench.figures import BACKEND, FORWARDER, PROXY, RELAY, SERVERS, Results
from bench.measure import Sample
from bench.processes import REPO
from bench.workloads import Workload

MB = 1024  # KiB per MiB


def render(results: Results, workloads: list[Workload]) -> list[str]:
    lines = [
        "# glm-proxy benchmark",
        "",
        f"{_machine()}; glm-proxy {_revision()}; `scripts/bench`; "
        f"{results.config.describe()}; whole suite {results.seconds:.0f} s.",
        "Servers, load generator (`bench/loadgen.py`, closed loop over keep-alive connections, "
        "latency = time to the last byte) and mock backend (`glm-proxy mock-backend`, no delay "
        "unless said) share the machine's CPUs." + _noise(results),
        "",
    ]
    for section in (_targets, _main, _overhead, _paced, _open_streams, _workers, _relays):
        lines += section(results, workloads)
    lines += ["## Parser (`bench/parser.py`)", "", *results.parser, ""]
    return lines


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    python = ".".join(map(str, sys.version_info[:3]))
    day = time.strftime("%Y-%m-%d")
    return f"{day}, {os.cpu_count()} CPUs ({cpu}), Python {python}, {platform.system()}"


def _noise(results: Results) -> str:
    limit = results.config.foreign_limit
    text = f" Runs during which other processes took more than {limit:.0%} of the CPUs were done"
    text += f" again ({results.repeats} times)"
    if results.foreign_load is not None:
        text += f"; over the whole suite they took {results.foreign_load:.0%}"
    disturbed = results.disturbed(limit)
    if disturbed:
        text += f". **{disturbed} figures still include a disturbed run: rerun on a quiet machine**"
    return text + "."


def _revision() -> str:
    """The commit measured, and whether the proxy's sources differed from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "(no git)"
    if not commit:
        return "(no git)"
    return f"at {commit}" + (" with uncommitted changes in src/" if changes else "")


def _targets(results: Results, workloads: list[Workload]) -> list[str]:
    config, main, chunks = results.config, results.main, results.chunks
    low, high = config.low, config.high
    lines = [
        "## Targets (issue 5)",
        "",
        "The last column is the same figure for the pass-through relay: the floor.",
        "",
        "| target | glm-proxy | goal | met | relay |",
        "|---|---:|---|---|---:|",
    ]

    def row(name: str, measured: str, goal: str, met: bool, floor: str) -> None:
        lines.append(f"| {name} | {measured} | {goal} | {'yes' if met else '**no**'} | {floor} |")

    def per_chunk(sample: Sample | None) -> str:
        return (
            "-" if sample is None or sample.cpu_us is None else f"{sample.cpu_us / chunks:.1f} us"
        )

    direct = main.get(("chat", low, BACKEND))
    proxy, relay = main.get(("chat", low, PROXY)), main.get(("chat", low, RELAY))
    if direct and proxy and relay:
        added = proxy.p50_ms - direct.p50_ms
        floor = f"{relay.p50_ms - direct.p50_ms:.2f} ms"
        name = f"added p50 latency, chat, c={low}"
        row(name, f"{added:.2f} ms", "<= 0.5 ms", added <= 0.5, floor)
    proxy, relay = main.get(("chat", high, PROXY)), main.get(("chat", high, RELAY))
    if proxy and relay:
        name = f"req/s, chat, c={high}"
        row(name, f"{proxy.rps:,.0f}", ">= 4,000", proxy.rps >= 4000, f"{relay.rps:,.0f}")
    proxy, relay = results.paced.get(PROXY), results.paced.get(RELAY)
    forwarder = results.paced.get(FORWARDER)
    if proxy and proxy.cpu_us is not None:
        value = proxy.cpu_us / chunks
        name = f"CPU per streamed chunk, chunks paced, c={high}"
        floor = per_chunk(relay)
        if forwarder is not None:
            floor += f" (TCP forwarder: {per_chunk(forwarder)})"
        row(name, f"{value:.1f} us", "<= 10 us", value <= 10, floor)
    proxy, relay = main.get(("stream", high, PROXY)), main.get(("stream", high, RELAY))
    if proxy and proxy.cpu_us is not None:
        value = proxy.cpu_us / chunks
        name = f"CPU per streamed chunk, backend at full speed, c={high}"
        row(name, f"{value:.1f} us", "<= 10 us", value <= 10, per_chunk(relay))
    if proxy and relay:
        ratio = proxy.rps / relay.rps if relay.rps else 0.0
        name = f"streaming req/s, glm-proxy / relay, c={high}"
        row(name, f"{ratio:.2f}", ">= 0.50", ratio >= 0.5, "1.00")
    chat = main.get(("stream", high, PROXY))
    fronts = [w for w in workloads if w.proxy_only and w.stream]  # the same stream elsewhere
    for front in fronts:
        other, path = main.get((front.name, high, PROXY)), front.path
        if chat and other:
            ratio = other.rps / chat.rps if chat.rps else 0.0
            name = f"streaming req/s, {path} / chat completions, c={high}"
            row(name, f"{ratio:.2f}", ">= 0.80", ratio >= 0.8, "1.00")
        if chat and other and chat.cpu_us and other.cpu_us:
            # The same in CPU per request: the steadier figure on a shared machine.
            ratio = other.cpu_us / chat.cpu_us
            name = f"streaming CPU/req, {path} / chat completions, c={high}"
            row(name, f"{ratio:.2f}", "<= 1.25", ratio <= 1.25, "1.00")
    held_by = {held.server: held for held in results.open_streams}
    held, floor_held = held_by.get(PROXY), held_by.get(RELAY)
    if held is not None:
        met = held.errors == 0 and held.peak_open == held.streams and held.peak_rss_kb < 300 * MB
        measured = (
            f"{held.peak_rss_kb / MB:.0f} MB, {held.errors} errors, {held.peak_open:,} open at once"
        )
        floor = f"{floor_held.peak_rss_kb / MB:.0f} MB" if floor_held else "-"
        name = f"{held.streams:,} streams open at once"
        row(name, measured, "< 300 MB, no errors", met, floor)
    return [*lines, ""]


def _main(results: Results, workloads: list[Workload]) -> list[str]:
    lines = [
        "## Throughput and latency",
        "",
        "CPU = user + system time of that server's processes per request (warm-up included); "
        f"per chunk = per request / {results.chunks} content chunks.",
        "",
        "| workload | c | server | req/s | p50 ms | p99 ms | CPU/req us | CPU/chunk us | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        for c in results.config.concurrency:
            for server in SERVERS:
                sample = results.main.get((workload.name, c, server))
                if sample is not None:
                    chunks = results.chunks if workload.stream else 0
                    lines.append(
                        f"| {workload.name} | {c} | {server} | {_figures(sample, chunks)} |"
                    )
    lines += ["", *(f"- {w.name}: {w.label}" for w in workloads), ""]
    return lines


def _overhead(results: Results, workloads: list[Workload]) -> list[str]:
    lines = [
        "## What glm-proxy adds",
        "",
        "Added p50 = p50 through the server - p50 direct to the backend.",
        "",
        "| workload | c | added p50 ms, glm-proxy | added p50 ms, relay "
        "| req/s glm-proxy / relay | CPU/req us glm-proxy / relay |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        for c in results.config.concurrency:
            direct = results.main.get((workload.name, c, BACKEND))
            relay = results.main.get((workload.name, c, RELAY))
            proxy = results.main.get((workload.name, c, PROXY))
            if not (direct and relay and proxy):
                continue
            ratio = proxy.rps / relay.rps if relay.rps else 0.0
            lines.append(
                f"| {workload.name} | {c} | {proxy.p50_ms - direct.p50_ms:.2f} "
                f"| {relay.p50_ms - direct.p50_ms:.2f} | {ratio:.2f} "
                f"| {_us(proxy.cpu_us)} / {_us(relay.cpu_us)} |"
            )
    return [*lines, ""]


def _paced(results: Results, workloads: list[Workload]) -> list[str]:
    if not results.paced:
        return []
    config = results.config
    lines = [
        f"## Streaming, chunks {config.paced_delay * 1000:g} ms apart (c={config.high})",
        "",
        "The backend writes each chunk on its own, as a model server does, so the proxies "
        "read and translate them one at a time (at full speed they read many chunks at once). "
        "The TCP forwarder (``bench/forwarder.py``) only reads and writes bytes: what one read "
        "and one write per chunk cost on this machine, before any HTTP.",
        "",
        "| server | req/s | p50 ms | p99 ms | CPU/req us | CPU/chunk us | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server in SERVERS:
        sample = results.paced.get(server)
        if sample is not None:
            lines.append(f"| {server} | {_figures(sample, results.chunks)} |")
    return [*lines, ""]


def _open_streams(results: Results, workloads: list[Workload]) -> list[str]:
    if not results.open_streams:
        return []
    config = results.config
    streams = results.open_streams[0].streams
    lines = [
        f"## {streams:,} streams open at once",
        "",
        f"One request per connection, all sent together; the backend waits "
        f"{config.open_delay * 1000:g} ms between chunks so that they stay open. "
        "Memory of a freshly started server: resident set before, and its high-water mark "
        "(VmHWM).",
        "",
        "| server | streams | open at once | errors | RSS before MB | peak RSS MB "
        "| KB per stream | CPU/chunk us | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for held in results.open_streams:
        per_stream = (held.peak_rss_kb - held.rss_before_kb) / max(held.streams, 1)
        lines.append(
            f"| {held.server} | {held.streams:,} | {held.peak_open:,} | {held.errors} "
            f"| {held.rss_before_kb / MB:.0f} | {held.peak_rss_kb / MB:.0f} | {per_stream:.0f} "
            f"| {held.cpu_us_per_chunk:.1f} | {held.seconds:.1f} |"
        )
    return [*lines, ""]


def _workers(results: Results, workloads: list[Workload]) -> list[str]:
    if not results.workers:
        return []
    lines = [
        f"## glm-proxy with several worker processes (c={results.config.high})",
        "",
        "| workload | workers | req/s | p50 ms | p99 ms | CPU/req us | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        for workers in results.config.workers:
            sample = results.workers.get((workload.name, workers))
            if sample is not None:
                lines.append(
                    f"| {workload.name} | {workers} | {sample.rps:,.0f} | {sample.p50_ms:.2f} "
                    f"| {sample.p99_ms:.2f} | {_us(sample.cpu_us)} | {sample.errors} |"
                )
    return [*lines, ""]


def _relays(results: Results, workloads: list[Workload]) -> list[str]:
    if not results.relays:
        return []
    lines = [
        "## The relay with other servers and upstream clients",
        "",
        "The same minimal relay (`bench/relay.py`); the first row of each block is the floor "
        "used above.",
        "",
        "| workload | c | server | upstream client | req/s | p50 ms | p99 ms | CPU/req us "
        "| errors |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    concurrencies = sorted({key[3] for key in results.relays})
    for workload in workloads:
        for c in concurrencies:
            for server, client in results.config.relay_variants:
                sample = results.relays.get((server, client, workload.name, c))
                if sample is not None:
                    lines.append(
                        f"| {workload.name} | {c} | {_server_name(server)} | {client} "
                        f"| {sample.rps:,.0f} | {sample.p50_ms:.2f} | {sample.p99_ms:.2f} "
                        f"| {_us(sample.cpu_us)} | {sample.errors} |"
                    )
    return [*lines, ""]


def _server_name(server: str) -> str:
    return "aiohttp.web" if server == "aiohttp" else "uvicorn (bare ASGI)"


def _figures(sample: Sample, chunks: int) -> str:
    per_chunk = "-"
    if chunks and sample.cpu_us is not None:
        per_chunk = f"{sample.cpu_us / chunks:.1f}"
    return (
        f"{sample.rps:,.0f} | {sample.p50_ms:.2f} | {sample.p99_ms:.2f} | {_us(sample.cpu_us)} "
        f"| {per_chunk} | {sample.errors}"
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
