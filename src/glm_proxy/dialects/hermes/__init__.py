"""The Hermes dialect: JSON calls in ``<tool_call>`` (Qwen2.5, Qwen3, Hermes, fine-tunes)."""
