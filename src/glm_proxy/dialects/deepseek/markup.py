# ruff: noqa: RUF001  (DeepSeek's tokens are written with U+FF5C, not ASCII bars)
"""The special tokens of DeepSeek V3 / R1 / V3.1 output.

The bars are U+FF5C (FULLWIDTH VERTICAL LINE) and the word separators U+2581 (LOWER ONE EIGHTH
BLOCK), as in the tokenizer: not ASCII.
"""

from __future__ import annotations

from typing import Final

SECTION_OPEN: Final = "<｜tool▁calls▁begin｜>"
# Openers that R1 distills write instead (llama.cpp's DeepSeek R1 parser accepts them too).
SECTION_OPEN_VARIANTS: Final = (
    "<｜tool_calls_begin｜>",
    "<｜tool calls begin｜>",
    "<｜tool\\_calls\\_begin｜>",
    "<｜tool▁calls｜>",
)
SECTION_CLOSE: Final = "<｜tool▁calls▁end｜>"
CALL_OPEN: Final = "<｜tool▁call▁begin｜>"
SEPARATOR: Final = "<｜tool▁sep｜>"
CALL_CLOSE: Final = "<｜tool▁call▁end｜>"
# V3 and R1 write the call's type, then the name on the next line, then the arguments fenced.
TYPED_HEAD: Final = "function"
# Stop tokens that some backends leak as text; they are stripped.
STOP_TOKENS: Final = ("<｜end▁of▁sentence｜>",)
