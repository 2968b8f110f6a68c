"""Random request bodies against the real proxy (random bytes, random JSON, and near-valid chat
requests with random fields and types): each gets a correct answer or an OpenAI-shaped 4xx or
502, never a 500 and never a hang; a refused request reaches no backend; no text is lost.

Bounded: 200 examples, each answered within the client's 10 s timeout (a hang fails the test).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import RunningProxy
from support.scripted_backend import Script, ScriptedBackend
from support.wirecheck import accumulate, check_sse_bytes, check_stream

PLAIN = "Plain answer, no markup."
TIMEOUT = 10.0

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
type_names = st.sampled_from(
    ["string", "number", "integer", "boolean", "object", "array", "null", "int", "text"]
)
schemas = st.recursive(
    st.booleans() | st.fixed_dictionaries({}, optional={"type": type_names}),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "type": type_names | st.lists(type_names, max_size=3) | json_values,
            "properties": st.dictionaries(st.text(max_size=6), inner, max_size=3) | json_values,
            "required": st.lists(st.text(max_size=6), max_size=3) | json_values,
            "items": inner | st.lists(inner, max_size=2),
            "anyOf": st.lists(inner, max_size=3) | json_values,
            "enum": st.lists(scalars, max_size=3) | json_values,
            "description": st.text(max_size=12) | json_values,
        },
    ),
    max_leaves=10,
)
names = st.sampled_from(["get_weather", "run_command", "a.b-c", "x<y>", "call"]) | json_values
tools = (
    st.fixed_dictionaries(
        {"type": st.just("function"), "function": st.fixed_dictionaries({"name": names})},
        optional={"parameters_holder": st.just(True)},
    ).flatmap(
        lambda tool: st.builds(
            lambda parameters, description: _tool(tool, parameters, description),
            schemas | json_values,
            st.text(max_size=12) | json_values,
        )
    )
    | json_values
)
parts = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=12)}) | json_values
messages = (
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool"]) | json_values},
        optional={
            "content": st.text(max_size=20) | st.lists(parts, max_size=3) | json_values,
            "tool_calls": st.lists(json_values, max_size=2) | json_values,
        },
    )
    | json_values
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["glm-4.5-air", "glm-4.7", "qwen3-coder"]) | json_values,
        "messages": st.lists(messages, max_size=4) | json_values,
        "tools": st.lists(tools, max_size=3) | json_values,
        "stream": st.booleans() | json_values,
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | json_values,
        "parallel_tool_calls": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
        "seed": json_values,
    },
)
# Valid requests, and valid requests with one part replaced by a random JSON value.
models = st.sampled_from(["glm-4.5-air", "glm-4.7", "qwen3-coder"])
valid_schemas = st.fixed_dictionaries(
    {
        "type": st.just("object"),
        "properties": st.dictionaries(
            st.sampled_from(["city", "command", "n", "flag", "items"]),
            st.fixed_dictionaries({"type": type_names.filter(lambda t: t not in ("int", "text"))}),
            max_size=3,
        ),
    },
    optional={"required": st.lists(st.sampled_from(["city", "n"]), max_size=2)},
)
valid_tools = st.builds(
    lambda name, parameters: {
        "type": "function",
        "function": {"name": name, "description": "a tool", "parameters": parameters},
    },
    st.sampled_from(["get_weather", "run_command", "a.b-c", "call"]),
    valid_schemas,
)
valid_messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user"]), "content": st.text(max_size=20)}
)
valid_requests = st.fixed_dictionaries(
    {"model": models, "messages": st.lists(valid_messages, min_size=1, max_size=3)},
    optional={
        "tools": st.lists(valid_tools, min_size=1, max_size=3),
        "stream": st.booleans(),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "parallel_tool_calls": st.booleans(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    },
)
PLACES = (
    ("model",),
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("tools",),
    ("tools", 0),
    ("tools", 0, "function"),
    ("tools", 0, "function", "name"),
    ("tools", 0, "function", "parameters"),
    ("tools", 0, "function", "parameters", "type"),
    ("tools", 0, "function", "parameters", "properties"),
    ("tools", 0, "function", "parameters", "required"),
    ("stream",),
    ("tool_choice",),
    ("parallel_tool_calls",),
)


def _replaced(request: dict[str, Any], place: tuple[Any, ...], value: object) -> dict[str, Any]:
    """``request`` with the value at ``place`` replaced (when the place exists)."""
    target: Any = request
    for step in place[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return request
    if isinstance(target, dict) or (isinstance(target, list) and place[-1] < len(target)):
        target[place[-1]] = value
    return request


mutated_requests = st.builds(_replaced, valid_requests, st.sampled_from(PLACES), json_values)
bodies = (
    st.binary(max_size=200)
    | json_values.map(orjson.dumps)
    | requests.map(orjson.dumps)
    | valid_requests.map(orjson.dumps)
    | mutated_requests.map(orjson.dumps)
    | mutated_requests.map(orjson.dumps)
)


def _tool(tool: dict[str, Any], parameters: object, description: object) -> dict[str, Any]:
    function = dict(tool["function"])
    if tool.get("parameters_holder"):
        function["parameters"] = parameters
        function["description"] = description
    return {"type": "function", "function": function}


def _declared_call(data: object) -> tuple[str, list[str]] | None:
    """The first function tool with a usable name, and up to two of its property names."""
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        return None
    for tool in data["tools"]:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            properties = parameters.get("properties") if isinstance(parameters, dict) else None
            keys = (
                [k for k in properties if isinstance(k, str)][:2]
                if isinstance(properties, dict)
                else []
            )
            return function["name"], keys
    return None


def _output_for(data: object) -> str:
    """What the backend answers: a GLM call of a declared tool, or plain text."""
    declared = _declared_call(data)
    if declared is None:
        return PLAIN
    name, keys = declared
    arguments = "".join(f"<arg_key>{key}</arg_key><arg_value>7</arg_value>" for key in keys)
    return f"<tool_call>{name}{arguments}</tool_call>"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client


def check_error(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json", response.text[:200]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]


def check_answer(response: httpx.Response, data: dict[str, Any], output: str) -> None:
    """A 200 is a well-formed completion (or stream) that keeps the backend's text."""
    if data.get("stream") is True:
        chunks = check_sse_bytes(response.content)
        options = data.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        check_stream(chunks, include_usage=include_usage)
        [message] = accumulate(chunks)
    else:
        completion = response.json()
        assert completion["object"] == "chat.completion"
        [choice] = completion["choices"]
        message = choice["message"]
    text = (message.get("reasoning_content") or "") + (message.get("content") or "")
    if output == PLAIN:
        assert text == PLAIN
    else:  # converted to a call, or left as text: never dropped
        calls = message.get("tool_calls") or []
        assert calls or "<tool_call>" in text, message


@settings(
    max_examples=200,
    deadline=timedelta(seconds=TIMEOUT),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_random_request_bodies_get_an_answer_or_a_clean_error(
    proxy: RunningProxy, backend: ScriptedBackend, http: httpx.Client, body: bytes
) -> None:
    backend.reset()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    output = _output_for(data)
    backend.script(Script(content=output, chunk_size=5))
    response = http.post(
        proxy.base_url + "/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
    )
    status = response.status_code
    event(f"status {status}" + (" (tool call scripted)" if output != PLAIN else ""))
    assert response.headers["x-request-id"]
    if status == 200:
        assert isinstance(data, dict)
        check_answer(response, data, output)
    elif 400 <= status < 500:
        check_error(response)
        assert backend.requests == [], "a refused request reached the backend"
    else:
        assert status == 502, (status, response.text[:300])
        check_error(response)
