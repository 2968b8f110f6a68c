"""The demo: the built-in GLM backend and the proxy in one process, and the README's examples.

``DemoServers`` runs both servers on one event loop in a background thread, on free ports of
127.0.0.1; ``run_examples`` drives them with the ``openai`` SDK from the calling thread, asking
each question twice: straight to the backend (what the model wrote) and through the proxy
(what the client received).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from glm_proxy.dialects import known_dialects

if TYPE_CHECKING:
    from openai import OpenAI

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "City name"}},
            "required": ["location"],
        },
    },
}
WEATHER_QUESTION = "What's the weather like in Seoul?"
WEATHER_RESULT = '{"location": "Seoul", "temperature": 22, "condition": "sunny"}'


class DemoServers:
    """The mock GLM backend and the proxy, serving until ``close()`` (or the ``with`` ends)."""

    def __init__(self, style: str = "auto", port: int = 0, host: str = "127.0.0.1") -> None:
        self._style = style
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="glm-proxy-demo", daemon=True)
        self.backend_url = ""
        """The built-in backend's base URL (``http://127.0.0.1:PORT/v1``)."""
        self.proxy_url = ""
        """The proxy's base URL: what a client's ``base_url`` should be."""

    def __enter__(self) -> DemoServers:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if not self.proxy_url:
            raise RuntimeError("the demo servers did not start within 30 s")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the thread that waits in __enter__
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        import uvicorn

        from glm_proxy.config import Settings
        from glm_proxy.mock.server import start_mock_backend
        from glm_proxy.server.app import create_app

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        backend = await start_mock_backend(self._host, 0, style=self._style)  # type: ignore[arg-type]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        port = sock.getsockname()[1]
        settings = Settings(base_url=backend.url, host=self._host, port=port)
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            access_log=False,
            http="httptools",
            ws="none",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        server_task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if server_task.done():
                    server_task.result()
                    raise RuntimeError("the proxy stopped while starting")
                await asyncio.sleep(0.01)
            self.backend_url = backend.url
            self.proxy_url = f"http://{self._host}:{port}/v1"
            self._ready.set()
            await self._stop.wait()
        finally:
            server.should_exit = True
            await server_task
            await backend.close()


@dataclass
class Example:
    """One example: the question, what the model wrote and what the client received."""

    title: str
    code: str
    model_wrote: str = ""
    client_received: dict[str, Any] = field(default_factory=dict)
    converted: bool = False
    problem: str = ""


def _message_summary(message: Any) -> dict[str, Any]:
    """The parts of an SDK message (or accumulated stream) a reader cares about."""
    summary: dict[str, Any] = {"content": message.content}
    reasoning = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get(
        "reasoning_content"
    )
    if reasoning:
        summary["reasoning_content"] = reasoning
    if message.tool_calls:
        summary["tool_calls"] = [
            {"name": call.function.name, "arguments": call.function.arguments}
            for call in message.tool_calls
        ]
    return summary


def _stream_summary(chunks: list[Any]) -> dict[str, Any]:
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            content.append(delta.content or "")
            reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                if call.function and call.function.name:
                    entry["name"] += call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
            finish = choice.finish_reason or finish
    summary: dict[str, Any] = {"content": "".join(content) or None}
    if any(reasoning):
        summary["reasoning_content"] = "".join(reasoning)
    if calls:
        summary["tool_calls"] = [calls[index] for index in sorted(calls)]
    summary["finish_reason"] = finish
    return summary


def _raw(backend: OpenAI, **request: Any) -> str:
    response = backend.chat.completions.create(**{**request, "stream": False})
    return response.choices[0].message.content or ""


def _expect_weather_call(summary: dict[str, Any]) -> str:
    calls = summary.get("tool_calls") or []
    if len(calls) != 1 or calls[0]["name"] != "get_weather":
        return f"expected one get_weather call, got {calls!r}"
    if json.loads(calls[0]["arguments"]) != {"location": "Seoul"}:
        return f"expected arguments {{'location': 'Seoul'}}, got {calls[0]['arguments']}"
    if "<" in (summary.get("content") or ""):
        return "markup left in the content"
    return ""


