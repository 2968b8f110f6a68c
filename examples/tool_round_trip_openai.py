"""The two-step round trip: the model calls a tool, we run it, the model answers with the result."""

import json

from _settings import BASE_URL, MODEL, WEATHER_TOOL
from openai import OpenAI


def get_weather(location: str) -> dict[str, object]:
    return {"location": location, "temperature": 22, "condition": "sunny"}


client = OpenAI(base_url=BASE_URL, api_key="not-needed")
messages: list = [{"role": "user", "content": "What's the weather like in Seoul?"}]  # type: ignore[type-arg]
first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])  # type: ignore[list-item]
message = first.choices[0].message
messages.append(message.model_dump(exclude_none=True))
for call in message.tool_calls or []:
    assert call.type == "function"
    result = get_weather(**json.loads(call.function.arguments))
    print(f"ran {call.function.name} -> {result}")
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
final = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])  # type: ignore[list-item]
print("answer:", final.choices[0].message.content)
