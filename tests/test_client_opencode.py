"""OpenCode through glm-proxy: the real ``opencode run``, headless and offline, with the provider
config of ``examples/opencode.json``, against a backend that writes GLM tool-call text.

The CLI comes from ``clients/package.json`` (``npm install --prefix clients``, which .ci/run
does). Without it this test fails: a skipped client test would pass unseen.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningProxy, start_proxy
from support.agent_backend import FINAL_PREFIX, AgentBackend

ROOT = Path(__file__).resolve().parent.parent
OPENCODE = ROOT / "clients" / "node_modules" / ".bin" / "opencode"
PROOF = "written by opencode through glm-proxy"


@pytest.fixture
def agent_backend() -> Iterator[AgentBackend]:
    backend = AgentBackend("write", {"filePath": "proof.txt", "content": PROOF})
    backend.start()
    yield backend
    backend.stop()


@pytest.fixture
def agent_proxy(agent_backend: AgentBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": agent_backend.url})
    yield running
    running.stop()


def offline_environment(home: Path) -> dict[str, str]:
    """A fresh home for OpenCode, its network fetches off, and any other way out closed: a
    proxy on port 9 (discard) for everything but 127.0.0.1."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "OPENCODE_DISABLE_MODELS_FETCH": "true",
        "OPENCODE_DISABLE_AUTOUPDATE": "true",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "true",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "true",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_opencode_runs_a_tool_round_trip_through_the_proxy(
    tmp_path: Path, agent_backend: AgentBackend, agent_proxy: RunningProxy
) -> None:
    if not OPENCODE.exists():
        pytest.fail(
            "the opencode CLI is missing: run `npm install --no-package-lock --prefix clients`"
        )
    config = json.loads((ROOT / "examples" / "opencode.json").read_text(encoding="utf-8"))
    provider = config["provider"]["glm-proxy"]
    assert provider["options"]["baseURL"] == "http://127.0.0.1:8082/v1"  # what README says
    provider["options"]["baseURL"] = agent_proxy.base_url
    work = tmp_path / "project"
    work.mkdir()
    env = offline_environment(tmp_path / "home")
    env["OPENCODE_CONFIG_CONTENT"] = json.dumps(config)

    result = subprocess.run(
        [str(OPENCODE), "run", "Write the proof file."],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=200,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # OpenCode ran the call the proxy made of the GLM text: the file exists...
    assert (work / "proof.txt").read_text(encoding="utf-8") == PROOF
    # ...and it sent the tool's result back, and printed the model's final answer.
    assert FINAL_PREFIX + "Wrote file successfully." in result.stdout
    assert "<tool_call>" not in result.stdout
    requests = agent_backend.requests
    [follow_up] = [body for body in requests if body["messages"][-1]["role"] == "tool"]
    [call] = follow_up["messages"][-2]["tool_calls"]
    assert call["function"]["name"] == "write"
    assert json.loads(call["function"]["arguments"]) == {"filePath": "proof.txt", "content": PROOF}