def _expect_clean_text(summary: dict[str, Any]) -> str:
    content = summary.get("content") or ""
    if not content or "<think>" in content or "</think>" in content:
        return f"expected text without <think> markup, got {content!r}"
    if not summary.get("reasoning_content"):
        return "expected the reasoning split off into reasoning_content"
    return ""


def run_examples(proxy_url: str, backend_url: str, model: str) -> list[Example]:
    """The original README's examples, each through the proxy and straight to the backend."""
    from openai import OpenAI

    client = OpenAI(base_url=proxy_url, api_key="not-needed", max_retries=0)
    backend = OpenAI(base_url=backend_url, api_key="not-needed", max_retries=0)
    hello = [{"role": "user", "content": "Hello! Who are you?"}]
    weather = [{"role": "user", "content": WEATHER_QUESTION}]
    examples: list[Example] = []

    def run(title: str, code: str, request: dict[str, Any], receive: Callable[[], Any]) -> None:
        example = Example(title, code)
        examples.append(example)
        try:
            example.model_wrote = _raw(backend, model=model, **request)
            example.client_received, check = receive()
            example.problem = check(example.client_received)
        except Exception as error:  # an example that fails is reported, not a crash
            example.problem = f"{type(error).__name__}: {error}"
        example.converted = not example.problem

    def plain() -> tuple[dict[str, Any], Callable[[dict[str, Any]], str]]:
        response = client.chat.completions.create(model=model, messages=hello)  # type: ignore[arg-type]
        return _message_summary(response.choices[0].message), _expect_clean_text

    def tool_call() -> tuple[dict[str, Any], Callable[[dict[str, Any]], str]]:
        response = client.chat.completions.create(
            model=model,
            messages=weather,  # type: ignore[arg-type]
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        summary = _message_summary(response.choices[0].message)
        summary["finish_reason"] = response.choices[0].finish_reason
        return summary, _expect_weather_call

    def streamed_text() -> tuple[dict[str, Any], Callable[[dict[str, Any]], str]]:
        chunks = list(
            client.chat.completions.create(model=model, messages=hello, stream=True)  # type: ignore[arg-type]
        )
        return _stream_summary(chunks), _expect_clean_text

    def streamed_call() -> tuple[dict[str, Any], Callable[[dict[str, Any]], str]]:
        chunks = list(
            client.chat.completions.create(
                model=model,
                messages=weather,  # type: ignore[arg-type]
                tools=[WEATHER_TOOL],  # type: ignore[list-item]
                stream=True,
            )
        )
        return _stream_summary(chunks), _expect_weather_call

    with client, backend:  # their connections are closed, not left to the garbage collector
        run("Plain chat", "client.chat.completions.create(messages=[user: 'Hello! ...'])",
            {"messages": hello}, plain)  # fmt: skip
        run("Tool call", "create(messages=[user: weather in Seoul], tools=[get_weather])",
            {"messages": weather, "tools": [WEATHER_TOOL]}, tool_call)  # fmt: skip
        run("Streamed text", "create(..., stream=True)", {"messages": hello}, streamed_text)
        run("Streamed tool call", "create(..., tools=[get_weather], stream=True)",
            {"messages": weather, "tools": [WEATHER_TOOL]}, streamed_call)  # fmt: skip
        examples.append(_round_trip(client, backend, model, weather))
        examples.append(_split_reasoning(client, backend, weather))
        examples += [
            _other_dialect(client, backend, weather, dialect)
            for dialect in known_dialects()
            if dialect != "glm"
        ]
    return examples


DIALECT_MODELS = {
    "qwen3_coder": "qwen3-coder-30b-a3b-instruct",
    "hermes": "qwen2.5-7b-instruct",
    "minimax": "minimax-m2",
    "kimi_k2": "kimi-k2-instruct",
    "deepseek": "deepseek-v3.1",
}
"""A model name of each dialect other than GLM, as backends list them: DIALECT_MODELS (the
setting) picks the dialect from it."""


def _other_dialect(client: OpenAI, backend: OpenAI, weather: list[Any], dialect: str) -> Example:
    """A call in another model's dialect (the mock writes it), converted like GLM's."""
    model = DIALECT_MODELS.get(dialect, f"a-{dialect}-model")
    example = Example(
        f"{dialect} dialect", f"create(model={model!r}, tools=[get_weather], stream=True)"
    )
    from glm_proxy.mock.server import DIALECT_HEADER

    request: dict[str, Any] = {
        "model": model,
        "messages": weather,
        "tools": [WEATHER_TOOL],
        "extra_headers": {DIALECT_HEADER: dialect},
    }
    try:
        example.model_wrote = _raw(backend, **request)
        chunks = list(client.chat.completions.create(**request, stream=True))
        example.client_received = _stream_summary(chunks)
        example.problem = _expect_weather_call(example.client_received)
    except Exception as error:  # reported, not a crash
        example.problem = f"{type(error).__name__}: {error}"
    example.converted = not example.problem
    return example


SPLIT_MODEL = "glm-4.7"
"""GLM-4.7 and later start their output inside the reasoning (the prompt ends with <think>)."""


def _split_reasoning(client: OpenAI, backend: OpenAI, weather: list[Any]) -> Example:
    """GLM-4.7 behind a backend that splits the reasoning off itself (LM Studio, Ollama, vLLM
    or SGLang with a reasoning parser): the answer after the reasoning is content, not more
    reasoning, and the call in it is converted."""
    example = Example(
        "GLM-4.7, reasoning split by the backend",
        "create(model='glm-4.7', tools=[get_weather], stream=True)",
    )
    from glm_proxy.mock.server import REASONING_HEADER

    headers = {REASONING_HEADER: "reasoning_content"}
    request: dict[str, Any] = {
        "model": SPLIT_MODEL,
        "messages": weather,
        "tools": [WEATHER_TOOL],
        "extra_headers": headers,
    }
    try:
        raw = backend.chat.completions.create(**request).choices[0].message
        said = (raw.model_extra or {}).get("reasoning_content")
        example.model_wrote = f"reasoning_content: {said!r}\ncontent: {raw.content!r}"
        chunks = list(client.chat.completions.create(**request, stream=True))
        example.client_received = _stream_summary(chunks)
        example.problem = _expect_weather_call(example.client_received)
        if not example.problem and not example.client_received.get("reasoning_content"):
            example.problem = "expected the backend's reasoning in reasoning_content"
    except Exception as error:  # reported, not a crash
        example.problem = f"{type(error).__name__}: {error}"
    example.converted = not example.problem
    return example


def _round_trip(client: OpenAI, backend: OpenAI, model: str, weather: list[Any]) -> Example:
    example = Example("Tool round trip", "call -> run get_weather -> send the result back")
    try:
        first = client.chat.completions.create(
            model=model,
            messages=weather,
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        calls = first.choices[0].message.tool_calls
        if not calls:
            raise RuntimeError("the first step returned no tool call")
        call = calls[0]
        history = [
            *weather,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,  # type: ignore[union-attr]
                            "arguments": call.function.arguments,  # type: ignore[union-attr]
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": WEATHER_RESULT},
        ]
        example.model_wrote = _raw(backend, model=model, messages=history, tools=[WEATHER_TOOL])
        final = client.chat.completions.create(
            model=model,
            messages=history,
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
        )
        example.client_received = _message_summary(final.choices[0].message)
        content = example.client_received.get("content") or ""
        if "22" not in content or example.client_received.get("tool_calls"):
            example.problem = f"expected an answer that uses the tool result, got {content!r}"
    except Exception as error:  # reported, not a crash
        example.problem = f"{type(error).__name__}: {error}"
    example.converted = not example.problem
    return example
