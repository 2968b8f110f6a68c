"""Two checkouts of glm-proxy side by side in one run: this one (A) against another (B).

    uv run python -m bench.ab PATH_OF_OTHER_CHECKOUT [--rounds 8] [--duration 2] [-c 32]

For a change to a hot path, the before/after figure that a noisy machine cannot fake: both
proxies run at once in front of the same mock backend, and each round loads A then B (the order
alternates), so a drift of the machine's speed hits both. Printed per workload: each proxy's
median req/s and CPU per request, and the median, min and max over the rounds of the ratios
A/B. The other checkout runs with its own environment (``PATH/.venv``: run ``uv sync`` there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.measure import Load, Sample, measure
from bench.processes import Service, Services
from bench.suite import mock_argv, proxy_argv
from bench.workloads import Workload, workloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (B), with its .venv")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    other_python = args.other.resolve() / ".venv" / "bin" / "python"
    if not other_python.exists():
        parser.error(f"{other_python} does not exist: run `uv sync` in {args.other}")
    load = Load(args.concurrency, args.duration, args.warmup)
    with Services() as services, tempfile.TemporaryDirectory() as folder:
        backend = services.start("backend", mock_argv(0.0))
        backend.wait_ready()
        proxy_a = services.start("proxy-a", proxy_argv(backend))
        proxy_b = services.start("proxy-b", [str(other_python), *proxy_argv(backend)[1:]])
        for proxy in (proxy_a, proxy_b):
            proxy.wait_ready()
        print(f"A: this checkout; B: {args.other}; c={args.concurrency}, {args.rounds} rounds")
        for workload in workloads():
            body = Path(folder) / f"{workload.name}.json"
            body.write_bytes(workload.body)
            samples: dict[str, list[Sample]] = {"A": [], "B": []}
            for round_number in range(args.rounds):
                order = [("A", proxy_a), ("B", proxy_b)]
                for name, proxy in order if round_number % 2 == 0 else order[::-1]:
                    samples[name].append(_run(proxy, body, load, workload))
            _report(workload.name, samples)
    return 0


def _run(proxy: Service, body: Path, load: Load, workload: Workload) -> Sample:
    sample = measure(proxy, body, load, (), workload.expect_end, path=workload.path)
    if sample.errors:
        raise SystemExit(f"{proxy.name}: {sample.errors} errors: {sample.error_samples}")
    return sample


def _report(name: str, samples: dict[str, list[Sample]]) -> None:
    a, b = samples["A"], samples["B"]
    rps = [x.rps / y.rps for x, y in zip(a, b, strict=True)]
    cpu = [x.cpu_us / y.cpu_us for x, y in zip(a, b, strict=True) if x.cpu_us and y.cpu_us]
    for label, runs in samples.items():
        print(
            f"{name:7} {label}: {statistics.median(s.rps for s in runs):8,.0f} req/s, "
            f"{statistics.median(s.cpu_us or 0 for s in runs):6.0f} us CPU/request"
        )
    print(f"{name:7} A/B req/s    median {_spread(rps)}")
    print(f"{name:7} A/B CPU/req  median {_spread(cpu)}")


def _spread(ratios: list[float]) -> str:
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"


if __name__ == "__main__":
    sys.exit(main())
