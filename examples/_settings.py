"""Where the examples find the proxy: ``GLM_PROXY_URL`` and ``GLM_MODEL`` override the defaults."""

import os

BASE_URL = os.environ.get("GLM_PROXY_URL", "http://127.0.0.1:8082/v1")
MODEL = os.environ.get("GLM_MODEL", "glm-4.5-air")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "City name"}},
            "required": ["location"],
        },
    },
}
