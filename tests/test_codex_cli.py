"""Codex itself (npm ``@openai/codex``, pinned in clients/package.json) through the proxy.

``codex exec`` runs headless with a provider whose ``base_url`` is the proxy and ``wire_api =
"responses"``, an isolated ``CODEX_HOME`` and ``HOME``, analytics and plugins off and stdin
closed. A scripted backend plays GLM-4.7: its first answer calls Codex's shell tool
(``exec_command``) in GLM's markup to write a file; Codex runs it and sends the output back; the
second answer ends the run. The file must exist. A missing CLI fails the test (``.ci/run``
installs it: ``cd clients && npm install``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import RunningProxy
from scripted_backend import Script, ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent
CODEX = ROOT / "clients" / "node_modules" / ".bin" / "codex"
RUN_TIMEOUT = 180  # seconds: a bound for liveness, not a measure
MODEL = "glm-4.7"

CONFIG = """\
model = "{model}"
model_provider = "glm-proxy"
check_for_update_on_startup = false

[model_providers.glm-proxy]
name = "glm-proxy"
base_url = "{base_url}"
wire_api = "responses"
env_key = "GLM_PROXY_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
apps = false
"""

# GLM-4.7 writes its reasoning first (the prompt ended with <think>), then the call.
WRITE_CALL = (
    "The user wants a file; I will write it with the shell.</think>"
    "<tool_call>exec_command\n<arg_key>cmd</arg_key>\n"
    "<arg_value>printf 'written by codex through glm-proxy' > made-by-glm.txt</arg_value>\n"
    "</tool_call>"
)
FINAL = "The file is written.</think>I created made-by-glm.txt."


def codex_binary() -> Path:
    if not CODEX.exists():
        pytest.fail(
            f"the Codex CLI is not installed at {CODEX.relative_to(ROOT)}: "
            "run `cd clients && npm install --no-audit --no-fund` (.ci/run does)"
        )
    return CODEX


def run_codex(tmp_path: Path, base_url: str, prompt: str) -> subprocess.CompletedProcess[str]:
    binary = codex_binary()
    home = tmp_path / "home"
    codex_home = home / ".codex"
    work = tmp_path / "work"
    for folder in (codex_home, work):
        folder.mkdir(parents=True)
    (codex_home / "config.toml").write_text(CONFIG.format(model=MODEL, base_url=base_url))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "GLM_PROXY_API_KEY": "local",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [
            str(binary),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--cd",
            str(work),
            prompt,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_codex_runs_a_shell_call_written_in_glm_markup(
    tmp_path: Path, proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=WRITE_CALL, chunk_size=9), Script(content=FINAL, chunk_size=9))
    result = run_codex(tmp_path, proxy.base_url, "Create made-by-glm.txt")
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, shown
    made = tmp_path / "work" / "made-by-glm.txt"
    assert made.exists(), shown
    assert made.read_text() == "written by codex through glm-proxy"
    assert "I created made-by-glm.txt." in result.stdout, shown

    chats = [r.json() for r in backend.requests if r.path.endswith("/chat/completions")]
    assert len(chats) >= 2, [r.path for r in backend.requests]
    first, second = chats[0], chats[1]
    # What Codex sent, as the backend got it: a streamed chat request with its function tools
    # (server tools such as web_search dropped) and the developer prompt as a system message.
    assert first["stream"] is True
    assert first["model"] == MODEL
    names = [tool["function"]["name"] for tool in first["tools"]]
    assert "exec_command" in names
    assert first["messages"][0]["role"] == "system"
    # The second turn carries the call and what the command printed back.
    assistant = [m for m in second["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    call = assistant[-1]["tool_calls"][0]
    assert call["function"]["name"] == "exec_command"
    assert "made-by-glm.txt" in json.loads(call["function"]["arguments"])["cmd"]
    outputs = [m for m in second["messages"] if m["role"] == "tool"]
    assert outputs[-1]["tool_call_id"] == call["id"]
