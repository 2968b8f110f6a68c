"""What a newcomer sees on a first run (issue 13): the real ``glm-proxy`` commands in their own
processes, checked on stdout, stderr and exit code.

- the start-up line on the backend: reachable with its models, not reachable and why, or a base
  URL without ``/v1`` (and the same hint on a backend's 404 to a chat request);
- ``--version``, the settings in ``serve --help``, a misspelt ``.env`` name, log levels in any
  case, a port already in use.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port, start_proxy
from glm_proxy.config import DEFAULTS
from support.scripted_backend import ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "glm_proxy"]


def clean_environment(**settings: str) -> dict[str, str]:
    """The test run's environment without any proxy setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


def run_cli(*args: str, cwd: Path = ROOT, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def serving() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def serve_until(
    serving: list[subprocess.Popen[str]], marker: str, *args: str, cwd: Path = ROOT, **settings: str
) -> list[str]:
    """Start ``glm-proxy`` and return its stderr lines up to the first containing ``marker``."""
    process = subprocess.Popen(
        [*CLI, "--port", str(free_port()), *args],
        cwd=cwd,
        env=clean_environment(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    serving.append(process)
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:  # the probe gives up after 3 s; pytest's timeout bounds this
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"the proxy exited ({process.wait()}) without {marker!r}: {lines}")


def wait_listening(port: int) -> httpx.Response:
    """The proxy's answer to ``GET /health``, once it listens (within 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def refused_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound and closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- the backend line at start-up -----------------------------------------------------------


def test_start_up_says_the_backend_is_reachable_and_names_its_models(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend
) -> None:
    lines = serve_until(serving, "glm-proxy: backend", OPENAI_BASE_URL=backend.url)
    assert lines[0].startswith("glm-proxy on http://127.0.0.1:")  # the banner comes first
    assert lines[-1] == f"glm-proxy: backend {backend.url} reachable: 1 model (glm-4.5-air)"
    assert [r.path for r in backend.requests] == ["/v1/models"]


def test_start_up_says_when_no_model_matches_glm_models(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend
) -> None:
    lines = serve_until(
        serving, "glm-proxy: backend", OPENAI_BASE_URL=backend.url, GLM_MODELS="qwen"
    )
    assert lines[-1].endswith(
        "reachable: 1 model (glm-4.5-air); none matches GLM_MODELS=qwen: "
        "set it to a part of your model's name"
    )


def test_start_up_suggests_v1_when_the_backend_answers_only_there(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend
) -> None:
    root = backend.url.removesuffix("/v1")
    lines = serve_until(serving, "glm-proxy: backend", OPENAI_BASE_URL=root)
    assert lines[-1] == (
        f"glm-proxy: backend {root} answers under /v1: did you mean OPENAI_BASE_URL={root}/v1?"
    )


def test_start_up_says_why_the_backend_is_not_reachable_and_serves_anyway(
    serving: list[subprocess.Popen[str]],
) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    lines = serve_until(serving, "glm-proxy: backend", OPENAI_BASE_URL=url)
    assert lines[-1] == (
        f"glm-proxy: backend {url} not reachable yet (connection refused): start it, "
        "or set OPENAI_BASE_URL"
    )
    assert serving[0].poll() is None  # still serving: the backend may come up later


def test_start_up_is_not_held_up_by_a_silent_backend(
    serving: list[subprocess.Popen[str]],
) -> None:
    # A backend that accepts the connection and never answers: the proxy is healthy while the
    # probe still waits, and the probe gives up after its short timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        port = free_port()
        process = subprocess.Popen(
            [*CLI, "--port", str(port)],
            env=clean_environment(OPENAI_BASE_URL=url),
            stderr=subprocess.PIPE,
            text=True,
        )
        serving.append(process)
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith("glm-proxy on ")
        assert wait_listening(port).status_code == 200
        probe = process.stderr.readline()
    assert probe == f"glm-proxy: backend {url} not reachable yet (no answer within 3 s): " + (
        "start it, or set OPENAI_BASE_URL\n"
    )


def test_a_backend_404_on_a_chat_request_carries_the_v1_hint(backend: ScriptedBackend) -> None:
    root = backend.url.removesuffix("/v1")
    proxy = start_proxy({"OPENAI_BASE_URL": root})
    try:
        answer = httpx.post(
            proxy.base_url + "/chat/completions",
            json={"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
    finally:
        proxy.stop()
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert message.startswith("404: Not Found")  # the backend's own words first
    assert f"did you mean OPENAI_BASE_URL={root}/v1?" in message


def test_a_backend_404_in_json_is_passed_on_without_a_hint(backend: ScriptedBackend) -> None:
    # Ollama answers an unknown model with a JSON 404: the URL is right, no hint.
    from support.scripted_backend import Script

    backend.script(
        Script(status=404, error_body=b'{"error": {"message": "model \\"x\\" not found"}}')
    )
    proxy = start_proxy({"OPENAI_BASE_URL": backend.url})
    try:
        answer = httpx.post(
            proxy.base_url + "/chat/completions",
            json={"model": "glm-x", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
    finally:
        proxy.stop()
    assert answer.status_code == 404
    assert "OPENAI_BASE_URL" not in answer.text


# --- the command line -----------------------------------------------------------------------


def test_version() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "glm-proxy 0.1.0\n"


def test_every_setting_has_its_line_of_help() -> None:
    from glm_proxy.commands.startup import _SETTING_HELP

    assert sorted(_SETTING_HELP) == sorted(DEFAULTS)


def test_serve_help_lists_every_setting() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    assert ".env.example documents each one" in result.stdout
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    for name in DEFAULTS:
        assert name in listed, name


@pytest.mark.parametrize(
    ("line", "right"),
    [
        ("PORTT=9000", "PORT"),
        ("OPENAI_API_BASE=http://127.0.0.1:1234/v1", "OPENAI_BASE_URL"),
        ("GLM_MODEL=qwen", "GLM_MODELS"),
    ],
)
def test_a_misspelt_env_file_name_gets_a_one_line_warning(
    tmp_path: Path, serving: list[subprocess.Popen[str]], line: str, right: str
) -> None:
    (tmp_path / ".env").write_text(f"{line}\nHOSTNAME_OF_SOMETHING_ELSE=x\nLOG_LEVEL=warning\n")
    url = f"http://127.0.0.1:{refused_port()}/v1"
    lines = serve_until(serving, "glm-proxy: backend", cwd=tmp_path, OPENAI_BASE_URL=url)
    name = line.partition("=")[0]
    assert lines[0] == (
        f"glm-proxy: warning: .env sets {name}, which is not a setting: did you mean {right}?"
    )
    assert lines[1].startswith("glm-proxy on ")  # one warning line, then it starts
    assert not any("HOSTNAME_OF_SOMETHING_ELSE" in text for text in lines)


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error"])
def test_log_levels_in_any_case(serving: list[subprocess.Popen[str]], level: str) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    lines = serve_until(serving, "glm-proxy on ", "--log-level", level, OPENAI_BASE_URL=url)
    assert "LOG_LEVEL" not in "".join(lines)
    lines = serve_until(serving, "glm-proxy on ", LOG_LEVEL=level, OPENAI_BASE_URL=url)
    assert "LOG_LEVEL" not in "".join(lines)


def test_mock_backend_takes_log_levels_in_any_case(
    serving: list[subprocess.Popen[str]],
) -> None:
    process = subprocess.Popen(
        [*CLI, "mock-backend", "--port", "0", "--log-level", "DEBUG"],
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    serving.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("mock GLM backend (style auto"), line
    assert " listening on http://127.0.0.1:" in line


def test_a_port_in_use_is_named_before_any_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"glm-proxy: port {port} on 127.0.0.1 is already in use (another glm-proxy?): "
        f"pick another with --port {port + 1} or PORT={port + 1}\n"
    )


# --- tool-call markup passed through --------------------------------------------------------

GLM_CALL = (
    "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
    "</tool_call>"
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def serve_for_markup(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend, **settings: str
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """A proxy process in front of ``backend``: the process, its chat URL, its first lines."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--port", str(port)],
        env=clean_environment(OPENAI_BASE_URL=backend.url, **settings),
        stderr=subprocess.PIPE,
        text=True,
    )
    serving.append(process)
    assert process.stderr is not None
    lines = [process.stderr.readline(), process.stderr.readline()]  # banner, backend line
    assert "reachable" in lines[1]
    wait_listening(port)
    return process, f"http://127.0.0.1:{port}/v1/chat/completions", lines


