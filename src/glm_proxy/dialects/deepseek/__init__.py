# ruff: noqa: RUF002  (DeepSeek's tokens are written with U+FF5C, not ASCII bars)
"""The DeepSeek dialect (V3, R1, V3.1): calls between ``<｜tool▁call▁begin｜>`` tokens."""
