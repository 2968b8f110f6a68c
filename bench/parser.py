"""Parser benchmark: GLM outputs of 10 KB, 100 KB and 1 MB fed in 4-character deltas.

For each size and shape it prints the time per delta and the growth factor per 10x of size
(the time ratio between two sizes, scaled to a 10x step: linear parsing gives ~10x). Figures
are medians of several runs on this machine. A second table gives a row per dialect: 10 calls
written as that dialect's chat template writes them, 1 MB, and the growth from 100 KB.

    uv run python -m bench.parser [--repeat 5] [--delta 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.dialects.glm.render import render_call

SIZES = (10_000, 100_000, 1_000_000)
WORDS = 'the quick brown fox jumps over the lazy dog <b>bold</b> 1 < 2 "quoted" \n'


def filler(size: int) -> str:
    return (WORDS * (size // len(WORDS) + 1))[:size]


def tools_for(calls: int) -> list[dict[str, Any]]:
    properties = {
        "path": {"type": "string"},
        "content": {"type": "string"},
        "n": {"type": "integer"},
    }
    return [
        {
            "type": "function",
            "function": {"name": "write_file", "parameters": {"properties": properties}},
        }
    ]


def output_with_calls(size: int, calls: int) -> str:
    """``calls`` calls whose string arguments fill the output up to ``size`` characters."""
    sample = {"path": f"f{calls}.txt", "content": "", "n": calls}
    overhead = len(render_call("write_file", sample, "4.5")) + 1
    each = max(1, (size - 23) // calls - overhead)
    body = "\n".join(
        render_call("write_file", {"path": f"f{i}.txt", "content": filler(each), "n": i}, "4.5")
        for i in range(calls)
    )
    return "Writing the files now.\n" + body


def text_only(size: int) -> str:
    return filler(size)


SHAPES: dict[str, Callable[[int], str]] = {
    "1 call (one big string)": lambda size: output_with_calls(size, 1),
    "10 calls": lambda size: output_with_calls(size, 10),
    "100 calls": lambda size: output_with_calls(size, 100),
    "plain text": text_only,
}


DIALECTS = ("glm", "qwen3_coder", "minimax")
"""The dialects of the second table (each has ``glm_proxy.dialects.NAME.render``)."""


def dialect_output(dialect: str, size: int, calls: int = 10) -> str:
    """``calls`` calls to ``write_file`` whose contents fill the output up to ``size``."""
    render = importlib.import_module(f"glm_proxy.dialects.{dialect}.render").render_output
    each = max(1, size // calls - 60)
    return str(
        render(
            "Writing the files now.",
            [
                ("write_file", {"path": f"f{i}.txt", "content": filler(each), "n": i})
                for i in range(calls)
            ],
        )
    )


def time_parse(text: str, delta: int, tools: list[dict[str, Any]], dialect: str = "glm") -> float:
    pieces = [text[i : i + delta] for i in range(0, len(text), delta)]
    parser = create_parser(ParserOptions(tools=tools), dialect)
    feed = parser.feed
    start = time.perf_counter()
    for piece in pieces:
        feed(piece)
    parser.close()
    return time.perf_counter() - start


def run(repeat: int, delta: int) -> list[str]:
    lines = [
        f"Parser: GLM output fed in {delta}-character deltas; median of {repeat} runs",
        "",
        "| output | size | total (ms) | per delta (us) | growth per 10x |",
        "|---|---:|---:|---:|---:|",
    ]
    tools = tools_for(1)
    for shape, make in SHAPES.items():
        previous: tuple[int, float] | None = None
        for size in SIZES:
            text = make(size)
            seconds = statistics.median(time_parse(text, delta, tools) for _ in range(repeat))
            deltas = -(-len(text) // delta)
            growth = "-"
            if previous is not None:  # time ratio scaled to a 10x step of size
                exponent = 1 / math.log10(len(text) / previous[0])
                growth = f"{(seconds / previous[1]) ** exponent:.1f}x"
            lines.append(
                f"| {shape} | {len(text) / 1000:,.0f} KB | {seconds * 1000:,.1f} "
                f"| {seconds / deltas * 1e6:.2f} | {growth} |"
            )
            previous = (len(text), seconds)
    lines += [
        "",
        f"Per dialect: 10 calls as the dialect writes them, {delta}-character deltas",
        "",
        "| dialect | size | total (ms) | per delta (us) | growth per 10x |",
        "|---|---:|---:|---:|---:|",
    ]
    for dialect in DIALECTS:
        timed = []
        for size in SIZES[1:]:
            text = dialect_output(dialect, size)
            median = statistics.median(
                time_parse(text, delta, tools, dialect) for _ in range(repeat)
            )
            timed.append((len(text), median))
        (small, small_s), (large, large_s) = timed
        growth = (large_s / small_s) ** (1 / math.log10(large / small))
        lines.append(
            f"| {dialect} | {large / 1000:,.0f} KB | {large_s * 1000:,.1f} "
            f"| {large_s / -(-large // delta) * 1e6:.2f} | {growth:.1f}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--delta", type=int, default=4)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    lines = run(args.repeat, args.delta)
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
