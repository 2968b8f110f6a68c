"""Server processes of the benchmarks: start, wait until ready, read CPU and memory, stop.

Every process starts in its own session (process group), so that stopping it also stops what it
started (uvicorn's worker processes), and so that Ctrl-C reaches only the suite, which then
stops them all (``Services`` is a context manager: ``with Services() as services: ...``).
A suite killed outright takes its servers with it too: each asks the kernel for a SIGTERM when
its parent dies.

CPU time and memory come from the kernel's own counters of the process and its descendants:
``/proc/PID/stat`` (utime + stime, in clock ticks) and ``/proc/PID/status`` (VmRSS, VmHWM). Linux
only, like the suite.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
MIN_LOAD_CAPACITY = 1.0
"""CPU-seconds of capacity below which ``MachineLoad`` does not judge (ticks are 10 ms)."""
STOP_TIMEOUT = 5.0


class ServiceError(RuntimeError):
    """A server did not start; the message ends with the tail of its output."""


def free_port() -> int:
    """A port that nothing listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of a server: this one, without the proxy's settings (only flags count),
    with the repository on the import path (for ``python -m bench.relay``)."""
    from glm_proxy.config import DEFAULTS

    env = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


class Service:
    """One started server process listening on ``port``."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,  # no .env of the repository is read
                env=bench_env(),
                start_new_session=True,
                preexec_fn=_end_with_parent,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/health", timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.process.returncode}" + self.tail()
                )
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name} not ready after {timeout:g} s" + self.tail())
            time.sleep(0.05)

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n" + "\n".join(text.splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The process and all its descendants."""
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                if fields:
                    children.setdefault(int(fields[1]), []).append(int(entry.name))
        found = [self.process.pid]
        for pid in found:
            found.extend(children.get(pid, ()))
        return found

    def cpu_seconds(self) -> float:
        """CPU time used so far by the process and its live descendants: the scheduler's
        nanosecond count of each thread when the kernel shows it, else utime + stime (which
        ``/proc/PID/stat`` gives in clock ticks of 10 ms: too coarse for a few requests)."""
        total = 0.0
        for pid in self.pids():
            total += _thread_cpu_seconds(pid)
        return total

    def memory_kb(self, field: str = "VmHWM") -> int:
        """``VmHWM`` (peak resident set) or ``VmRSS`` summed over the process tree, in KiB."""
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        return total

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL if it has not ended in time."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        _signal_group(self.process.pid, signal.SIGKILL)  # any worker left behind


class MachineLoad:
    """How much CPU the rest of the machine used between ``__init__`` and ``share()``: the
    machine's busy time (``/proc/stat``) minus ours, as told by ``own`` (default: this process
    and its waited-for children, so every server and load generator once stopped)."""

    def __init__(self, own: Callable[[], float] | None = None) -> None:
        self.own = own or own_cpu_seconds
        self.start_busy = _machine_busy_seconds()
        self.start_own = self.own()
        self.start_time = time.monotonic()

    def share(self) -> float | None:
        """Other processes' CPU time as a fraction of the machine's capacity meanwhile; None
        when unknown, or over too short a time for the kernel's 10 ms ticks to tell."""
        busy = _machine_busy_seconds()
        if busy is None or self.start_busy is None:
            return None
        own = self.own() - self.start_own
        capacity = (time.monotonic() - self.start_time) * (os.cpu_count() or 1)
        if capacity < MIN_LOAD_CAPACITY:
            return None
        return max(0.0, (busy - self.start_busy - own) / capacity)


def _machine_busy_seconds() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal: user, nice, system and steal (the
    # hypervisor's) are busy; interrupts are left out (loopback traffic is ours, unattributed).
    busy = sum(int(value) for index, value in enumerate(fields[:8]) if index in (0, 1, 2, 7))
    return busy / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended and been waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _end_with_parent() -> None:
    """In the new server process: have the kernel send it SIGTERM when the process that started
    it dies, so that a suite killed outright (SIGKILL, a test's timeout) leaves no server behind
    (each runs in its own session, out of reach of a signal to the suite's process group)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _thread_cpu_seconds(pid: int) -> float:
    nanoseconds = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat", encoding="ascii") as schedstat:
                nanoseconds += int(schedstat.read().split()[0])
    except (OSError, ValueError, IndexError):
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0
    return nanoseconds / 1e9


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (index 0 is the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


class Services:
    """The servers of one benchmark run, all stopped on exit (also on errors and Ctrl-C)."""

    def __init__(self) -> None:
        self._temp = tempfile.TemporaryDirectory(prefix="glm-proxy-bench-")
        self.workdir = Path(self._temp.name)
        self.running: list[Service] = []

    def start(self, name: str, argv: list[str], port: int | None = None) -> Service:
        """Start ``argv`` (``{port}`` in it is replaced by a free port) and wait until ready."""
        port = port or free_port()
        service = Service(name, [a.replace("{port}", str(port)) for a in argv], port, self.workdir)
        self.running.append(service)
        service.wait_ready()
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        self.running.remove(service)

    def cpu_seconds(self) -> float:
        """Our CPU time: this process, its ended children and every server still running."""
        return own_cpu_seconds() + sum(service.cpu_seconds() for service in self.running)

    def close(self) -> None:
        """Stop every server. A second Ctrl-C (``uv run`` forwards one, the terminal sends one)
        or a SIGTERM must not cut this short, so both wait until the servers are stopped."""
        main = threading.current_thread() is threading.main_thread()
        handlers = [(s, signal.signal(s, signal.SIG_IGN)) for s in _STOP_SIGNALS] if main else []
        try:
            while self.running:
                self.running.pop().stop()
            self._temp.cleanup()
        finally:
            for signum, handler in handlers:
                signal.signal(signum, handler)

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