def ask(url: str, model: str, tools: list[Any] | None, stream: bool) -> str:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Seoul?"}],
        "stream": stream,
    }
    if tools:
        body["tools"] = tools
    answer = httpx.post(url, json=body, timeout=10)
    assert answer.status_code == 200
    return answer.text


def lines_until_requests(process: subprocess.Popen[str], lines: list[str], count: int) -> None:
    assert process.stderr is not None
    while sum(" ✓ 200 " in line for line in lines) < count:
        lines.append(process.stderr.readline())


def test_markup_relayed_for_a_model_no_setting_names_warns_once_per_model(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend
) -> None:
    from support.scripted_backend import Script

    process, url, lines = serve_for_markup(serving, backend, DETECT_DIALECT="false")
    requests = [
        ("my-local-model", [WEATHER_TOOL], False),  # warns
        ("my-local-model", [WEATHER_TOOL], True),  # the same model: no second warning
        ("other-model", None, False),  # no tools: markup in plain chat is not a call
        ("other-model", [WEATHER_TOOL], True),  # warns, streamed
    ]
    for model, tools, stream in requests:
        backend.script(Script(content="Let me check.\n" + GLM_CALL))
        assert "<tool_call>" in ask(url, model, tools, stream)  # passed through untouched
    lines_until_requests(process, lines, len(requests))
    warnings = [line for line in lines if "matches neither GLM_MODELS" in line]
    assert [line.split("'")[1] for line in warnings] == ["my-local-model", "other-model"]
    assert warnings[0].startswith(
        "model 'my-local-model' matches neither GLM_MODELS=glm nor DIALECT_MODELS, and "
        "DETECT_DIALECT is off: its answer to a request with tools holds tool-call markup "
        "(<tool_call>), passed on as text. Add a part of its name to GLM_MODELS (or set "
        "GLM_MODELS=*), or set DETECT_DIALECT=true, to convert it req="
    )


