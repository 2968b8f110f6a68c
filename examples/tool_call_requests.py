"""A tool call with ``requests``: the GLM XML comes back as OpenAI ``tool_calls``."""

import json

import requests
from _settings import BASE_URL, MODEL, WEATHER_TOOL

response = requests.post(
    f"{BASE_URL}/chat/completions",
    json={
        "model": MODEL,
        "messages": [{"role": "user", "content": "What's the weather like in Seoul?"}],
        "tools": [WEATHER_TOOL],
    },
    timeout=60,
)
response.raise_for_status()
choice = response.json()["choices"][0]
print("finish_reason:", choice["finish_reason"])
for call in choice["message"]["tool_calls"]:
    arguments = json.loads(call["function"]["arguments"])
    print(f"tool call: {call['function']['name']}({arguments})")
