"""Claude Code itself (npm ``@anthropic-ai/claude-code``, pinned in clients/package.json) through
the proxy process, on a scripted backend that plays GLM.

Headless ``claude -p`` with ``--allowedTools Bash``: the first turn's answer is GLM markup that
calls ``Bash`` to write a file; Claude Code runs the command and sends the ``tool_result``; the
second turn's answer ends the run. The file must exist, the ``tool_result`` must have reached the
backend as a ``tool`` message answering the converted call, and Claude Code's own report must
carry the backend's token counts. Claude Code not installed (``npm install`` in clients/, which
.ci/run does) is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, free_port, start, wait_healthy
from support.scripted_backend import DEFAULT_USAGE, Script, ScriptedBackend

CLAUDE = ROOT / "clients" / "node_modules" / ".bin" / "claude"
RUN_TIMEOUT = 180
"""Seconds the whole headless run may take (it takes a few; a hang must not hang the suite)."""


def glm_bash_call(command: str) -> str:
    """A GLM-4.5 answer that calls Claude Code's Bash tool (glm-format.md's layout)."""
    return (
        "I'll write the file.\n<tool_call>Bash\n<arg_key>command</arg_key>\n"
        f"<arg_value>{command}</arg_value>\n<arg_key>description</arg_key>\n"
        "<arg_value>Write the file</arg_value>\n</tool_call>"
    )


def claude_env(home: Path, proxy_url: str) -> dict[str, str]:
    """An environment of Claude Code's own: isolated HOME, the proxy as its API, no telemetry."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": proxy_url,
        "ANTHROPIC_API_KEY": "dummy",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def test_claude_code_runs_a_glm_tool_call_through_the_proxy(
    backend: ScriptedBackend, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    if not CLAUDE.exists():
        pytest.fail(f"Claude Code is not installed at {CLAUDE}: run 'npm install' in clients/")
    made = tmp_path / "work" / "made-by-glm.txt"
    made.parent.mkdir()
    backend.script(
        Script(
            content=glm_bash_call(f"echo written by glm > {made}"),
            reasoning="The user wants a file; Bash can write it.",
            chunk_size=9,
        ),
        Script(content="Done: the file is written.", chunk_size=5),
    )
    port = free_port()
    proxy = start(
        started,
        [sys.executable, "-m", "glm_proxy", "serve", "--port", str(port)],
        backend,
        MODEL_ALIASES="claude-*=glm-4.5-air",
    )
    wait_healthy(proxy, port)
    home = tmp_path / "home"
    home.mkdir()
    run = subprocess.run(
        [str(CLAUDE), "-p", "Write the file.", "--output-format", "json",
         "--allowedTools", "Bash"],
        cwd=made.parent,
        env=claude_env(home, f"http://127.0.0.1:{port}"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, f"claude failed: {run.stdout!r} {run.stderr!r}"
    report = json.loads(run.stdout)
    assert report["is_error"] is False, report
    assert report["result"] == "Done: the file is written."
    assert made.read_text() == "written by glm\n"

    chats = [r for r in backend.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 2, [r.json()["messages"][-1] for r in chats]
    first, second = (request.json() for request in chats)
    assert first["model"] == "glm-4.5-air"  # the alias: Claude Code asked for a claude-* model
    assert first["stream"] is True
    assert any(tool["function"]["name"] == "Bash" for tool in first["tools"])
    calls = [m for m in second["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(calls) == 1
    call = calls[0]["tool_calls"][0]
    assert call["id"].startswith("toolu_")
    assert call["function"]["name"] == "Bash"
    assert json.loads(call["function"]["arguments"])["command"] == f"echo written by glm > {made}"
    assert calls[0]["reasoning_content"] == "The user wants a file; Bash can write it."
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == [call["id"]]
    # Claude Code's report adds up the usage of both turns: the backend's counts.
    assert report["usage"]["input_tokens"] == 2 * DEFAULT_USAGE["prompt_tokens"]
    assert report["usage"]["output_tokens"] == 2 * DEFAULT_USAGE["completion_tokens"]


def readme_commands(title: str) -> list[str]:
    """The fenced shell blocks of README.md's section ``title``, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return [
        block.strip()
        for block in re.findall(r"^```sh\n(.*?)^```", text[start:end], flags=re.M | re.S)
    ]


def test_the_readme_s_claude_code_commands_work_as_written(
    backend: ScriptedBackend, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    if not CLAUDE.exists():
        pytest.fail(f"Claude Code is not installed at {CLAUDE}: run 'npm install' in clients/")
    serve, install, point, headless = readme_commands("Claude Code with a local GLM")
    assert install == "npm install -g @anthropic-ai/claude-code"  # clients/ pins it instead
    backend.script(
        Script(content=glm_bash_call("echo hello > hello.txt"), chunk_size=6),
        Script(content="Wrote hello.txt."),
    )
    # Only the addresses change: the scripted backend's, and a free port for the proxy.
    port = free_port()
    assert "http://127.0.0.1:8000/v1" in serve
    proxy = start(
        started,
        ["bash", "-c", serve.replace("http://127.0.0.1:8000/v1", backend.url)],
        backend,
        PORT=str(port),
    )
    wait_healthy(proxy, port)
    exports = [line for line in point.splitlines() if line.startswith("export ")]
    assert point.splitlines()[-1] == "claude"
    script = "\n".join([*exports, headless]).replace("127.0.0.1:8082", f"127.0.0.1:{port}")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env={
            "PATH": f"{CLAUDE.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "LANG": "C.UTF-8",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, f"claude failed: {run.stdout!r} {run.stderr!r}"
    assert json.loads(run.stdout)["result"] == "Wrote hello.txt."
    assert (work / "hello.txt").read_text() == "hello\n"
    sent = backend.requests[-1].json()
    assert sent["model"] == "glm-4.5-air"
    assert [m["role"] for m in sent["messages"]][-1] == "tool"
