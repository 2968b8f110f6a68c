"""Parser benchmark: outputs of 10 KB, 100 KB and 1 MB fed in 4-character deltas, per dialect.

For each dialect (GLM, Hermes, Kimi-K2, DeepSeek, Qwen3-Coder, MiniMax), size and shape it
prints the time per delta and the growth factor per 10x of size (the time ratio between two
sizes, scaled to a 10x step: linear parsing gives ~10x). Figures are medians of several runs on
this machine.

    uv run python -m bench.parser [--repeat 5] [--delta 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from glm_proxy.dialects import ParserOptions, create_parser
from glm_proxy.dialects.deepseek import render as deepseek
from glm_proxy.dialects.glm import render as glm
from glm_proxy.dialects.hermes import render as hermes
from glm_proxy.dialects.kimi_k2 import render as kimi_k2
from glm_proxy.dialects.minimax import render as minimax
from glm_proxy.dialects.qwen3_coder import render as qwen3_coder

SIZES = (10_000, 100_000, 1_000_000)
RenderCall = Callable[[str, dict[str, Any]], str]
# How each dialect writes one call, as its model does.
DIALECTS: dict[str, RenderCall] = {
    "glm": lambda name, arguments: glm.render_call(name, arguments, "4.5"),
    "hermes": hermes.render_call,
    "kimi_k2": kimi_k2.render_call,
    "deepseek": deepseek.render_call,
    # the XML dialects: each call in its wrapper, as the chat templates write one call
    "qwen3_coder": lambda name, arguments: (
        f"<tool_call>\n{qwen3_coder.render_call(name, arguments)}\n</tool_call>"
    ),
    "minimax": lambda name, arguments: (
        f"<minimax:tool_call>\n{minimax.render_call(name, arguments)}\n</minimax:tool_call>"
    ),
}
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


def output_with_calls(size: int, calls: int, render_call: RenderCall) -> str:
    """``calls`` calls whose string arguments fill the output up to ``size`` characters."""
    sample = {"path": f"f{calls}.txt", "content": "", "n": calls}
    overhead = len(render_call("write_file", sample)) + 1
    each = max(1, (size - 23) // calls - overhead)
    body = "\n".join(
        render_call("write_file", {"path": f"f{i}.txt", "content": filler(each), "n": i})
        for i in range(calls)
    )
    return "Writing the files now.\n" + body


def text_only(size: int, render_call: RenderCall) -> str:
    return filler(size)


SHAPES: dict[str, Callable[[int, RenderCall], str]] = {
    "1 call (one big string)": lambda size, render: output_with_calls(size, 1, render),
    "10 calls": lambda size, render: output_with_calls(size, 10, render),
    "100 calls": lambda size, render: output_with_calls(size, 100, render),
    "plain text": text_only,
}


def time_parse(text: str, delta: int, tools: list[dict[str, Any]], dialect: str) -> float:
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
        f"Parser: each dialect's output fed in {delta}-character deltas; median of {repeat} runs",
        "",
        "| dialect | output | size | total (ms) | per delta (us) | growth per 10x |",
        "|---|---|---:|---:|---:|---:|",
    ]
    tools = tools_for(1)
    for dialect, render_call in DIALECTS.items():
        for shape, make in SHAPES.items():
            previous: tuple[int, float] | None = None
            for size in SIZES:
                text = make(size, render_call)
                seconds = statistics.median(
                    time_parse(text, delta, tools, dialect) for _ in range(repeat)
                )
                deltas = -(-len(text) // delta)
                growth = "-"
                if previous is not None:  # time ratio scaled to a 10x step of size
                    exponent = 1 / math.log10(len(text) / previous[0])
                    growth = f"{(seconds / previous[1]) ** exponent:.1f}x"
                lines.append(
                    f"| {dialect} | {shape} | {len(text) / 1000:,.0f} KB | {seconds * 1000:,.1f} "
                    f"| {seconds / deltas * 1e6:.2f} | {growth} |"
                )
                previous = (len(text), seconds)
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
