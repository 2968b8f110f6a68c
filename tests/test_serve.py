"""``glm-proxy serve`` and the original project's entry points (``server.py``, ``python -m``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glm_proxy.cli import main
from glm_proxy.commands.serve import read_environment, worker_app
from glm_proxy.config import load_settings, settings_to_env
from scripted_backend import ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working folder and no proxy settings in the environment."""
    for name in settings_to_env(load_settings({})):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            [],
            {"PORT": "eighty"},
            "glm-proxy: PORT: expected an integer from 0 to 65535, got 'eighty'",
        ),
        (["--log-level", "loud"], {}, "glm-proxy: LOG_LEVEL: expected one of DEBUG, INFO,"),
        (["--base-url", "localhost:1234"], {}, "glm-proxy: OPENAI_BASE_URL: expected an http://"),
        (["--env-file", "missing.env"], {}, "glm-proxy: --env-file: no such file: missing.env"),
        (["--workers", "0"], {}, "glm-proxy: --workers: expected a positive number, got 0"),
    ],
)
def test_a_bad_setting_stops_with_one_line_and_exit_code_2(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1


def test_a_bad_value_in_the_env_file_names_the_setting(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean_env / ".env").write_text("UPSTREAM_TIMEOUT=never\n")
    assert main([]) == 2
    assert capsys.readouterr().err == (
        "glm-proxy: UPSTREAM_TIMEOUT: expected a positive number of seconds, got 'never'\n"
    )


def test_the_environment_wins_over_the_env_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text("PORT=9001\nHOST=0.0.0.0\n# a comment\nGLM_MODELS=glm,qwen\n")
    monkeypatch.setenv("PORT", "9002")
    env = read_environment()
    settings = load_settings(env)
    assert (settings.port, settings.host, settings.glm_models) == (9002, "0.0.0.0", ("glm", "qwen"))
    (clean_env / "other.env").write_text("PORT=9003\n")
    assert read_environment("other.env")["PORT"] == "9002"


def test_worker_processes_build_their_app_from_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({"GLM_MODELS": "*", "OPENAI_BASE_URL": "http://10.0.0.1:9/v1"})
    for name, value in settings_to_env(settings).items():
        monkeypatch.setenv(name, value)
    app = worker_app()
    assert app.state.settings == settings


# --- real processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


def start(
    started: list[subprocess.Popen[bytes]], args: list[str], backend: ScriptedBackend
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_BASE_URL": backend.url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    started.append(process)
    return process


def wait_healthy(process: subprocess.Popen[bytes], port: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the server did not answer /health")


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "glm_proxy", "--port", "{port}"],
        [sys.executable, "server.py", "--port", "{port}"],
        [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", "{port}"],
        [sys.executable, "-m", "glm_proxy", "serve", "--port", "{port}", "--workers", "2"],
    ],
    ids=["python -m glm_proxy", "python server.py", "uvicorn server:app", "--workers 2"],
)
def test_entry_points_serve_the_proxy(
    started: list[subprocess.Popen[bytes]], backend: ScriptedBackend, command: list[str]
) -> None:
    port = free_port()
    process = start(started, [part.format(port=port) for part in command], backend)
    assert wait_healthy(process, port).json() == {"status": "ok"}
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": "glm-4.5", "messages": []},
        timeout=10,
    )
    assert answer.json()["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0
