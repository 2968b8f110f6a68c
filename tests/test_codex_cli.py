"""Codex itself (npm ``@openai/codex``, pinned in clients/package.json) through the proxy.

The README's ``config.toml`` and ``codex exec`` command run as written (the proxy's port put in,
plus the test's isolation: an own ``CODEX_HOME`` and ``HOME``, analytics, plugins and retries
off, stdin closed). A scripted backend plays GLM-4.7: its first answer calls Codex's shell tool
(``exec_command``) in GLM's markup to write a file; Codex runs it and sends the output back; the
second answer ends the run. The file must exist. A missing CLI fails the test (``.ci/run``
installs it: ``cd clients && npm install``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import RunningProxy
from support.scripted_backend import Script, ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent
CODEX = ROOT / "clients" / "node_modules" / ".bin" / "codex"
RUN_TIMEOUT = 180  # seconds: a bound for liveness, not a measure
README_URL = "http://127.0.0.1:8082/v1"

# For the test only, around the README's file: no update check, no retries (a failure shows at
# once), no analytics, no plugins or apps (nothing reaches beyond 127.0.0.1).
BEFORE = "check_for_update_on_startup = false\n"
PROVIDER_EXTRA = "request_max_retries = 0\nstream_max_retries = 0\n"
AFTER = "\n[analytics]\nenabled = false\n\n[features]\nplugins = false\napps = false\n"

# GLM-4.7 writes its reasoning first (the prompt ended with <think>), then the call.
WRITE_CALL = (
    "The user wants a file; I will write it with the shell.</think>"
    "<tool_call>exec_command\n<arg_key>cmd</arg_key>\n"
    "<arg_value>printf 'hello' > hello.txt</arg_value>\n"
    "</tool_call>"
)
FINAL = "The file is written.</think>I created hello.txt."


def readme_codex(text: str) -> tuple[str, str]:
    """The config.toml and the command of the README's Codex section."""
    section = re.search(r"^## .*Codex with a local GLM.*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section is not None, "the README has no 'Codex with a local GLM' section"
    toml = re.search(r"^```toml\n(.*?)^```", section.group(1), re.M | re.S)
    command = re.search(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S)
    assert toml is not None
    assert command is not None
    return toml.group(1), command.group(1).strip()


CONFIG, COMMAND = readme_codex((ROOT / "README.md").read_text(encoding="utf-8"))


def codex_binary() -> Path:
    if not CODEX.exists():
        pytest.fail(
            f"the Codex CLI is not installed at {CODEX.relative_to(ROOT)}: "
            "run `cd clients && npm install --no-audit --no-fund` (.ci/run does)"
        )
    return CODEX


def run_codex(tmp_path: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    """The README's command, with the README's config.toml pointed at ``base_url``."""
    binary = codex_binary()
    home = tmp_path / "home"
    codex_home = home / ".codex"
    work = tmp_path / "work"
    for folder in (codex_home, work):
        folder.mkdir(parents=True)
    assert CONFIG.count(README_URL) == 1
    assert CONFIG.rstrip().rsplit("\n[", 1)[-1].startswith("model_providers."), (
        "the provider's table is the file's last"
    )
    config = BEFORE + CONFIG.replace(README_URL, base_url) + PROVIDER_EXTRA + AFTER
    (codex_home / "config.toml").write_text(config)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "LANG": "C.UTF-8",
    }
    argv = shlex.split(COMMAND)
    while "=" in argv[0]:  # VAR=value before the command
        name, value = argv.pop(0).split("=", 1)
        env[name] = value
    assert argv[0] == "codex"
    return subprocess.run(
        [str(binary), *argv[1:]],
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_the_korean_readme_has_the_same_file_and_command() -> None:
    assert readme_codex((ROOT / "README.ko.md").read_text(encoding="utf-8")) == (CONFIG, COMMAND)


def test_codex_runs_a_shell_call_written_in_glm_markup(
    tmp_path: Path, proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=WRITE_CALL, chunk_size=9), Script(content=FINAL, chunk_size=9))
    result = run_codex(tmp_path, proxy.base_url)
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, shown
    made = tmp_path / "work" / "hello.txt"
    assert made.exists(), shown
    assert made.read_text() == "hello"
    assert "I created hello.txt." in result.stdout, shown

    chats = [r.json() for r in backend.requests if r.path.endswith("/chat/completions")]
    assert len(chats) >= 2, [r.path for r in backend.requests]
    first, second = chats[0], chats[1]
    # What Codex sent, as the backend got it: a streamed chat request with its function tools
    # (server tools such as web_search dropped) and the developer prompt as a system message.
    assert first["stream"] is True
    assert first["model"] == "glm-4.7"
    names = [tool["function"]["name"] for tool in first["tools"]]
    assert "exec_command" in names
    assert first["messages"][0]["role"] == "system"
    # The second turn carries the call and what the command printed back.
    assistant = [m for m in second["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    call = assistant[-1]["tool_calls"][0]
    assert call["function"]["name"] == "exec_command"
    assert "hello.txt" in json.loads(call["function"]["arguments"])["cmd"]
    outputs = [m for m in second["messages"] if m["role"] == "tool"]
    assert outputs[-1]["tool_call_id"] == call["id"]
