"""The OpenAI chat-completions front (OpenCode, Cline, LangChain, the SDKs)."""
