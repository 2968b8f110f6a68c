"""The soak test's backend: the mock GLM backend's answers, with faults mixed in on purpose.

    python -m bench.soak_backend --port P [--fault-rate 0.05] [--delay 0.01] [--seed 1]

Chat completions are answered from the mock's own pure functions (``glm_proxy.mock``), streamed
tick by tick with ``--delay`` seconds between ticks, like a model writing. A ``--fault-rate``
share of streamed requests meets one fault, picked at random:

    status-500    an HTTP 500 with an OpenAI error body, before anything else
    status-429    an HTTP 429 (rate limited), before anything else
    reset-before  a TCP reset instead of an answer
    reset-mid     a TCP reset after a random number of ticks
    truncate      a clean end of the body after a random number of ticks (no finish, no [DONE])
    stall         silence after a random number of ticks, until the client goes away
    garbage       an event that is not JSON after a random number of ticks

``GET /faults`` tells how many of each were served. ``GET /health`` answers when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import socket
import struct
import time
from collections import Counter

import orjson
from aiohttp import web

from glm_proxy.mock.completions import (
    Envelope,
    completion_body,
    encode_pieces,
    error_body,
    stream_ticks,
)
from glm_proxy.mock.replies import RequestError, build_reply, pick_style, read_request

FAULTS = ("status-500", "status-429", "reset-before", "reset-mid", "truncate", "stall", "garbage")
CHUNK_SIZE = 4
STALL_LIMIT = 120.0
"""Seconds a stalled answer waits for its client to go away before it resets."""


class FaultyMock:
    def __init__(self, fault_rate: float, delay: float, seed: int) -> None:
        self.fault_rate = fault_rate
        self.delay = delay
        self.random = random.Random(seed)
        self.faults: Counter[str] = Counter()
        self.ids = itertools.count(1)

    async def chat(self, http: web.Request) -> web.StreamResponse:
        try:
            request = read_request(orjson.loads(await http.read()))
        except (orjson.JSONDecodeError, RequestError) as error:
            return _error(400, f"bad request: {error}")
        reply = build_reply(request, pick_style("auto", request.model))
        envelope = Envelope(f"chatcmpl-soak{next(self.ids)}", int(time.time()), request.model, 1)
        if not request.stream:
            body = completion_body(reply, envelope)
            return web.Response(body=body, content_type="application/json")
        ticks = stream_ticks(
            reply, envelope, encode_pieces(reply.text, CHUNK_SIZE), request.include_usage
        )
        fault = None
        if self.random.random() < self.fault_rate:
            fault = self.random.choice(FAULTS)
            self.faults[fault] += 1
        if fault == "status-500":
            return _error(500, "the model crashed (injected)")
        if fault == "status-429":
            return _error(429, "too many requests (injected)")
        if fault == "reset-before":
            _reset(http)
            return web.Response()  # never sent: the connection is gone
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(http)
        cut = self.random.randrange(1, len(ticks)) if fault else len(ticks)
        for number, tick in enumerate(ticks[:cut]):
            if number and self.delay:
                await asyncio.sleep(self.delay)
            await response.write(tick)
        if fault == "reset-mid":
            _reset(http)
        elif fault == "stall":
            await asyncio.sleep(STALL_LIMIT)  # cancelled as soon as the client leaves
            _reset(http)
        elif fault == "garbage":
            await response.write(b"data: {this is not json\n\n")
            await response.write_eof()
        else:  # the whole answer, or "truncate": a clean end where the cut fell
            await response.write_eof()
        return response

    async def report(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.faults))


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _error(status: int, message: str) -> web.Response:
    kind = "rate_limit_error" if status == 429 else "server_error"
    return web.Response(
        status=status, body=error_body(message, kind), content_type="application/json"
    )


def _reset(http: web.Request) -> None:
    """Abort the connection with a TCP reset (SO_LINGER 0), as a crashing server does."""
    transport = http.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def create_app(fault_rate: float, delay: float, seed: int) -> web.Application:
    mock = FaultyMock(fault_rate, delay, seed)
    app = web.Application(client_max_size=32 << 20)
    app.router.add_post("/v1/chat/completions", mock.chat)
    app.router.add_get("/faults", mock.report)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    app = create_app(args.fault_rate, args.delay, args.seed)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        handler_cancellation=True,  # a stalled answer ends when its client goes away
        backlog=4096,
    )


if __name__ == "__main__":
    main()
