"""The benchmark's server processes do not outlive a suite that was killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
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
