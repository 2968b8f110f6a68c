"""Where glm-proxy spends its CPU under load: py-spy samples of the proxy process.

    uv run python -m bench.profile [chat|stream] [--concurrency 32] [--delay 0] [--seconds 8]

Starts the mock backend (``--delay``: seconds between streamed chunks; 0 sends a stream at once)
and glm-proxy, loads the proxy with ``bench.loadgen``, records it with py-spy and prints the
share of samples per function (self time: where the CPU is, C calls included in their Python
caller) and per package. py-spy is not a dependency of the project: it is taken from PATH, or
run with ``uv tool run py-spy`` (install it with ``uv tool install py-spy``).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.processes import Services, bench_env
from bench.suite import mock_argv, proxy_argv
from bench.workloads import workloads

_FRAME = re.compile(r"(?P<function>.*?) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(.*)")


def py_spy() -> list[str]:
    if shutil.which("py-spy"):
        return ["py-spy"]
    if shutil.which("uv"):
        return ["uv", "tool", "run", "py-spy"]
    raise SystemExit("py-spy not found: install it with `uv tool install py-spy`")


def short_path(path: str) -> str:
    """``aiohttp/client.py``, ``glm_proxy/app.py``, ``asyncio/runners.py``: no machine paths."""
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    stdlib = _STDLIB.search(path)
    return stdlib.group(1) if stdlib else path


def package(path: str) -> str:
    """``glm_proxy/<module>`` for the proxy's own code, else the top-level package."""
    if path.startswith("glm_proxy/"):
        return path
    if path == "asyncio/runners.py":
        return "event loop (uvloop, incl. syscalls)"
    return path.split("/", 1)[0]


def read_samples(
    raw: Path,
) -> tuple[collections.Counter[str], collections.Counter[str], collections.Counter[str], int]:
    """Samples per function (self time, and inclusive: the function anywhere on the stack) and
    per package (self time) from py-spy's ``raw`` (collapsed) output."""
    functions: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        names: list[str] = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match is not None:
                names.append(f"{match['function']} ({short_path(match['path'])})")
        if not names:
            continue
        functions[names[-1]] += int(count)
        for name in set(names):
            inclusive[name] += int(count)
        packages[package(names[-1].rsplit(" (", 1)[1][:-1])] += int(count)
        total += int(count)
    return functions, inclusive, packages, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "workload", choices=[w.name for w in workloads()], nargs="?", default="stream"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--seconds", type=int, default=8, help="seconds of sampling")
    parser.add_argument("--top", type=int, default=30, help="functions to show")
    parser.add_argument(
        "--inclusive", action="store_true", help="also time per function with what it calls"
    )
    args = parser.parse_args(argv)
    workload = {w.name: w for w in workloads()}[args.workload]
    with Services() as services:
        backend = services.start("mock", mock_argv(args.delay))
        proxy = services.start("glm-proxy", proxy_argv(backend))
        body = services.workdir / "body.json"
        body.write_bytes(workload.body)
        raw = services.workdir / "profile.txt"
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                f"--port={proxy.port}",
                f"--path={workload.path}",
                f"--body={body}",
                f"--concurrency={args.concurrency}",
                f"--duration={args.seconds + 2}",
            ],
            stdout=subprocess.PIPE,
            env=bench_env(),
        )
        try:
            time.sleep(1)  # connections open, pool warm
            record = [*py_spy(), "record", "--pid", str(proxy.process.pid), "--format", "raw"]
            record += ["--rate", "500", "--duration", str(args.seconds), "--output", str(raw)]
            subprocess.run(record, check=True, capture_output=True)
            print(load.communicate(timeout=args.seconds + 60)[0].decode().strip())
        finally:
            load.kill()
            load.wait()
        functions, inclusive, packages, total = read_samples(raw)
    print(f"\n{total} samples; self time per function:")
    for name, count in functions.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {name}")
    if args.inclusive:
        print("\ninclusive time per function (itself and what it calls):")
        for name, count in inclusive.most_common(args.top * 2):
            print(f"{100 * count / total:5.1f}%  {name}")
    print("\nper package:")
    for name, count in packages.most_common(15):
        print(f"{100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
