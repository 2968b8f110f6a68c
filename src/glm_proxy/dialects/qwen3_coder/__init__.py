"""The Qwen3-Coder dialect (XML calls in ``<tool_call>``): ``parser`` reads, ``render`` writes."""
