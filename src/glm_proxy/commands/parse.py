"""``glm-proxy parse``: print what the proxy makes of a raw model output.

It runs the same parser and translation as the server, so it answers "what did the proxy do
with this output?" without a server or a log at DEBUG level:

    glm-proxy parse raw.txt                      # the assistant message, as JSON
    glm-proxy parse --tools tools.json raw.txt   # typed with the request's tool schemas
    glm-proxy parse --stream 4 raw.txt           # the chunk deltas, fed 4 characters at a time
    glm-proxy parse --thinking raw.txt           # output starts inside the reasoning (GLM-4.7+)
    glm-proxy parse --dialect auto raw.txt       # another dialect, or detected from the output
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="raw model output (default: standard input)")
    parser.add_argument(
        "--tools",
        metavar="FILE",
        help="the request's tools array (or a whole request body with 'tools'), as JSON",
    )
    parser.add_argument(
        "--stream",
        type=int,
        metavar="N",
        help="feed the output in N-character pieces and print the streamed chunk deltas",
    )
    parser.add_argument(
        "--thinking",
        action="store_true",
        help="the output starts inside the reasoning (GLM-4.7 and later)",
    )
    parser.add_argument(
        "--reasoning-field", default="reasoning_content", help="name of the reasoning field"
    )
    parser.add_argument(
        "--dialect",
        default="glm",
        help="the tool-call dialect of the output, or auto: detected from its first tool-call "
        "opener, as for a model no setting names (glm)",
    )


def read_tools(path: str) -> list[Mapping[str, Any]]:
    with open(path, encoding="utf-8") as file:
        value = json.load(file)
    if isinstance(value, Mapping):
        value = value.get("tools", [])
    if not isinstance(value, list) or not all(isinstance(tool, Mapping) for tool in value):
        raise ValueError("expected a JSON array of tools, or an object with a 'tools' array")
    return value


def run(args: argparse.Namespace) -> int:
    from glm_proxy.conversion.message import parse_message
    from glm_proxy.conversion.plan import Plan
    from glm_proxy.dialects import AUTO, ParserOptions, known_dialects
    from glm_proxy.fronts.openai_chat.stream import StreamTranslator

    try:
        tools = read_tools(args.tools) if args.tools else []
        if args.file:
            with open(args.file, encoding="utf-8") as file:
                text = file.read()
        else:
            text = sys.stdin.read()
    except (OSError, ValueError) as error:
        print(f"glm-proxy parse: {error}", file=sys.stderr)
        return 2
    if args.dialect not in (*known_dialects(), AUTO):
        known = ", ".join((*known_dialects(), AUTO))
        print(
            f"glm-proxy parse: unknown dialect {args.dialect!r} (known: {known})", file=sys.stderr
        )
        return 2
    if args.stream is not None and args.stream < 1:
        print("glm-proxy parse: --stream needs a piece size of at least 1", file=sys.stderr)
        return 2
    options = ParserOptions(tools=tools, starts_in_reasoning=args.thinking)
    if args.stream is None:
        message = parse_message(
            text, options, dialect=args.dialect, reasoning_field=args.reasoning_field
        )
        print(json.dumps(message, ensure_ascii=False, indent=2))
        return 0
    translator = StreamTranslator(Plan(options, dialect=args.dialect), args.reasoning_field)
    envelope = {"id": "chatcmpl-parse", "object": "chat.completion.chunk", "created": 0}
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(text), args.stream):
        delta = {"content": text[start : start + args.stream]}
        if start == 0:
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        chunks += translator.feed({**envelope, "model": "glm", "choices": [choice]})
    last = {"index": 0, "delta": {}, "finish_reason": "stop"}
    chunks += translator.feed({**envelope, "model": "glm", "choices": [last]})
    chunks += translator.close()
    for chunk in chunks:
        for choice in chunk.get("choices", []):
            line: dict[str, Any] = {"delta": choice.get("delta", {})}
            if choice.get("finish_reason") is not None:
                line["finish_reason"] = choice["finish_reason"]
            print(json.dumps(line, ensure_ascii=False))
    return 0
