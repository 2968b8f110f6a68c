"""What the in-process proxy holds: its TCP connections, its asyncio tasks, the process's memory.

Fault and disconnect tests take a ``Snapshot`` before and after and demand that the proxy is
back where it started: no connection left open (to the client or to the backend), no task
left running. Linux only: sockets come from ``/proc/net/tcp`` joined with ``/proc/self/fd``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import orjson

from conftest import RunningProxy

# The TCP states of /proc/net/tcp, by their hex code.
_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}
HTTP = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
"""One client for every request of these tests (making one costs 40 ms); it keeps no connection
open between requests, so an idle proxy has no client connection."""
SETTLE_TIMEOUT = 10.0
"""Seconds a snapshot may take to come back to its baseline (closes are asynchronous)."""


@dataclass(frozen=True)
class Snapshot:
    sockets: Counter[tuple[str, str]]
    """(role, TCP state) of each of the proxy's sockets: "listening", "from client" (accepted
    on the proxy's port), "to backend" (connected to the backend's port)."""
    tasks: int
    """asyncio tasks of the proxy's event loop."""


def own_sockets(pid: int | None = None) -> set[int]:
    """Inodes of the sockets that process ``pid`` (default: this one) holds open."""
    where = f"/proc/{pid or 'self'}/fd"
    inodes = set()
    for fd in os.listdir(where):
        try:
            target = os.readlink(f"{where}/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def proxy_sockets(
    proxy_port: int, backend_port: int | None, pid: int | None = None
) -> Counter[tuple[str, str]]:
    """The proxy's TCP sockets by role and state (those of process ``pid``, default this one)."""
    mine = own_sockets(pid)
    found: Counter[tuple[str, str]] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                state = _STATES.get(fields[3], fields[3])
                if int(fields[9]) not in mine:
                    continue
                if local_port == proxy_port:
                    found["listening" if state == "LISTEN" else "from client", state] += 1
                elif remote_port == backend_port:
                    found["to backend", state] += 1
    return found


def task_count(proxy: RunningProxy) -> int:
    """How many asyncio tasks the proxy's event loop has (counted inside that loop)."""
    loop = proxy.server.servers[0].get_loop()  # type: ignore[attr-defined]

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return asyncio.run_coroutine_threadsafe(count(), loop).result(10)


def snapshot(proxy: RunningProxy, backend_port: int | None) -> Snapshot:
    return Snapshot(proxy_sockets(proxy.port, backend_port), task_count(proxy))


def memory_kib(field: str = "VmRSS", pid: int | None = None) -> int:
    """A memory figure of process ``pid`` (default: this one) in KiB: ``VmRSS`` (resident now)
    or ``VmHWM`` (the peak of resident memory)."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid or 'self'}/status")


def _idle(sockets: Counter[tuple[str, str]]) -> bool:
    """No client connected, no connection half-closed: nothing is on its way out."""
    return all(
        role != "from client" and state in ("LISTEN", "ESTABLISHED") for role, state in sockets
    )


def settled(proxy: RunningProxy, backend_port: int | None) -> Snapshot:
    """The proxy's snapshot once it is idle and nothing changes any more."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = snapshot(proxy, backend_port)
    while time.monotonic() < deadline:
        time.sleep(0.01)
        current = snapshot(proxy, backend_port)
        if current == last and _idle(current.sockets):
            break
        last = current
    return last


def idle_sockets(proxy_port: int, backend_port: int, pid: int) -> Counter[tuple[str, str]]:
    """The sockets of the proxy in process ``pid`` once it is idle (see ``settled``)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = proxy_sockets(proxy_port, backend_port, pid)
    while time.monotonic() < deadline:
        time.sleep(0.01)
        current = proxy_sockets(proxy_port, backend_port, pid)
        if current == last and _idle(current):
            break
        last = current
    return last


def wait_for(baseline: Snapshot, proxy: RunningProxy, backend_port: int | None) -> Snapshot:
    """The proxy's snapshot once it equals ``baseline`` (or the last one, after a while)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    current = snapshot(proxy, backend_port)
    while current != baseline and time.monotonic() < deadline:
        time.sleep(0.01)
        current = snapshot(proxy, backend_port)
    return current


def serves_a_good_answer(proxy: RunningProxy, expected: str) -> None:
    """The proxy answers a normal request, non-streamed and streamed, with ``expected``."""
    chat = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
    url = proxy.base_url + "/chat/completions"
    plain = HTTP.post(url, json=chat)
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == expected
    streamed = HTTP.post(url, json={**chat, "stream": True})
    assert streamed.status_code == 200, streamed.text
    assert streamed.content.endswith(b"data: [DONE]\n\n")
    text = ""
    for event in streamed.content.split(b"\n\n")[:-2]:
        for choice in orjson.loads(event[len(b"data: ") :])["choices"]:
            text += choice["delta"].get("content") or ""
    assert text == expected


@contextmanager
def nothing_left_behind(
    proxy: RunningProxy, backend_port: int | None, expected: str
) -> Iterator[None]:
    """Around a fault: afterwards the proxy still serves (``expected`` is the backend's normal
    answer) and holds the same connections and tasks as before."""
    if backend_port is not None:
        serves_a_good_answer(proxy, expected)  # the pool holds what it holds when idle
    baseline = settled(proxy, backend_port)
    yield
    if backend_port is not None:
        serves_a_good_answer(proxy, expected)
    after = wait_for(baseline, proxy, backend_port)
    assert after == baseline, f"the proxy holds {after}, before the fault it held {baseline}"
