"""A streamed tool call, accumulated by the ``openai`` SDK's ``stream()`` helper."""

import json

from _settings import BASE_URL, MODEL, WEATHER_TOOL
from openai import OpenAI

client = OpenAI(base_url=BASE_URL, api_key="not-needed")
with client.chat.completions.stream(
    model=MODEL,
    messages=[{"role": "user", "content": "What's the weather like in Seoul?"}],
    tools=[WEATHER_TOOL],  # type: ignore[list-item]
) as stream:
    for event in stream:
        if event.type == "tool_calls.function.arguments.done":
            print(f"tool call: {event.name}({json.loads(event.arguments)})")
    final = stream.get_final_completion()
print("finish_reason:", final.choices[0].finish_reason)