def test_markup_that_detection_cannot_decide_warns_once_per_model(
    serving: list[subprocess.Popen[str]], backend: ScriptedBackend
) -> None:
    from support.scripted_backend import Script

    process, url, lines = serve_for_markup(serving, backend)
    # A GLM call whose <tool_call> opener the backend dropped: the GLM parser reads it, the
    # detection (which looks for an opener) cannot tell which dialect it is.
    dropped_opener = "Let me check.\n" + GLM_CALL.removeprefix("<tool_call>")
    for _ in range(2):
        backend.script(Script(content=dropped_opener))
        assert "<arg_key>location</arg_key>" in ask(url, "my-local-model", [WEATHER_TOOL], False)
    lines_until_requests(process, lines, 2)
    warnings = [line for line in lines if "matches neither GLM_MODELS" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "model 'my-local-model' matches neither GLM_MODELS=glm nor DIALECT_MODELS, and detection "
        "found no call in its answer to a request with tools, which holds tool-call markup "
        "(<tool_call>), passed on as text. Add a part of its name to GLM_MODELS (or set "
        "GLM_MODELS=*), or name its dialect in DIALECT_MODELS, to convert it req="
    )


# --- the demo's two-terminal flow -----------------------------------------------------------


def test_demo_serve_shows_a_line_per_request(serving: list[subprocess.Popen[str]]) -> None:
    process = subprocess.Popen(
        [*CLI, "demo", "--serve", "--no-examples"],
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    serving.append(process)
    assert process.stdout is not None
    lines: list[str] = []
    while not any("base_url=" in line for line in lines):
        line = process.stdout.readline()
        assert line, f"the demo exited without serving: {lines}"
        lines.append(line)
    url = lines[-1].split("base_url=")[1].split()[0]
    assert lines[-1].rstrip().endswith("Ctrl-C stops. Requests:")
    answer = httpx.post(
        url + "/chat/completions",
        json={
            "model": "glm-4.5-air",
            "messages": [{"role": "user", "content": "Weather in Seoul?"}],
            "tools": [WEATHER_TOOL],
        },
        timeout=10,
    )
    assert answer.json()["choices"][0]["finish_reason"] == "tool_calls"
    line = process.stdout.readline()
    assert line.startswith("POST /v1/chat/completions ✓ 200 glm-4.5-air 1 msg 1 tool ")
    assert re.search(r" 1 tool call( \(glm\))? req=[0-9a-f]+$", line), line
