"""The scripts in examples/ run against ``glm-proxy demo --serve`` and print what they promise."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "chat_requests.py": ["reasoning: The user says", "answer: You said: Hello! Who are you?"],
    "tool_call_requests.py": [
        "finish_reason: tool_calls",
        "tool call: get_weather({'location': 'Seoul'})",
    ],
    "tool_call_openai.py": [
        "finish_reason: tool_calls",
        "tool call: get_weather({'location': 'Seoul'})",
    ],
    "streaming_openai.py": ["answer: You said: Tell me about Seoul."],
    "streaming_tool_call_openai.py": [
        "tool call: get_weather({'location': 'Seoul'})",
        "finish_reason: tool_calls",
    ],
    "tool_round_trip_openai.py": [
        "ran get_weather -> {'location': 'Seoul', 'temperature': 22, 'condition': 'sunny'}",
        'answer: According to get_weather: {"location": "Seoul", "temperature": 22',
    ],
}


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "glm_proxy", "demo", "--serve", "--no-examples"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    url = None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        found = re.search(r"base_url=(\S+)", line)
        if found:
            url = found.group(1)
            break
        if time.monotonic() > deadline:
            break
    try:
        assert url, "the demo did not print its URL"
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
        process.stdout.close()


def test_every_example_is_checked() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in EXAMPLES.glob("[!_]*.py"))


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_against_the_demo(script: str, demo_url: str) -> None:
    result = subprocess.run(
        [sys.executable, script],
        cwd=EXAMPLES,
        env={**os.environ, "GLM_PROXY_URL": demo_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED[script]:
        assert expected in result.stdout
