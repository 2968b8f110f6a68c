"""The pass-through relay: the floor glm-proxy is measured against. Bytes in, bytes out.

    python -m bench.relay --port P --upstream http://127.0.0.1:M [--server aiohttp|uvicorn]
                          [--client aiohttp|httpx]

Every request is sent to ``upstream`` + its path with the same method and body, and the answer
comes back with its status and content type: read whole when it is not an event stream (as
glm-proxy must, to translate it), relayed piece by piece as it arrives when it is. No JSON is
parsed, no header but the content type is kept. ``GET /health`` answers without the upstream.

The server (aiohttp.web, or a bare ASGI app under uvicorn with httptools, glm-proxy's own
server) and the upstream client (one pooled aiohttp session, or one httpx client) can be
swapped, so the suite can put a number on each choice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

SERVERS = ("aiohttp", "uvicorn")
CLIENTS = ("aiohttp", "httpx")
BACKLOG = 4096
HEALTH = b'{"status":"ok"}'


class Reply(Protocol):
    status: int
    content_type: str

    async def read(self) -> bytes: ...
    def chunks(self) -> AsyncIterator[bytes]: ...
    async def close(self) -> None: ...


class Client(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply: ...


def is_stream(reply: Reply) -> bool:
    return reply.content_type.startswith("text/event-stream")


class _AiohttpReply:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.status: int = response.status
        self.content_type: str = response.headers.get("Content-Type", "application/json")

    async def read(self) -> bytes:
        data: bytes = await self.response.read()
        return data

    def chunks(self) -> AsyncIterator[bytes]:
        iterator: AsyncIterator[bytes] = self.response.content.iter_any()
        return iterator

    async def close(self) -> None:
        self.response.release()


class AiohttpClient:
    """One ``aiohttp.ClientSession`` with an unlimited connection pool."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session: Any = None

    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            skip_auto_headers=("Accept-Encoding",),
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self.session.close()

    async def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        response = await self.session.request(
            method, self.base_url + path, data=body, headers={"Content-Type": content_type}
        )
        return _AiohttpReply(response)


class _HttpxReply:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.status: int = response.status_code
        self.content_type: str = response.headers.get("content-type", "application/json")

    async def read(self) -> bytes:
        data: bytes = await self.response.aread()
        return data

    def chunks(self) -> AsyncIterator[bytes]:
        iterator: AsyncIterator[bytes] = self.response.aiter_raw()
        return iterator

    async def close(self) -> None:
        await self.response.aclose()


class HttpxClient:
    """One ``httpx.AsyncClient`` with no limit on its pool (its default of 100 would queue)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client: Any = None

    async def start(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.client = httpx.AsyncClient(limits=limits, timeout=120.0)

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        request = self.client.build_request(
            method, self.base_url + path, content=body, headers={"Content-Type": content_type}
        )
        return _HttpxReply(await self.client.send(request, stream=True))


def make_client(name: str, base_url: str) -> Client:
    return AiohttpClient(base_url) if name == "aiohttp" else HttpxClient(base_url)


async def serve_aiohttp(client: Client, host: str, port: int) -> None:
    from aiohttp import web

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        content_type = request.headers.get("Content-Type", "application/json")
        reply = await client.send(request.method, request.path_qs, body, content_type)
        try:
            headers = {"Content-Type": reply.content_type}
            if not is_stream(reply):
                return web.Response(body=await reply.read(), status=reply.status, headers=headers)
            response = web.StreamResponse(status=reply.status, headers=headers)
            await response.prepare(request)
            async for data in reply.chunks():
                await response.write(data)
            await response.write_eof()
            return response
        finally:
            await reply.close()

    async def health(_request: web.Request) -> web.Response:
        return web.Response(body=HEALTH, content_type="application/json")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", relay)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await client.start()
    try:
        await web.TCPSite(runner, host, port, backlog=BACKLOG).start()
        await _until_stopped()
    finally:
        await client.close()
        await runner.cleanup()


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def asgi_relay(client: Client) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A bare ASGI app (no framework) that relays every request through ``client``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(client, receive, send)
            return
        if scope["path"] == "/health":
            await _answer(send, 200, b"application/json", HEALTH)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        content_type = "application/json"
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        path = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("latin-1")
        reply = await client.send(scope["method"], path, body, content_type)
        try:
            kind = reply.content_type.encode("latin-1")
            if not is_stream(reply):
                await _answer(send, reply.status, kind, await reply.read())
                return
            headers = [(b"content-type", kind)]
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            async for data in reply.chunks():
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await reply.close()

    return app


async def _answer(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(client: Client, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await client.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await client.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT (no path)")
    parser.add_argument("--server", choices=SERVERS, default="aiohttp")
    parser.add_argument("--client", choices=CLIENTS, default="aiohttp")
    args = parser.parse_args(argv)
    client = make_client(args.client, args.upstream.rstrip("/"))
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            asgi_relay(client),
            host=args.host,
            port=args.port,
            http="httptools",
            loop="uvloop",
            lifespan="on",
            access_log=False,
            log_level="warning",
            backlog=BACKLOG,
        )
        return 0
    import uvloop

    uvloop.run(serve_aiohttp(client, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
