"""``glm-proxy serve`` and the original project's entry points (``server.py``, ``python -m``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import free_port, start, wait_healthy
from glm_proxy.cli import main
from glm_proxy.commands.serve import read_environment, worker_app
from glm_proxy.config import Settings, load_settings, settings_to_env
from support.scripted_backend import ScriptedBackend

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


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0"], {}),
        ([], {"HOST": "192.168.1.20"}),
        (["--host", "::"], {"ALLOW_REMOTE": "false"}),
    ],
)
def test_listening_beyond_this_machine_without_a_key_is_refused_in_one_line(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("glm_proxy.commands.serve.serve", _must_not_serve)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("glm-proxy: HOST=")
    assert "lets other machines in and PROXY_API_KEY is not set: set PROXY_API_KEY, or " in err
    assert "ALLOW_REMOTE=true (--allow-remote)" in err
    assert err.count("\n") == 1


def _must_not_serve(settings: Settings, **options: object) -> None:
    raise AssertionError("the proxy was started")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0", "--allow-remote"], {}),
        (["--host", "0.0.0.0"], {"ALLOW_REMOTE": "true"}),
        (["--host", "0.0.0.0"], {"PROXY_API_KEY": "sk-proxy-key"}),
        (["--host", "localhost"], {}),
    ],
)
def test_a_key_or_allow_remote_lets_it_listen_beyond_this_machine(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served: list[Settings] = []
    monkeypatch.setattr(
        "glm_proxy.commands.serve.serve", lambda settings, **options: served.append(settings)
    )
    assert main(args) == 0
    [settings] = served
    assert settings.host == args[1]


def test_the_docker_image_settings_pass_the_listening_check() -> None:
    # The image listens on 0.0.0.0 behind the container's port mapping (see the Dockerfile).
    from glm_proxy.server.auth import exposure_problem

    env: dict[str, str] = {}
    text = (ROOT / "Dockerfile").read_text()
    for line in text.splitlines():
        for part in line.removeprefix("ENV ").strip().rstrip("\\").split():
            name, sep, value = part.partition("=")
            if sep and name.isupper():
                env[name] = value.strip('"')
    assert env["HOST"] == "0.0.0.0"
    settings = load_settings(env)
    assert exposure_problem(settings) is None
    assert settings.shutdown_grace < 10  # docker stop kills after 10 s


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
