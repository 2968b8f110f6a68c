"""The benchmark's processes: servers do not outlive a suite that was killed outright, and the
machine's speed is told against its fastest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import processes  # noqa: E402

SUITE_STAND_IN = """
import sys, time
from bench.processes import Services
from bench.suite import mock_argv
services = Services()
backend = services.start("mock", mock_argv(0.0))
print(backend.process.pid, flush=True)
time.sleep(600)
"""


def test_servers_end_when_the_suite_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SUITE_STAND_IN], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as suite:
        try:
            assert suite.stdout is not None
            server = int(suite.stdout.readline())
            assert _alive(server)
            suite.send_signal(signal.SIGKILL)  # no clean-up code of the suite runs
            suite.wait(10)
        finally:
            suite.kill()
    deadline = time.monotonic() + 15
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server), "the backend outlived the suite that started it"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    if state == "Z":  # ended, not yet reaped by its parent (init, now)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_machine_speed_says_how_much_slower_than_its_fastest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    times = iter([2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.3, 1.3, 1.3, 1.1, 1.2, 1.5])
    monkeypatch.setattr(processes, "_probe", lambda: next(times))
    speed = processes.MachineSpeed()
    assert speed.slowdown() == 0.0  # the first is the fastest yet
    assert speed.slowdown() == 0.0
    assert speed.slowdown() == pytest.approx(0.3)
    assert speed.slowdown() == pytest.approx(0.1)  # the best of 3
