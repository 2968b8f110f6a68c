"""Write tool calls the way Qwen3-Coder's chat template does (the inverse of its parser).

Used by the built-in mock backend and by the tests. The template writes each call in its own
``<tool_call>``, each value between line breaks: a string verbatim, a mapping or a list as
JSON (Unicode kept), anything else as Python's ``str`` writes it (``True``, ``None``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render_call(name: str, arguments: Mapping[str, Any]) -> str:
    """One call's ``<function=NAME>`` block (``render_output`` wraps it in ``<tool_call>``)."""
    parts = [f"<function={name}>\n"]
    for key, value in arguments.items():
        parts.append(f"<parameter={key}>\n{render_value(value)}\n</parameter>\n")
    parts.append("</function>")
    return "".join(parts)


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
) -> str:
    """A whole raw output: reasoning in ``<think>`` (Qwen3's thinking models), content, calls."""
    out = []
    if reasoning is not None:
        out.append(f"<think>\n{reasoning}\n</think>\n\n")
    out.append(content)
    for name, arguments in calls or []:
        out.append(f"\n<tool_call>\n{render_call(name, arguments)}\n</tool_call>")
    return "".join(out)
