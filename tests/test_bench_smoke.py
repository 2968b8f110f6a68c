"""The benchmark suite still runs: ``scripts/bench`` in a tiny configuration (a few requests at
concurrency 2, 20 streams held open) must end well and report every table with every row filled
with numbers. The figures themselves are not judged here (no timed assertions in tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # it runs the whole benchmark suite, in a tiny configuration

REPO = Path(__file__).resolve().parent.parent
SERVERS = ("backend (direct)", "relay (floor)", "glm-proxy")
NUMBER = r"-?[0-9][0-9,]*(?:\.[0-9]+)?"
TINY = [
    "--concurrency=2",
    "--requests=12",
    "--runs=1",
    "--open-streams=20",
    "--open-delay=0.005",
    "--paced-delay=0.0005",
    "--parser-repeat=1",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("bench") / "report.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.suite", *TINY, f"--out={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert done.stdout.strip() == text.strip()  # what it prints is what it writes
    return text


def table(report: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under the ``## `` heading that starts with ``heading``."""
    sections = re.split(r"^## ", report, flags=re.M)
    section = next(s for s in sections if s.startswith(heading))
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def assert_numbers(cells: list[str]) -> None:
    for cell in cells:
        assert re.fullmatch(NUMBER, cell), f"{cell!r} is not a number in {cells}"


def test_targets_are_all_reported(report: str) -> None:
    rows = table(report, "Targets")
    names = [row[0] for row in rows]
    assert names == [
        "added p50 latency, chat, c=2",
        "req/s, chat, c=2",
        "CPU per streamed chunk, chunks paced, c=2",
        "CPU per streamed chunk, backend at full speed, c=2",
        "streaming req/s, glm-proxy / relay, c=2",
        "streaming req/s, /v1/responses / chat completions, c=2",
        "streaming CPU/req, /v1/responses / chat completions, c=2",
        "streaming req/s, /v1/messages / chat completions, c=2",
        "streaming CPU/req, /v1/messages / chat completions, c=2",
        "20 streams open at once",
    ]
    for name, measured, _goal, met, floor in rows:
        assert met in ("yes", "**no**")
        if name.startswith("20 streams"):
            assert re.fullmatch(f"{NUMBER} MB, 0 errors, 20 open at once", measured)
            assert re.fullmatch(f"{NUMBER} MB", floor)
        elif "paced" in name:  # the relay, and a forwarder without HTTP
            assert re.fullmatch(f"{NUMBER} us", measured), (name, measured)
            assert re.fullmatch(f"{NUMBER} us \\(TCP forwarder: {NUMBER} us\\)", floor), floor
        else:
            assert re.fullmatch(NUMBER + r"( ms| us)?", measured), (name, measured)
            assert re.fullmatch(NUMBER + r"( ms| us)?", floor), (name, floor)


def test_every_server_and_workload_has_figures(report: str) -> None:
    rows = table(report, "Throughput and latency")
    expected = [(w, "2", s) for w in ("chat", "stream") for s in SERVERS]
    # Only glm-proxy serves /v1/responses and /v1/messages.
    expected += [("responses", "2", "glm-proxy"), ("messages", "2", "glm-proxy")]
    assert [tuple(row[:3]) for row in rows] == expected
    for row in rows:
        assert_numbers(row[3:7] + row[8:])  # req/s, p50, p99, CPU/req, errors
        per_chunk = row[7]  # only streams have chunks
        if row[0] == "chat":
            assert per_chunk == "-"
        else:
            assert_numbers([per_chunk])
        assert row[-1] == "0"
        assert float(row[3].replace(",", "")) > 0


def test_overhead_ratios(report: str) -> None:
    rows = table(report, "What glm-proxy adds")
    assert [row[:2] for row in rows] == [["chat", "2"], ["stream", "2"]]
    for row in rows:
        assert_numbers(row[2:5])
        assert re.fullmatch(f"{NUMBER} / {NUMBER}", row[5])


def test_paced_stream(report: str) -> None:
    rows = table(report, "Streaming, chunks")
    assert [row[0] for row in rows] == [*SERVERS, "TCP forwarder (no HTTP)"]
    for row in rows:
        assert_numbers(row[1:])
        assert row[-1] == "0"


def test_open_streams_without_errors(report: str) -> None:
    rows = table(report, "20 streams open at once")
    assert [row[0] for row in rows] == ["glm-proxy", "relay (floor)"]
    for row in rows:
        assert_numbers(row[1:])
        assert row[1:4] == ["20", "20", "0"]  # streams, open at once, errors


def test_workers(report: str) -> None:
    rows = table(report, "glm-proxy with several worker processes")
    assert [row[:2] for row in rows] == [
        ["chat", "1"],
        ["chat", "2"],
        ["stream", "1"],
        ["stream", "2"],
    ]
    for row in rows:
        assert_numbers(row[2:])
        assert row[-1] == "0"


def test_relay_servers_and_clients(report: str) -> None:
    rows = table(report, "The relay with other servers")
    variants = [
        ("aiohttp.web", "aiohttp"),
        ("aiohttp.web", "httpx"),
        ("uvicorn (bare ASGI)", "aiohttp"),
        ("uvicorn (bare ASGI)", "httpx"),
    ]
    expected = [(w, "2", *v) for w in ("chat", "stream") for v in variants]
    assert [tuple(row[:4]) for row in rows] == expected
    for row in rows:
        assert_numbers(row[4:])
        assert row[-1] == "0"


def test_parser_benchmark(report: str) -> None:
    rows = table(report, "Parser")
    shapes = ["1 call (one big string)", "10 calls", "100 calls", "plain text"]
    dialects = ["glm", "hermes", "kimi_k2", "deepseek", "qwen3_coder", "minimax"]
    expected = [(dialect, shape) for dialect in dialects for shape in shapes for _ in range(3)]
    assert [(row[0], row[1]) for row in rows] == expected
    for row in rows:
        assert_numbers([row[3], row[4]])  # total ms, per delta us
