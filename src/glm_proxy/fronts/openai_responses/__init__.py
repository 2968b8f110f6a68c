"""The OpenAI Responses front (``/v1/responses``): Codex, the OpenAI SDKs' ``responses``."""
