"""The Anthropic Messages front (``POST /v1/messages``): Claude Code and the Anthropic SDKs."""
