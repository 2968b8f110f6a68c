"""The tags of GLM output, and the scan that finds them without rescanning."""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects.glm_values import dump_json

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"
CALL_OPEN: Final = "<tool_call>"
CALL_CLOSE: Final = "</tool_call>"
KEY_OPEN: Final = "<arg_key>"
KEY_CLOSE: Final = "</arg_key>"
VALUE_OPEN: Final = "<arg_value>"
VALUE_CLOSE: Final = "</arg_value>"
# Stop tokens that some backends leak as text; they are stripped.
STOP_TOKENS: Final = ("<|observation|>", "<|user|>", "<|endoftext|>", "<|assistant|>", "<|system|>")

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\u2028\u2029]')


def escape_piece(text: str) -> str:
    """JSON-escape a piece of a string value (without the quotes)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return dump_json(text)[1:-1]


def scan(data: str, pos: int, markers: tuple[str, ...]) -> tuple[int, str | None]:
    """Next tag of ``markers`` at or after ``pos``: ``(index, tag)``.

    ``(index, None)`` when no tag is complete: ``index`` is where a possible unfinished tag
    starts (to be held back), or ``len(data)``.
    """
    end = len(data)
    i = data.find("<", pos)
    while i != -1:
        for marker in markers:
            if data.startswith(marker, i):
                return i, marker
        rest = end - i
        if rest < 16:
            tail = data[i:]
            for marker in markers:
                if len(marker) > rest and marker.startswith(tail):
                    return i, None
        i = data.find("<", i + 1)
    return end, None
