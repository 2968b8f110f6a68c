"""OpenCode through glm-proxy: the real ``opencode run``, headless and offline, with each provider
config of ``examples/``, against a backend that writes GLM tool-call text:

- ``opencode.json``: ``@ai-sdk/openai-compatible``, through the chat front
  (``/v1/chat/completions``);
- ``opencode-anthropic.json``: ``@ai-sdk/anthropic``, through the Messages front (``/v1/messages``);
- ``opencode-responses.json``: ``@ai-sdk/openai``, through the Responses front (``/v1/responses``):
  OpenCode asks a provider without a loader of its own for ``languageModel(id)``, which is the
  Responses API in ``@ai-sdk/openai``.

OpenCode compiles these three provider packages into its binary (it installs a provider package
into its cache only when the package is not among its bundled ones), so pinning ``opencode-ai``
pins them; the test checks that nothing was installed at run time.

The CLI comes from ``clients/package.json`` (``npm install --prefix clients``, which .ci/run
does). Without it this test fails: a skipped client test would pass unseen.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningProxy, start_proxy
from support.agent_backend import FINAL_PREFIX, AgentBackend

ROOT = Path(__file__).resolve().parent.parent
OPENCODE = ROOT / "clients" / "node_modules" / ".bin" / "opencode"
PROOF = "written by opencode through glm-proxy"
README_URL = "http://127.0.0.1:8082/v1"

# Each provider config of examples/: the provider package it names, and the proxy's route that
# package talks to.
CONFIGS = {
    "opencode.json": ("@ai-sdk/openai-compatible", "/v1/chat/completions"),
    "opencode-anthropic.json": ("@ai-sdk/anthropic", "/v1/messages"),
    "opencode-responses.json": ("@ai-sdk/openai", "/v1/responses"),
}


class RequestLines(logging.Handler):
    """The proxy's access lines (``POST /v1/messages ✓ 200 ...``), as the access log writes them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def request_lines() -> Iterator[list[str]]:
    """The access lines of the requests the proxy serves while the test runs (a handler of the
    access logger's own, so the lines reach it whatever else is set up)."""
    access = logging.getLogger("glm_proxy.access")
    handler = RequestLines()
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    yield handler.lines
    access.removeHandler(handler)
    access.setLevel(level)


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


def test_every_config_in_examples_is_tested() -> None:
    assert sorted(path.name for path in (ROOT / "examples").glob("opencode*.json")) == sorted(
        CONFIGS
    )


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
def test_the_readmes_point_to_every_config(readme: str) -> None:
    text = (ROOT / readme).read_text(encoding="utf-8")
    for name, (package, _route) in CONFIGS.items():
        assert f"(examples/{name})" in text, name
        assert f"`{package}`" in text, package


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_opencode_runs_a_tool_round_trip_through_the_proxy(
    config_name: str,
    tmp_path: Path,
    agent_backend: AgentBackend,
    agent_proxy: RunningProxy,
    request_lines: list[str],
) -> None:
    if not OPENCODE.exists():
        pytest.fail(
            "the opencode CLI is missing: run `npm install --no-package-lock --prefix clients`"
        )
    package, route = CONFIGS[config_name]
    config = json.loads((ROOT / "examples" / config_name).read_text(encoding="utf-8"))
    provider = config["provider"]["glm-proxy"]
    assert provider["npm"] == package
    assert provider["options"]["baseURL"] == README_URL  # what README says
    provider["options"]["baseURL"] = agent_proxy.base_url
    work = tmp_path / "project"
    work.mkdir()
    home = tmp_path / "home"
    env = offline_environment(home)
    # As the README says: the file, as opencode.json in the project (the proxy's port put in).
    (work / "opencode.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

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
    assert follow_up["messages"][-1]["tool_call_id"] == call["id"]
    # The run ended with the answer: two turns with tools (the call, the answer), none asked
    # again (OpenCode asks again when it cannot read how a turn ended).
    assert len([body for body in requests if body.get("tools")]) == 2, request_lines
    # Every request came through the provider's own route (the title's too). A line is written
    # once its request has finished, which may be just after OpenCode read the answer.
    deadline = time.monotonic() + 10
    while len(request_lines) < len(requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    paths = [line.split()[:2] for line in request_lines]
    assert paths == [["POST", route]] * len(requests), request_lines
    # The provider package came from the binary: OpenCode installed nothing at run time.
    assert list(home.rglob("@ai-sdk")) == []
