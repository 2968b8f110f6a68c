"""``glm-proxy mock-backend``: flags, serving until SIGTERM, and clear failures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from glm_proxy.cli import build_parser

COMMAND = [sys.executable, "-m", "glm_proxy", "mock-backend"]


def test_defaults_match_the_documented_ones() -> None:
    args = build_parser().parse_args(["mock-backend"])
    assert (args.host, args.port, args.style, args.chunk_size, args.delay, args.log_level) == (
        "127.0.0.1",
        8090,
        "auto",
        4,
        0.0,
        "info",
    )


@pytest.mark.parametrize(
    "flags", [["--chunk-size", "0"], ["--delay", "-1"], ["--style", "4.6"], ["--port", "x"]]
)
def test_bad_flags_exit_2_with_a_message(flags: list[str]) -> None:
    result = subprocess.run([*COMMAND, *flags], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert flags[0] in result.stderr


def test_it_serves_on_the_printed_url_until_sigterm() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", "--style", "4.7", "--chunk-size", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split("listening on ")[1].split()[0]
        body = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(f"{url}/chat/completions", json=body).json()
        assert reply["choices"][0]["message"]["content"].endswith("</think>You said: hi")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_busy_port_is_reported_without_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--port", str(port)], capture_output=True, text=True, check=False
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_dialect_exits_2_with_a_message() -> None:
    result = subprocess.run(
        [*COMMAND, "--port", "0", "--dialect", "klingon"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "dialect must be one of glm" in result.stderr
    assert "Traceback" not in result.stderr
