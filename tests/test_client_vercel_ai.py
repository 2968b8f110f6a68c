"""The Vercel AI SDK through glm-proxy: ``clients/vercel_ai_sdk.mjs`` (README's recipe) run by
node with the SDK of ``clients/package.json``, against a backend that writes GLM tool-call text.

Without node or the installed packages this test fails (``npm install --prefix clients``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningProxy, start_proxy
from support.agent_backend import FINAL_PREFIX, AgentBackend

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"


@pytest.fixture
def proxy_url() -> Iterator[str]:
    backend = AgentBackend("get_weather", {"location": "Seoul"})
    backend.start()
    running: RunningProxy = start_proxy({"OPENAI_BASE_URL": backend.url})
    yield running.base_url
    running.stop()
    backend.stop()


@pytest.mark.slow
def test_vercel_ai_sdk_runs_tool_round_trips_whole_and_streamed(proxy_url: str) -> None:
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules" / "ai").is_dir():
        pytest.fail(
            "node and the AI SDK are needed: `npm install --no-package-lock --prefix clients`"
        )
    result = subprocess.run(
        [node, "vercel_ai_sdk.mjs"],
        cwd=CLIENTS,
        env={**os.environ, "GLM_PROXY_URL": proxy_url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = FINAL_PREFIX + "22 degrees and sunny in Seoul"
    assert result.stdout.splitlines() == [
        'generateText tool call: get_weather({"location":"Seoul"})',
        f"generateText answer: {answer}",
        'streamText tool call: get_weather({"location":"Seoul"})',
        f"streamText answer: {answer}",
    ]
