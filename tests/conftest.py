"""Shared fixtures: the scripted backend and the real proxy under uvicorn, both on 127.0.0.1.

Both run in background threads on ports the OS picked, so tests use blocking clients (the
``openai`` SDK, httpx, raw sockets) from the test thread.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from support.scripted_backend import ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningProxy:
    """A proxy served by uvicorn in a thread."""

    port: int
    server: object
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(10)


def start_proxy(env: dict[str, str], root_path: str = "") -> RunningProxy:
    """Start the proxy with settings read from ``env`` (names as in ``.env``); ``root_path``:
    uvicorn's, for a proxy mounted under a prefix."""
    import uvicorn

    from glm_proxy.config import load_settings
    from glm_proxy.server.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(load_settings(env)),
        log_level="warning",
        access_log=False,
        http="httptools",
        ws="none",
        lifespan="on",
        root_path=root_path,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the proxy did not start")
        time.sleep(0.005)
    return RunningProxy(port, server, thread)


@pytest.fixture(scope="session")
def backend_server() -> Iterator[ScriptedBackend]:
    server = ScriptedBackend()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def backend(backend_server: ScriptedBackend) -> Iterator[ScriptedBackend]:
    """The scripted backend, with no scripts queued and no requests recorded."""
    backend_server.reset()
    yield backend_server
    backend_server.reset()


@pytest.fixture(scope="session")
def proxy_server(backend_server: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": backend_server.url})
    yield running
    running.stop()


@pytest.fixture
def proxy(proxy_server: RunningProxy, backend: ScriptedBackend) -> RunningProxy:
    """The proxy with default settings, in front of the (reset) scripted backend."""
    return proxy_server


@pytest.fixture
def make_proxy(backend: ScriptedBackend) -> Iterator[Callable[..., RunningProxy]]:
    """Start proxies with extra settings: ``make_proxy(GLM_MODELS="*")``; stopped after the test."""
    started: list[RunningProxy] = []

    def make(**env: str) -> RunningProxy:
        running = start_proxy({"OPENAI_BASE_URL": backend.url, **env})
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def client(proxy: RunningProxy) -> Iterator[openai.OpenAI]:
    """The official SDK pointed at the proxy; no retries, so every failure shows at once."""
    with openai.OpenAI(base_url=proxy.base_url, api_key="sk-client", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def console_log() -> Iterator[Callable[..., io.StringIO]]:
    """``console_log("WARNING", hidden=(...))``: the proxy's log as its console shows it (what
    ``glm-proxy serve`` configures), written to the returned buffer; restored after the test."""
    from glm_proxy.access_log import configure_logging

    loggers = [logging.getLogger("glm_proxy"), logging.getLogger("glm_proxy.access")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]

    def capture(level: str = "WARNING", hidden: Iterable[str] = ()) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(level, buffer, hidden)
        return buffer

    yield capture
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def log_lines(buffer: io.StringIO, count: int, timeout: float = 10.0) -> list[str]:
    """The buffer's first ``count`` lines, once written (the proxy's thread logs a request
    just after its client has the response)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = buffer.getvalue().splitlines()
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


def log_until(buffer: io.StringIO, text: str, timeout: float = 10.0) -> str:
    """The buffer's contents once ``text`` is in them (or the deadline passed)."""
    deadline = time.monotonic() + timeout
    while text not in buffer.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    return buffer.getvalue()


# --- the proxy as a real process ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes that ``start`` started; those still running are stopped after the test."""
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
    started: list[subprocess.Popen[bytes]],
    args: list[str],
    backend: ScriptedBackend,
    **env: str,
) -> subprocess.Popen[bytes]:
    """Run ``args`` in the project folder, with the scripted backend and ``env`` as settings."""
    environment = {
        **os.environ,
        "OPENAI_BASE_URL": backend.url,
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    process = subprocess.Popen(args, cwd=ROOT, env=environment, stderr=subprocess.PIPE)
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


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedBackend]:
    """A scripted backend of the test module's own that closes every connection after its
    answer: the proxy pools none, so the connections left open can be counted exactly."""
    server = ScriptedBackend(keep_alive=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A local address that is bound but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()
