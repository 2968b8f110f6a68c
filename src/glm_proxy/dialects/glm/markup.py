"""The tags of GLM output."""

from __future__ import annotations

import re
from typing import Final

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

# Longest plausible tool name; a longer "name" is prose that happened to follow <tool_call>.
NAME_LIMIT: Final = 256
# Where whitespace that a tag may follow starts to be held back (str.splitlines' line breaks).
LINE_BREAK: Final = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
