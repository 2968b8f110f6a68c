"""A backend that plays a raw GLM server for agent clients (OpenCode, LangChain, ...).

Agents send requests the tests cannot queue in order (OpenCode asks for a session title on the
side), so this backend decides from each request what a GLM model would write:

- a request whose last message is a tool result: a final answer quoting that result;
- a request with tools: one GLM tool call (``<tool_call>NAME<arg_key>..``) of the tool named by
  ``call_tool``, with ``call_arguments``, written in the GLM-4.5 layout as text in ``content``,
  as a backend without a GLM tool parser does;
- any other request: a short plain answer (a title, a greeting).

It answers streamed or not, as asked, and records every request body.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import orjson
from aiohttp import web

FINAL_PREFIX = "Done. The tool said: "


def glm_tool_call(name: str, arguments: dict[str, str]) -> str:
    """GLM-4.5's text for one call (arguments as strings, as the model writes them)."""
    parts = [f"<tool_call>{name}\n"]
    for key, value in arguments.items():
        parts.append(f"<arg_key>{key}</arg_key>\n<arg_value>{value}</arg_value>\n")
    parts.append("</tool_call>")
    return "".join(parts)


class AgentBackend:
    def __init__(self, call_tool: str, call_arguments: dict[str, str]) -> None:
        self.call_tool = call_tool
        self.call_arguments = call_arguments
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the agent backend did not start")

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.SockSite(self._runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "glm-4.5-air"}]})

    def answer_for(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            result = last.get("content")
            if isinstance(result, list):  # content parts
                result = "".join(part.get("text", "") for part in result)
            return FINAL_PREFIX + str(result).strip()
        if body.get("tools"):
            return "I will use the tool.\n" + glm_tool_call(self.call_tool, self.call_arguments)
        return "Tool round trip"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        content = self.answer_for(body)
        model = body.get("model", "glm-4.5-air")
        base = {"id": "chatcmpl-agent", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": content}
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        await response.write(event({"role": "assistant", "content": ""}))
        for start in range(0, len(content), 7):
            await response.write(event({"content": content[start : start + 7]}))
        await response.write(event({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
