"""Write tool calls the way the Hermes / Qwen2.5 / Qwen3 chat templates do (the inverse of the
Hermes parser): each call a JSON object ``{"name": ..., "arguments": {...}}`` on its own line
between ``<tool_call>`` and ``</tool_call>``, after a newline; reasoning (Qwen3) in
``<think>\\n…\\n</think>\\n\\n`` before the content. Used by the mock backend and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def render_call(name: str, arguments: Mapping[str, Any]) -> str:
    """One ``<tool_call>`` block."""
    call = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"<tool_call>\n{call}\n</tool_call>"


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
) -> str:
    """A whole raw output: reasoning, then content, then calls."""
    out = []
    if reasoning is not None:
        out.append(f"<think>\n{reasoning}\n</think>\n\n")
    out.append(content)
    for name, arguments in calls or []:
        out.append("\n")
        out.append(render_call(name, arguments))
    return "".join(out)
