"""The Kimi-K2 dialect: calls between ``<|tool_call_begin|>`` tokens, JSON arguments."""
