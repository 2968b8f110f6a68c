"""What a suite run measured: plain data, turned into Markdown by ``bench.report``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure import Sample

BACKEND = "backend (direct)"
RELAY = "relay (floor)"
PROXY = "glm-proxy"
FORWARDER = "TCP forwarder (no HTTP)"
"""``bench/forwarder.py``, in the paced run only: the cost of a read and a write per chunk."""
SERVERS = (BACKEND, RELAY, PROXY, FORWARDER)


@dataclass(frozen=True, slots=True)
class Config:
    concurrency: tuple[int, ...] = (1, 32, 256)
    runs: int = 3
    duration: float = 2.5
    """Measured seconds of each run (after ``warmup`` seconds not measured)."""
    warmup: float = 0.5
    requests: int | None = None
    """Requests per run instead of a duration (the smoke test's tiny configuration)."""
    workers: tuple[int, ...] = (1, 2)
    open_streams: int = 1000
    open_delay: float = 0.05
    """Seconds between the chunks of the streams held open for the memory figure."""
    paced_delay: float = 0.002
    """Seconds between chunks in the paced streaming run (one chunk per read)."""
    relay_variants: tuple[tuple[str, str], ...] = (
        ("aiohttp", "aiohttp"),
        ("aiohttp", "httpx"),
        ("uvicorn", "aiohttp"),
        ("uvicorn", "httpx"),
    )
    """(server, upstream client) of the relays compared; the first one is the floor."""
    parser_repeat: int = 5
    foreign_limit: float = 0.10
    """A run during which other processes took more of the CPUs than this is done again..."""
    max_repeats: int = 3
    """... at most this many times, and at most ``repeat_budget`` times in the whole suite
    (which bounds its time on a busy machine)."""
    repeat_budget: int = 40

    @property
    def low(self) -> int:
        """The concurrency of the single-client figures (1 unless not measured)."""
        return 1 if 1 in self.concurrency else min(self.concurrency)

    @property
    def high(self) -> int:
        """The concurrency of the throughput targets (32 unless not measured)."""
        return 32 if 32 in self.concurrency else max(self.concurrency)

    def describe(self) -> str:
        each = f"{self.requests} requests" if self.requests else f"{self.duration:g} s"
        return f"each figure is the median of {self.runs} run(s) of {each}" + (
            f" after {self.warmup:g} s of warm-up" if self.warmup and not self.requests else ""
        )


@dataclass(frozen=True, slots=True)
class OpenStreams:
    """Many streams held open at once against one server (memory and errors)."""

    server: str
    streams: int
    peak_open: int
    errors: int
    rss_before_kb: int
    peak_rss_kb: int
    cpu_us_per_chunk: float
    seconds: float
    error_samples: tuple[str, ...] = ()


@dataclass(slots=True)
class Results:
    config: Config
    chunks: int
    """Content chunks per streamed response."""
    main: dict[tuple[str, int, str], Sample] = field(default_factory=dict)
    """(workload, concurrency, server) -> figures."""
    paced: dict[str, Sample] = field(default_factory=dict)
    open_streams: list[OpenStreams] = field(default_factory=list)
    workers: dict[tuple[str, int], Sample] = field(default_factory=dict)
    """(workload, workers) -> glm-proxy's figures at ``config.high``."""
    relays: dict[tuple[str, str, str, int], Sample] = field(default_factory=dict)
    """(server, client, workload, concurrency) -> relay figures."""
    parser: list[str] = field(default_factory=list)
    seconds: float = 0.0
    foreign_load: float | None = None
    """CPU share of the machine that other processes used during the whole suite (noise)."""
    repeats: int = 0
    """Runs done again because other processes took too much CPU meanwhile."""

    def samples(self) -> list[Sample]:
        return [
            *self.main.values(),
            *self.paced.values(),
            *self.workers.values(),
            *self.relays.values(),
        ]

    def errors(self) -> int:
        return sum(s.errors for s in self.samples()) + sum(o.errors for o in self.open_streams)

    def disturbed(self, limit: float) -> int:
        """Figures with a run kept although other processes took more than ``limit``."""
        return sum(s.foreign_load > limit for s in self.samples())
