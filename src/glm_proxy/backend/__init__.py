"""The backend side: every backend speaks OpenAI chat completions; what is read from it."""
