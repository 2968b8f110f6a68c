"""``glm-proxy demo``: see a GLM tool call converted, with nothing else running.

Starts the built-in GLM backend and the proxy on free ports of 127.0.0.1, runs the original
README's examples with the ``openai`` SDK and prints, for each, what the model wrote and what the
client received. Exits 0 when every example was converted; ``--serve`` then keeps serving.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="glm-4.5-air",
        help="model to ask for; glm-4.7 or glm-5 show the 4.7 output style (default: %(default)s)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the backend and the proxy running after the examples, for your own client",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the proxy's port with --serve (default: a free one)"
    )
    parser.add_argument("--no-examples", action="store_true", help="with --serve: skip them")


def run(args: argparse.Namespace) -> int:
    try:
        import openai  # noqa: F401  (the examples need it: say so before starting anything)
    except ImportError:
        print(
            "glm-proxy demo: the examples need the openai package: run it with `uv run`, "
            "which installs it, or `pip install openai`",
            file=sys.stderr,
        )
        return 2
    from glm_proxy.demo import DemoServers, run_examples

    try:
        servers = DemoServers(port=args.port)
        servers.__enter__()
    except OSError as error:
        print(f"glm-proxy demo: could not start the servers: {error}", file=sys.stderr)
        return 1
    try:
        print(f"Built-in GLM backend: {servers.backend_url} (answers like a raw GLM server)")
        print(f"glm-proxy:            {servers.proxy_url}\n")
        ok = True
        if not (args.serve and args.no_examples):
            examples = run_examples(servers.proxy_url, servers.backend_url, args.model)
            width = min(shutil.get_terminal_size((120, 24)).columns, 160)
            for number, example in enumerate(examples, 1):
                print(_render(number, example, width))
            converted = sum(example.converted for example in examples)
            ok = converted == len(examples)
            mark = "✓" if ok else "✗"
            print(f"{mark} {converted}/{len(examples)} examples converted")
        if args.serve:
            from glm_proxy.access_log import configure_logging

            # From here on, one line per request, as `glm-proxy serve` writes them.
            configure_logging("WARNING", sys.stdout)
            print(
                f"\nServing. Point any OpenAI client at base_url={servers.proxy_url} "
                f"(any api_key, model '{args.model}'). Ctrl-C stops. Requests:",
                flush=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print()
        return 0 if ok else 1
    finally:
        servers.close()


def _render(number: int, example: Any, width: int) -> str:
    """One example, with the raw model text and the client's view side by side."""
    column = max(30, (width - 3) // 2)
    left = _wrap(example.model_wrote, column)
    right = _wrap(json.dumps(example.client_received, ensure_ascii=False, indent=1), column)
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    mark = "✓" if example.converted else "✗"
    lines = [f"{mark} {number}. {example.title}: {example.code}"]
    lines.append(f"{'the model wrote':<{column}} | the client received")
    lines.append(f"{'-' * column}-+-{'-' * column}")
    lines += [f"{a:<{column}} | {b}" for a, b in zip(left, right, strict=True)]
    if example.problem:
        lines.append(f"  problem: {example.problem}")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        lines += textwrap.wrap(line, width, replace_whitespace=False, drop_whitespace=False) or [""]
    return lines
