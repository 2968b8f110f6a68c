"""A TCP forwarder: bytes between two sockets, no HTTP at all. The floor of any user-space proxy.

    python -m bench.forwarder --port P --upstream http://127.0.0.1:M

Each accepted connection gets a connection of its own to the upstream, and whatever one side
sends is written to the other as it arrives: one read and one write per piece, on uvloop, with
no Python between them but a method call. The suite runs it beside the relay when the backend
paces its chunks: a proxy then reads and writes every chunk on its own, and the forwarder shows
what that costs on this machine before anything is parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import cast
from urllib.parse import urlsplit

BACKLOG = 4096


class _Side(asyncio.Protocol):
    """One end of a forwarded connection: what it receives goes to the other end."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.early: list[bytes] = []
        """What the client sent before the upstream connection was made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # The other end's writes back up: stop reading this end until they drain.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


async def _join(client: _Side, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    try:
        _, upstream = await loop.create_connection(_Side, host, port)
    except OSError:
        if client.transport is not None:
            client.transport.close()
        return
    if client.transport is None:  # the client left meanwhile
        assert upstream.transport is not None
        upstream.transport.close()
        return
    upstream.peer, client.peer = client, upstream
    assert upstream.transport is not None
    upstream.transport.writelines(client.early)
    client.early.clear()


async def serve(host: str, port: int, upstream: str) -> None:
    target = urlsplit(upstream)
    if target.hostname is None or target.port is None:
        raise SystemExit(f"--upstream needs a host and a port: {upstream}")
    up_host, up_port = target.hostname, target.port
    loop = asyncio.get_running_loop()
    joining: set[asyncio.Task[None]] = set()

    def accept() -> _Side:
        client = _Side()
        task = loop.create_task(_join(client, up_host, up_port))
        joining.add(task)
        task.add_done_callback(joining.discard)
        return client

    server = await loop.create_server(accept, host, port, backlog=BACKLOG)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.host, args.port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
