"""Plain chat with ``requests``: reasoning arrives split off from the answer."""

import requests
from _settings import BASE_URL, MODEL

response = requests.post(
    f"{BASE_URL}/chat/completions",
    json={"model": MODEL, "messages": [{"role": "user", "content": "Hello! Who are you?"}]},
    timeout=60,
)
response.raise_for_status()
message = response.json()["choices"][0]["message"]
print("reasoning:", message.get("reasoning_content"))
print("answer:", message["content"])
