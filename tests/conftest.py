"""Shared fixtures: the scripted backend and the real proxy under uvicorn, both on 127.0.0.1.

Both run in background threads on ports the OS picked, so tests use blocking clients (the
``openai`` SDK, httpx, raw sockets) from the test thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import openai
import pytest

from scripted_backend import ScriptedBackend


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


def start_proxy(env: dict[str, str]) -> RunningProxy:
    """Start the proxy with settings read from ``env`` (names as in ``.env``)."""
    import uvicorn

    from glm_proxy.app import create_app
    from glm_proxy.config import load_settings

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
