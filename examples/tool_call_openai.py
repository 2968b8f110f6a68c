"""A tool call with the ``openai`` SDK."""

import json

from _settings import BASE_URL, MODEL, WEATHER_TOOL
from openai import OpenAI

client = OpenAI(base_url=BASE_URL, api_key="not-needed")
response = client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "What's the weather like in Seoul?"}],
    tools=[WEATHER_TOOL],  # type: ignore[list-item]
)
choice = response.choices[0]
print("finish_reason:", choice.finish_reason)
for call in choice.message.tool_calls or []:
    assert call.type == "function"
    print(f"tool call: {call.function.name}({json.loads(call.function.arguments)})")
