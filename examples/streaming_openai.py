"""Streamed text with the ``openai`` SDK: the answer arrives piece by piece, without markup."""

from _settings import BASE_URL, MODEL
from openai import OpenAI

client = OpenAI(base_url=BASE_URL, api_key="not-needed")
stream = client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "Tell me about Seoul."}],
    stream=True,
)
answer = []
for chunk in stream:
    for choice in chunk.choices:
        answer.append(choice.delta.content or "")
print("answer:", "".join(answer))
