"""``glm-proxy mock-backend``: serve the built-in GLM backend until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (8090)")
    parser.add_argument(
        "--style",
        choices=("auto", "4.5", "4.7"),
        default="auto",
        help="GLM output style; auto picks 4.7 for glm-4.7 / glm-5 models, else 4.5 (auto)",
    )
    parser.add_argument(
        "--dialect",
        default="glm",
        help="the tool-call dialect the mock writes: glm, or any other dialect glm-proxy reads "
        "(see `glm-proxy parse --help`); per request, the header X-Mock-Dialect (glm)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=4,
        help="characters per streamed chunk (4)",
    )
    parser.add_argument(
        "--delay", type=_non_negative_float, default=0.0, help="seconds between chunks (0)"
    )
    parser.add_argument(
        "--split-reasoning",
        choices=("reasoning_content", "reasoning"),
        help="split the reasoning off into this message field, as LM Studio, Ollama or vLLM "
        "with a reasoning parser do (default: none, all in content like a raw GLM server)",
    )
    parser.add_argument(
        "--log-level",
        type=str.lower,  # any case, as serve's LOG_LEVEL
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="debug logs one line per request (info)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _run_loop(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(
            f"glm-proxy mock-backend: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1
    except ValueError as error:  # a setting the mock cannot use (an unknown dialect)
        print(f"glm-proxy mock-backend: {error}", file=sys.stderr)
        return 2
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (it is, except on Windows): faster for benchmarks."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(args: argparse.Namespace) -> None:
    from glm_proxy.mock.server import start_mock_backend

    backend = await start_mock_backend(
        args.host,
        args.port,
        style=args.style,
        chunk_size=args.chunk_size,
        delay=args.delay,
        reasoning_field=args.split_reasoning,
        dialect=args.dialect,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows has no signal handlers in asyncio: Ctrl-C raises KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    print(
        f"mock GLM backend (style {args.style}, dialect {args.dialect}) listening on {backend.url}"
        f" - point the proxy at it with OPENAI_BASE_URL={backend.url}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await backend.close()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
