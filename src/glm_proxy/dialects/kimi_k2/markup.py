"""The special tokens of Kimi-K2 output."""

from __future__ import annotations

from typing import Final

SECTION_OPEN: Final = "<|tool_calls_section_begin|>"
SECTION_CLOSE: Final = "<|tool_calls_section_end|>"
# The singular spelling, which llama.cpp and vLLM accept too (llama.cpp pull request 17376).
SECTION_VARIANTS: Final = ("<|tool_call_section_begin|>", "<|tool_call_section_end|>")
CALL_OPEN: Final = "<|tool_call_begin|>"
ARGUMENTS: Final = "<|tool_call_argument_begin|>"
CALL_CLOSE: Final = "<|tool_call_end|>"
# Stop tokens that some backends leak as text; they are stripped.
STOP_TOKENS: Final = ("<|im_end|>", "<|im_user|>", "<|im_assistant|>")
